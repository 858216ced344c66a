"""The one synthesis worker: the only thread that runs the model.

It claims requests from the spool (urgent first), streams synthesis into the player while it
keeps generating, writes files, records the outcome durably and publishes events.  When idle it
prepares the latents of voices that are new or changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import sinks
from .audiocache import AudioCache, audio_key
from .engine import SAMPLE_RATE, Engine, SamplingParams
from .errors import VoiceDaemonError
from .events import Event, EventBus
from .guard import QualityGuard
from .request import SpeechRequest
from .spool import Claim, Outcome, Spool
from .voices import VoiceRegistry

log = logging.getLogger(__name__)

_IDLE_POLL_SECONDS = 0.5


@dataclass
class WorkerConfig:
    """What the worker needs from the configuration."""

    output_dir: Path
    sampling: SamplingParams
    fallback_to_file: bool = True
    guard: QualityGuard | None = None  # scores takes and regenerates bad ones (quality.enabled)
    audio_cache: AudioCache | None = None


class Worker:
    """Owns the engine; processes one request at a time on its own thread."""

    def __init__(
        self, spool: Spool, engine: Engine, registry: VoiceRegistry, player: sinks.Player, events: EventBus,
        config: WorkerConfig,
    ) -> None:  # fmt: skip
        self.spool = spool
        self.engine = engine
        self.registry = registry
        self.player = player
        self.events = events
        self.config = config
        self.heartbeat = time.monotonic()
        self.current: SpeechRequest | None = None
        self._stopping = threading.Event()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthesis", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop after putting any request in progress back into the queue."""
        self._stopping.set()
        self._cancel.set()
        self.player.stop_current()
        self._thread.join(timeout)

    def stop_current(self) -> bool:
        """Cut the current announcement short (synthesis and playback); True if there was one."""
        if self.current is None:
            return False
        self._cancel.set()
        self.player.stop_current()
        return True

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.heartbeat = time.monotonic()
            claim = self.spool.claim(timeout=_IDLE_POLL_SECONDS)
            if claim is not None:
                self._handle(claim)
            else:
                self._prepare_voice()

    def _prepare_voice(self) -> None:
        try:
            self.registry.prepare_next()
        except VoiceDaemonError as exc:
            log.warning("could not prepare a voice: %s", exc)

    def _handle(self, claim: Claim) -> None:
        request = claim.request
        self.current = request
        self._cancel.clear()
        self.events.publish(Event("started", request, {"queue_seconds": round(time.time() - request.created, 3)}))
        try:
            outcome = Outcome("done", self._speak(request), request)
        except VoiceDaemonError as exc:
            outcome = Outcome("failed", {"error": str(exc)}, request)
        except Exception as exc:  # a bug must fail one request, not the daemon
            log.exception("request %s crashed", request.id)
            outcome = Outcome("failed", {"error": f"internal error: {type(exc).__name__}: {exc}"}, request)
        finally:
            self.current = None
        if self._stopping.is_set() and self._cancel.is_set():
            log.info("shutting down: request %s goes back into the queue", request.id)
            self.spool.release(claim)
            return
        self.spool.finish(claim, outcome)
        self.events.publish(Event(outcome.state, request, outcome.data))  # type: ignore[arg-type]

    def _speak(self, request: SpeechRequest) -> dict[str, Any]:
        """Synthesise ``request`` into its outputs; returns the 'done' event data."""
        started = time.monotonic()
        data: dict[str, Any] = {}
        stream = self._render(request, data)
        chunks: list[np.ndarray] = []
        save = request.output in ("file", "both")
        if request.output in ("play", "both"):
            result = self._play(stream, chunks, request.volume)
            if result.first_audio_at is not None:
                data["first_audio_seconds"] = round(result.first_audio_at - started, 3)
            if result.stopped:
                data["stopped"] = True
            if result.error is not None:
                if not self.config.fallback_to_file:
                    raise result.error
                data["playback_error"] = f"{result.error}; saved to a file instead"
                save = True
        else:
            chunks.extend(stream)
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        data.update(audio_seconds=round(len(audio) / SAMPLE_RATE, 3), synthesis_seconds=round(time.monotonic() - started, 3))
        if save and not self._cancel.is_set():
            data["file"] = sinks.save(self.config.output_dir, request.file_stem, audio, SAMPLE_RATE).name
        return data

    def _render(self, request: SpeechRequest, data: dict[str, Any]) -> Iterator[np.ndarray]:
        """The audio of ``request`` as 24 kHz chunks; may add facts about the take to ``data``."""
        voice = self.registry.get(request.voice or "")
        latents = self.registry.latents(voice)
        params = self.config.sampling.model_copy(update=voice.sampling)
        language = request.language or "en"

        def take(seed: int | None) -> Iterator[np.ndarray]:
            return self._beating(self.engine.stream(request.text, language, latents, params, seed, self._cancel))

        def synthesise() -> Iterator[np.ndarray]:
            if self.config.guard is None:
                return take(None)
            return self.config.guard.render(take, voice, request, params.speed, data, self._cancel)

        cache = self.config.audio_cache
        if cache is None or voice.key is None:
            return synthesise()
        guard = self.config.guard
        model_id = f"{self.engine.identity}-guard{guard.settings.min_score}" if guard else self.engine.identity
        key = audio_key(request.text, language, voice.key, model_id, params)
        return cache.stream(key, synthesise, lambda: not self._cancel.is_set(), data)

    def _beating(self, stream: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass chunks through, recording that synthesis is making progress (for the watchdog)."""
        for chunk in stream:
            self.heartbeat = time.monotonic()
            yield chunk

    def _play(self, stream: Any, chunks: list[np.ndarray], volume: float | None) -> sinks.PlaybackResult:
        """Feed the player chunk by chunk while synthesis goes on; wait until it has been heard."""
        announcement = self.player.announce()
        try:
            for chunk in stream:
                chunks.append(chunk)
                announcement.feed(chunk if volume is None else chunk * np.float32(volume))
        finally:
            announcement.finish()
        return announcement.wait()
