"""The quality guard: scores each take and makes a new one (new seed) while it scores too low.

A take must be complete before it can be scored, so with the guard on the first audio comes
after the whole take is made and scored: the price of never playing a bad take.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .audio import Clip, decode
from .engine import SAMPLE_RATE
from .quality import QualityReport, score_take
from .request import SpeechRequest
from .settings import QualitySettings
from .similarity import embed, embed_voice
from .voices import Voice

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
        self, take: Take, voice: Voice, request: SpeechRequest, speed: float, data: dict[str, Any],
        cancel: threading.Event | None = None,
    ) -> Iterator[np.ndarray]:  # fmt: skip
        """Make takes until one scores ``min_score``; return the best; put its score into ``data``."""
        reference = self._voice_embedding(voice)
        language = request.language or "en"
        best: tuple[QualityReport, np.ndarray] | None = None
        scores = []
        seed: int | None = None
        for attempt in range(1, self.settings.max_retries + 2):
            chunks = list(take(seed))
            if cancel is not None and cancel.is_set():
                break
            audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
            report = score_take(Clip(audio, SAMPLE_RATE), reference, request.text, language, speed)
            scores.append(report.score)
            if best is None or report.score > best[0].score:
                best = (report, audio)
            if report.score >= self.settings.min_score:
                break
            seed = random.randrange(2**31)
            if attempt <= self.settings.max_retries:
                log.info("request %s: take %d scored %s, below %.2f: new take with seed %d", request.id, attempt,
                         report.summary(), self.settings.min_score, seed)  # fmt: skip
        if best is None:
            return iter(())
        report, audio = best
        data["quality"] = {
            "score": report.score,
            "takes": len(scores),
            "scores": scores,
            "reasons": report.reasons,
        }
        log.info("request %s: quality %s, best of %d take(s)", request.id, report.summary(), len(scores))
        return iter([audio])

    def _voice_embedding(self, voice: Voice) -> np.ndarray:
        """The whole voice (every usable clip, not only a tuned subset), computed once per set of clips."""
        clips = voice.usable or voice.files
        if clips not in self._voices:
            self._voices[clips] = embed_voice([decode(path) for path in clips])
        return self._voices[clips]
