"""The Python API: ``VoiceCloning().clone_voice(text, reference_audio, language, output_path)``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_daemon.audio import joined, write_wav_atomic
from voice_daemon.core.request import Limits, make_request
from voice_daemon.settings import Settings, load_settings
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.loader import load_engine
from voice_daemon.synthesis.spoken import speakable
from voice_daemon.synthesis.types import SAMPLE_RATE, Latents
from voice_daemon.voices.latents import LatentsCache, latents_key
from voice_daemon.voices.names import VOICE_NAME
from voice_daemon.voices.registry import VoiceRegistry, load_reference

PathLike = str | os.PathLike[str]


@dataclass
class Speech:
    """Synthesised audio: mono float32 samples at ``sample_rate`` (and where it was saved)."""

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    path: Path | None = None

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


class VoiceCloning:
    """Zero-shot voice cloning with XTTS v2.  The model loads on first use and stays loaded.

    Not thread-safe: use one instance per thread (the model may not run concurrently).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model_path: PathLike | None = None,
        device: str | None = None,
    ) -> None:
        settings = settings or load_settings()
        model = settings.model.model_copy(
            update={k: v for k, v in {"path": model_path and Path(model_path), "device": device}.items() if v}
        )
        self.settings = settings.model_copy(update={"model": model})
        self.cache = LatentsCache(self.settings.paths.latents_cache)
        self._engine: Engine | None = None
        self._registry: VoiceRegistry | None = None

    @property
    def engine(self) -> Engine:
        """The loaded model (downloaded first if it is missing and the license was accepted)."""
        if self._engine is None:
            model = self.settings.model
            self._engine = load_engine(model.path, self.settings.paths.cache, **model.options())
        return self._engine

    def latents_for(self, reference_audio: PathLike | Sequence[PathLike]) -> Latents:
        """Validate reference clip(s) and return their (cached) conditioning latents."""
        paths = (
            [Path(reference_audio)]
            if isinstance(reference_audio, str | os.PathLike)
            else [Path(p) for p in reference_audio]
        )
        files, clips, _ = load_reference(paths)
        engine = self.engine
        key = latents_key(files, engine.fingerprint, engine.conditioning_settings)
        return self.cache.get(key, lambda: engine.conditioning(clips))

    def voice_latents(self, voice: str) -> Latents:
        """Latents of a voice name in ``paths.voices``, or of a reference file when ``voice`` is a path."""
        if not VOICE_NAME.match(voice) or Path(voice).is_file():
            return self.latents_for(Path(voice))
        if self._registry is None:
            self._registry = VoiceRegistry(self.settings.paths.voices, self.cache, self.engine)
            self._registry.scan()
        return self._registry.latents(self._registry.get(voice))

    def stream(
        self, text: str, latents: Latents, language: str, seed: int | None = None
    ) -> Iterator[np.ndarray]:
        """Validate ``text`` and ``language``, then yield 24 kHz audio chunks as they are made."""
        request = make_request({"text": text, "language": language}, Limits.configured(self.settings))
        assert request.language is not None
        text = self.spoken(request.text, request.language)
        return self.engine.stream(text, request.language, latents, self.settings.sampling, seed=seed)

    def spoken(self, text: str, language: str) -> str:
        """What the model is given for ``text``: its spoken form unless ``synthesis.normalize`` is off."""
        return speakable(text, language, self.settings.synthesis.normalize)

    def clone_voice(
        self,
        text: str,
        reference_audio: PathLike | Sequence[PathLike],
        language: str = "en",
        output_path: PathLike | None = None,
        *,
        seed: int | None = None,
    ) -> Speech:
        """Speak ``text`` in the voice of ``reference_audio``; write a WAV file if ``output_path``.

        Raises ReferenceRejected (with the validation reasons) for unusable reference audio and
        RequestError for empty or over-long text or an unsupported language.
        """
        latents = self.latents_for(reference_audio)
        samples = joined(list(self.stream(text, latents, language, seed)))
        path = write_wav_atomic(Path(output_path), samples, SAMPLE_RATE) if output_path is not None else None
        return Speech(samples, SAMPLE_RATE, path)
