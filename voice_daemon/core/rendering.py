"""The audio of one request: from the audio cache, else made by the engine (through the quality
guard when it is on), text piece by text piece.

The chain (audio cache -> quality guard -> engine) is built once, at start-up.  The engine's audio
comes as chunks with an empty chunk between two text pieces: the place where the worker may let
other work have a turn.  Each take draws from its own random state (``Engine.randomness``), so
a seeded take sounds the same whatever ran between its pieces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from voice_daemon.core.request import SpeechRequest
from voice_daemon.quality.guard import QualityGuard
from voice_daemon.synthesis.audiocache import AudioCache, audio_key
from voice_daemon.synthesis.engine import Engine, Randomness
from voice_daemon.synthesis.spoken import speakable
from voice_daemon.synthesis.text import split_text
from voice_daemon.synthesis.types import Latents, Rendering, SamplingParams
from voice_daemon.voices.registry import Voice, VoiceRegistry


def piece_end() -> np.ndarray:
    """The empty chunk that ends a text piece's audio."""
    return np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class Render:
    """A request's audio on its way, and what a player needs to pace it."""

    rendering: Rendering
    pieces: list[str]  # the text pieces, in order
    language: str
    voice: str
    live: bool  # made while it plays (not a cache hit, not a guarded whole take)


@dataclass(frozen=True)
class Script:
    """What a request says, as the model is fed it: the spoken form of its text in pieces, and who
    says it in which language (the lengths a player paces by and a start delay is predicted from)."""

    text: str
    pieces: list[str]
    language: str
    voice: Voice


class Renderer:
    """The audio cache -> quality guard -> engine chain; used by the synthesis worker only."""

    def __init__(
        self,
        engine: Engine,
        registry: VoiceRegistry,
        sampling: SamplingParams,
        guard: QualityGuard | None = None,
        cache: AudioCache | None = None,
        normalize: bool = True,
    ) -> None:
        self.engine, self.registry, self.sampling = engine, registry, sampling
        self.guard, self.cache, self.normalize = guard, cache, normalize
        self._model_id = engine.identity + (_guard_identity(guard) if guard else "")

    def render(
        self,
        request: SpeechRequest,
        cancel: threading.Event,
        progress: Callable[[], None],
        between: Callable[[], None],
    ) -> Render:
        """The audio of ``request`` as 24 kHz chunks; ``progress()`` runs per chunk made.

        The model is fed the spoken form of the text (``synthesis.normalize``), which is also the
        audio cache's key, so a change of the front end never replays old audio.

        The quality guard takes whole takes before the first chunk comes out, so there ``between()``
        runs between two pieces instead: the worker's turn for other work.
        """
        script = self.script(request)
        voice, language, text, pieces = script.voice, script.language, script.text, script.pieces
        latents = self.registry.latents(voice)
        params = self._params(voice.sampling, request.speed)

        def take(seed: int | None) -> Iterator[np.ndarray]:
            chunks = self._take(
                pieces, language, latents, params, self.engine.randomness(seed), cancel, progress
            )
            return chunks if self.guard is None else _calling_between(chunks, between)

        def synthesise() -> Rendering:
            if self.guard is None:
                return Rendering(take(None))
            return self.guard.render(take, voice, text, language, params.speed, request.id, cancel)

        if self.cache is None or voice.key is None:
            rendering = synthesise()
        else:
            key = audio_key(text, language, voice.key, self._model_id, params)
            rendering = self.cache.stream(key, synthesise, lambda: not cancel.is_set())
        live = self.guard is None and rendering.facts.get("audio_cache") != "hit"
        return Render(rendering, pieces, language, voice.name, live)

    def script(self, request: SpeechRequest) -> Script:
        """The spoken form of ``request``'s text, in the pieces it is made in; UnknownVoice as render."""
        voice = self.registry.get(request.voice or "")
        language = request.language or "en"
        text = speakable(request.text, language, self.normalize)
        return Script(text, split_text(text, language), language, voice)

    def _params(self, tuned: dict[str, Any], speed: float | None) -> SamplingParams:
        params = self.sampling.model_copy(update=tuned)
        if speed is not None:  # a factor on the voice's rate, kept within what XTTS accepts
            params = params.model_copy(update={"speed": min(4.0, max(0.25, params.speed * speed))})
        return params

    def _take(
        self,
        pieces: list[str],
        language: str,
        latents: Latents,
        params: SamplingParams,
        randomness: Randomness,
        cancel: threading.Event,
        progress: Callable[[], None],
    ) -> Iterator[np.ndarray]:
        for index, piece in enumerate(pieces):
            if index:
                yield piece_end()
            for chunk in self.engine.piece(piece, language, latents, params, randomness):
                if cancel.is_set():
                    return
                progress()
                yield chunk


def _guard_identity(guard: QualityGuard) -> str:
    """What of the guard's settings decides which take is kept: part of the audio cache's key."""
    settings = guard.settings
    hearing = f"-asr{settings.max_word_error}" if settings.asr else ""
    return f"-guard{settings.min_score}{hearing}"


def _calling_between(chunks: Iterator[np.ndarray], between: Callable[[], None]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        if not len(chunk):
            between()
        yield chunk
