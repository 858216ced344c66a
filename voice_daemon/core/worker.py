"""The one synthesis worker: the only thread that runs the model.

It serves interactive streams first, then claims durable requests from the spool (urgent first);
between two text pieces of an announcement it serves any interactive stream that came in.  Audio
goes to its sinks while synthesis goes on (played, saved, streamed back); the outcome of a
durable request is recorded in the spool, and every step is published as an event.  When idle
it prepares the latents of voices that are new or changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.core.events import Event, EventBus
from voice_daemon.core.lane import Lane, Stream
from voice_daemon.core.request import SpeechRequest
from voice_daemon.core.spool import Claim, Outcome, Spool
from voice_daemon.errors import VoiceDaemonError
from voice_daemon.quality.guard import QualityGuard
from voice_daemon.sinks.files import output_path
from voice_daemon.sinks.outputs import Delivery, deliver
from voice_daemon.sinks.player import Player
from voice_daemon.synthesis.audiocache import AudioCache, audio_key
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.spoken import speakable
from voice_daemon.synthesis.types import SAMPLE_RATE, Rendering, SamplingParams
from voice_daemon.voices.registry import VoiceRegistry

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
    normalize: bool = True  # synthesis.normalize: the model is fed the spoken form of the text


class Worker:
    """Owns the engine; processes one request at a time on its own thread."""

    def __init__(
        self, spool: Spool, lane: Lane, engine: Engine, registry: VoiceRegistry, player: Player,
        events: EventBus, config: WorkerConfig,
    ) -> None:  # fmt: skip
        self.spool, self.lane, self.engine, self.registry = spool, lane, engine, registry
        self.player, self.events, self.config = player, events, config
        self.heartbeat = time.monotonic()
        self.current: SpeechRequest | None = None  # being synthesised
        self.announcing: SpeechRequest | None = None  # the durable request in progress
        self._streaming: Stream | None = None
        self._stopping = threading.Event()
        self._cancel = threading.Event()  # of the durable request in progress
        self._thread = threading.Thread(target=self._run, name="synthesis", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop after putting any durable request in progress back into the queue."""
        self._stopping.set()
        self._cancel.set()
        if (stream := self._streaming) is not None:
            stream.cancel()
        self.player.stop_current()
        self.spool.wake()
        self._thread.join(timeout)
        while (waiting := self.lane.take()) is not None:
            waiting.fail(VoiceDaemonError("the daemon is stopping"))

    def stop_current(self) -> bool:
        """Cut the current announcement short (synthesis and playback); True if there was one."""
        if self.announcing is None:
            return False
        self._cancel.set()
        self.player.stop_current()
        return True

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.heartbeat = time.monotonic()
            if self._serve_streams():
                continue
            claim = self.spool.claim(_IDLE_POLL_SECONDS, lambda: self.lane.waiting() or self._stopping.is_set())
            if claim is not None:
                self._handle(claim)
            elif not self.lane.waiting():
                self._prepare_voice()

    def _prepare_voice(self) -> None:
        try:
            self.registry.prepare_next()
        except VoiceDaemonError as exc:
            log.warning("could not prepare a voice: %s", exc)

    # -- durable requests ---------------------------------------------------------------------

    def _handle(self, claim: Claim) -> None:
        request = claim.request
        self.announcing = self.current = request
        self._cancel.clear()
        self._publish("started", request, {"queue_seconds": round(time.time() - request.created, 3)})
        try:
            outcome = Outcome("done", self._speak(request), request)
        except VoiceDaemonError as exc:
            outcome = Outcome("failed", {"error": str(exc)}, request)
        except Exception as exc:  # a bug must fail one request, not the daemon
            log.exception("request %s crashed", request.id)
            outcome = Outcome("failed", {"error": f"internal error: {type(exc).__name__}: {exc}"}, request)
        finally:
            self.announcing = self.current = None
        if self._stopping.is_set() and self._cancel.is_set():
            log.info("shutting down: request %s goes back into the queue", request.id)
            self.spool.release(claim)
            return
        self.spool.finish(claim, outcome)
        self._publish(outcome.state, request, outcome.data)

    def _speak(self, request: SpeechRequest) -> dict[str, Any]:
        """Synthesise ``request`` into its outputs; returns the 'done' event data."""
        started = time.monotonic()
        rendering = self._render(request, self._cancel, self._serve_streams)
        target = output_path(self.config.output_dir, request.file_stem)
        delivery = deliver(
            rendering.chunks, player=self.player if request.output in ("play", "both") else None,
            volume=request.volume, save_to=target if request.output in ("file", "both") else None,
            fallback=target if self.config.fallback_to_file else None, keep=lambda: not self._cancel.is_set(),
        )  # fmt: skip
        return {**rendering.facts, **_delivery_data(delivery, started), "synthesis_seconds": _since(started)}

    # -- interactive streams ------------------------------------------------------------------

    def _serve_streams(self) -> bool:
        """Serve every stream waiting in the lane; True if there was one."""
        served = False
        while not self._stopping.is_set() and (stream := self.lane.take()) is not None:
            self._stream(stream)
            served = True
        return served

    def _stream(self, stream: Stream) -> None:
        request, started, interrupted = stream.request, time.monotonic(), self.current
        if stream.cancelled.is_set():
            self._fail_stream(stream, VoiceDaemonError("cancelled: the caller went away before it started"))
            return
        self._streaming, self.current = stream, request
        self._publish("started", request, {"queue_seconds": round(time.time() - request.created, 3)})
        try:
            data = self._stream_into(stream, started)
        except VoiceDaemonError as exc:
            self._fail_stream(stream, exc)
        except Exception as exc:
            log.exception("request %s crashed", request.id)
            self._fail_stream(stream, VoiceDaemonError(f"internal error: {type(exc).__name__}: {exc}"))
        else:  # the event first: a caller that has seen the end can rely on it
            self._publish("done", request, data)
            stream.finish(data)
        finally:
            self._streaming, self.current = None, interrupted

    def _fail_stream(self, stream: Stream, error: VoiceDaemonError) -> None:
        self._publish("failed", stream.request, {"error": str(error)})
        stream.fail(error)

    def _stream_into(self, stream: Stream, started: float) -> dict[str, Any]:
        rendering = self._render(stream.request, stream.cancelled, None)
        first, samples = None, 0
        for chunk in rendering.chunks:
            if first is None:
                first = _since(started)
            samples += len(chunk)
            stream.feed(chunk)
        if stream.cancelled.is_set():
            why = "the daemon is stopping" if self._stopping.is_set() else "the caller went away"
            raise VoiceDaemonError(f"cancelled: {why}")
        return {**rendering.facts, "audio_seconds": round(samples / SAMPLE_RATE, 3), "first_audio_seconds": first,
                "synthesis_seconds": _since(started)}  # fmt: skip

    # -- shared -------------------------------------------------------------------------------

    def _render(
        self, request: SpeechRequest, cancel: threading.Event, between_pieces: Callable[[], Any] | None
    ) -> Rendering:
        """The audio of ``request`` as 24 kHz chunks, from the audio cache or synthesised (and guarded)."""
        voice = self.registry.get(request.voice or "")
        latents = self.registry.latents(voice)
        params = self.config.sampling.model_copy(update=voice.sampling)
        if request.speed is not None:  # a factor on the voice's rate, kept within what XTTS accepts
            params = params.model_copy(update={"speed": min(4.0, max(0.25, params.speed * request.speed))})
        language = request.language or "en"
        text = speakable(request.text, language, self.config.normalize)  # what the model says; the cache key

        def take(seed: int | None) -> Iterator[np.ndarray]:
            return self._beating(self.engine.stream(text, language, latents, params, seed, cancel,
                                                    between_pieces))  # fmt: skip

        def synthesise() -> Rendering:
            if self.config.guard is None:
                return Rendering(take(None))
            return self.config.guard.render(take, voice, text, language, params.speed, request.id, cancel)

        cache = self.config.audio_cache
        if cache is None or voice.key is None:
            return synthesise()
        guard = self.config.guard
        model_id = f"{self.engine.identity}-guard{guard.settings.min_score}" if guard else self.engine.identity
        key = audio_key(text, language, voice.key, model_id, params)
        return cache.stream(key, synthesise, lambda: not cancel.is_set())

    def _beating(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass chunks through, recording that synthesis is making progress (for the watchdog)."""
        for chunk in chunks:
            self.heartbeat = time.monotonic()
            yield chunk

    def _publish(self, state: str, request: SpeechRequest, data: dict[str, Any]) -> None:
        self.events.publish(Event.of(state, request, data))  # type: ignore[arg-type]


def _delivery_data(delivery: Delivery, started: float) -> dict[str, Any]:
    data: dict[str, Any] = {"audio_seconds": round(delivery.seconds, 3)}
    if delivery.first_audio_at is not None:
        data["first_audio_seconds"] = round(delivery.first_audio_at - started, 3)
    if delivery.stopped:
        data["stopped"] = True
    if delivery.playback_error is not None:
        data["playback_error"] = f"{delivery.playback_error}; saved to a file instead"
    if delivery.file is not None:
        data["file"] = delivery.file.name
    return data


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
