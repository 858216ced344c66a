"""The quality guard: scores each take and makes a new one (new seed) while it scores too low.

A take must be complete before it can be scored, so with the guard on the first audio comes
after the whole take is made and scored: the price of never playing a bad take.  With
``quality.asr`` the guard also hears each take (speech recognition, ``quality/asr.py``) and
fails one whose words are not its text; recognition runs on a thread of its own while the
synthesis thread measures the take and compares the voice.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from voice_daemon.audio import Clip, joined
from voice_daemon.quality.asr import Hearing, Recognizer
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
        self._voices: dict[tuple[Path, ...], np.ndarray] = {}
        self.recognizer = Recognizer(settings.asr_model, settings.asr_download) if settings.asr else None

    def warm_up(self) -> None:
        """Load the speaker encoder (and the recogniser) now rather than on the first request."""
        embed(Clip(np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32), SAMPLE_RATE))
        if self.recognizer is not None:
            self.recognizer.load()

    def render(
        self,
        take: Take,
        voice: Voice,
        text: str,
        language: str,
        speed: float,
        label: str = "",
        cancel: threading.Event | None = None,
    ) -> Rendering:
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
            report = self._score(Clip(audio, SAMPLE_RATE), reference, text, language, speed)
            scores.append(report.score)
            if best is None or report.score > best[0].score:
                best = (report, audio)
            if report.score >= self.settings.min_score:
                break
            seed = random.randrange(2**31)
            if attempt <= self.settings.max_retries:
                log.info(
                    "request %s: take %d scored %s, below %.2f: new take with seed %d",
                    label,
                    attempt,
                    report.summary(),
                    self.settings.min_score,
                    seed,
                )
        if best is None:
            return Rendering(iter(()))
        report, audio = best
        log.info("request %s: quality %s, best of %d take(s)", label, report.summary(), len(scores))
        quality = {"score": report.score, "takes": len(scores), "scores": scores, "reasons": report.reasons}
        if report.hearing is not None:
            heard = report.hearing
            quality.update(transcript=heard.transcript, word_error=round(heard.word_error, 3))
        return Rendering(iter([audio]), {"quality": quality})

    def _score(
        self, clip: Clip, reference: np.ndarray, text: str, language: str, speed: float
    ) -> QualityReport:
        """Score the take; the recogniser (if it hears the language) listens on its own thread meanwhile."""
        recognizer = self.recognizer
        if recognizer is None or not text.strip() or not recognizer.hears(language):
            return score_take(clip, reference, text, language, speed)
        heard: list[Hearing | BaseException] = []
        arguments = (recognizer, clip, text, language, heard)
        listener = threading.Thread(target=_listen, args=arguments, name="asr", daemon=True)
        listener.start()
        signal = score_take(clip, reference, text, language, speed)
        listener.join()
        if isinstance(heard[0], BaseException):
            raise heard[0]
        return signal.with_hearing(heard[0], text, self.settings.max_word_error)

    def _voice_embedding(self, voice: Voice) -> np.ndarray:
        """The whole voice (every usable clip, not only a tuned subset), computed once per set of clips."""
        clips = voice.usable or voice.files
        if clips not in self._voices:
            self._voices[clips] = embed_voice([read_reference(path) for path in clips])
        return self._voices[clips]


def _listen(
    recognizer: Recognizer, clip: Clip, text: str, language: str, heard: list[Hearing | BaseException]
) -> None:
    """Thread body: append what ``recognizer`` hears in ``clip`` (or the exception) to ``heard``."""
    try:
        heard.append(recognizer.hear(clip, text, language))
    except BaseException as exc:  # handed to the guard's thread, which raises it
        heard.append(exc)
