"""The quality guard: scores each take and makes a new one (new seed) while it scores too low.

A take must be complete before it can be scored, so with the guard on the first audio comes
after the whole take is made and scored: the price of never playing a bad take.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator

import numpy as np

from voice_daemon.audio import Clip, joined
from voice_daemon.quality.score import QualityReport, score_take
from voice_daemon.quality.similarity import embed, embed_voice
from voice_daemon.settings import QualitySettings
from voice_daemon.synthesis.types import SAMPLE_RATE, Rendering
from voice_daemon.voices.registry import Voice
from voice_daemon.voices.validation import read_reference

log = logging.getLogger(__name__)

Take = Callable[[int | None], Iterator[np.ndarray]]  # seed -> audio chunks


class QualityGuard:
    """Keeps the best of up to ``1 + max_retries`` takes; used by the synthesis worker only."""

    def __init__(self, settings: QualitySettings) -> None:
        self.settings = settings
        self._voices: dict[tuple, np.ndarray] = {}

    def warm_up(self) -> None:
        """Load the speaker encoder now rather than on the first request."""
        embed(Clip(np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32), SAMPLE_RATE))

    def render(
        self, take: Take, voice: Voice, text: str, language: str, speed: float, label: str = "",
        cancel: threading.Event | None = None,
    ) -> Rendering:  # fmt: skip
        """Make takes of ``text`` until one scores ``min_score``; the best, with its score as a fact.

        ``label`` (the request id) names the takes in the log.
        """
        reference = self._voice_embedding(voice)
        best: tuple[QualityReport, np.ndarray] | None = None
        scores = []
        seed: int | None = None
        for attempt in range(1, self.settings.max_retries + 2):
            chunks = list(take(seed))
            if cancel is not None and cancel.is_set():
                break
            audio = joined(chunks)
            report = score_take(Clip(audio, SAMPLE_RATE), reference, text, language, speed)
            scores.append(report.score)
            if best is None or report.score > best[0].score:
                best = (report, audio)
            if report.score >= self.settings.min_score:
                break
            seed = random.randrange(2**31)
            if attempt <= self.settings.max_retries:
                log.info("request %s: take %d scored %s, below %.2f: new take with seed %d", label, attempt,
                         report.summary(), self.settings.min_score, seed)  # fmt: skip
        if best is None:
            return Rendering(iter(()))
        report, audio = best
        log.info("request %s: quality %s, best of %d take(s)", label, report.summary(), len(scores))
        quality = {"score": report.score, "takes": len(scores), "scores": scores, "reasons": report.reasons}
        return Rendering(iter([audio]), {"quality": quality})

    def _voice_embedding(self, voice: Voice) -> np.ndarray:
        """The whole voice (every usable clip, not only a tuned subset), computed once per set of clips."""
        clips = voice.usable or voice.files
        if clips not in self._voices:
            self._voices[clips] = embed_voice([read_reference(path) for path in clips])
        return self._voices[clips]
