"""The automated quality score of a synthesised take against its voice.

Each component turns one measured figure into a score from 0 (bad) to 1 (good) by a linear
ramp between two thresholds (0.5 halfway, the line between acceptable and not), and names the
reason when it is below 1.  The take's score is the product of the component scores it has
(duration needs the text, similarity a voice, the word error what a recogniser heard in the
take): read each as the chance that the aspect is fine,
the product is the chance that all are, so one failed component fails the take.  The
thresholds and the corpus figures behind them are in docs/quality.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_daemon.audio import HOP_SECONDS, Clip, clipped_fraction, dbfs, frame_levels, with_hangover

if TYPE_CHECKING:
    from voice_daemon.quality.asr import Hearing

# Speaker similarity (Resemblyzer cosine to the voice).
SIMILARITY_BAD, SIMILARITY_GOOD = 0.70, 0.85
# Expected speaking rate in characters per second, and the duration ratios around it.
CHARS_PER_SECOND = {"zh-cn": 4.5, "ja": 7.0, "ko": 7.0}
DEFAULT_CHARS_PER_SECOND = 15.0
RATIO_BAD_SHORT, RATIO_OK_SHORT, RATIO_OK_LONG, RATIO_BAD_LONG = 0.35, 0.65, 1.6, 2.5
DURATION_SLACK_SECONDS = 0.5  # short texts: a little breath either side is no babbling
# Silence: the longest pause inside speech, and silence before or after it.
PAUSE_GOOD, PAUSE_BAD = 1.7, 3.0
EDGE_GOOD, EDGE_BAD = 1.0, 2.5
SILENT_PEAK_DBFS = -60.0
# Clipping (fraction of samples in flat tops at full scale) and loudness (speech level, dBFS).
CLIPPED_GOOD, CLIPPED_BAD = 0.001, 0.01
QUIET_GOOD, QUIET_BAD = -40.0, -55.0
LOUD_GOOD, LOUD_BAD = -12.0, -6.0
# The ending: how much the level varies (dB, 90th minus 10th percentile) over the last TAIL_SECONDS
# of sound.  Speech rises and falls by 9 dB or more; a steady noise tail by about 1 dB.
TAIL_SECONDS = 0.8
TAIL_BAD, TAIL_GOOD = 3.0, 6.0
# Word error rate: the component is 1 up to half of max_word_error and 0.5 at it.
QUOTE_CHARACTERS = 100  # text and transcript are cut to this in reasons

_ACTIVE_BELOW_LOUD_DB = 30.0  # a frame is speech when within this of the loud (95th percentile) level
_SILENT_FRAME_DBFS = -90.0  # and above this


@dataclass(frozen=True)
class Component:
    """One scored aspect of a take: the measured ``value`` and its 0-1 ``score``."""

    name: str
    value: float
    unit: str
    score: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityReport:
    """A take's score (0-1) and the components behind it."""

    score: float
    components: tuple[Component, ...]
    hearing: Hearing | None = None

    @property
    def reasons(self) -> list[str]:
        return [component.reason for component in self.components if component.reason]

    def to_dict(self) -> dict[str, Any]:
        heard = {} if self.hearing is None else {"transcript": self.hearing.transcript}
        return {
            "score": self.score,
            "reasons": self.reasons,
            **heard,
            "components": {c.name: c.to_dict() for c in self.components},
        }

    def with_hearing(self, hearing: Hearing, text: str, max_word_error: float) -> QualityReport:
        """This report with the word error component of what a recogniser heard in the take."""
        components = (*self.components, _word_error(hearing, text, max_word_error))
        return QualityReport(round(combine(components), 3), components, hearing)

    def summary(self) -> str:
        """One line for logs: the score and the reasons."""
        return f"{self.score:.2f}" + (f" ({'; '.join(self.reasons)})" if self.reasons else "")


@dataclass(frozen=True)
class Measures:
    """Level-based facts about a take (seconds and dBFS)."""

    seconds: float
    speech_seconds: float
    longest_pause: float
    leading_silence: float
    trailing_silence: float
    speech_dbfs: float
    peak_dbfs: float
    clipped: float
    tail_spread: float | None = None  # level spread (dB) of the last TAIL_SECONDS of sound; None: too short


def measure(clip: Clip) -> Measures:
    """Speech, pauses, level and clipping of ``clip`` (30 ms frames every 10 ms)."""
    samples = np.asarray(clip.samples, dtype=np.float32)
    peak = dbfs(float(np.max(np.abs(samples)))) if len(samples) else -240.0
    levels = frame_levels(samples, clip.sample_rate)
    active = (levels > float(np.percentile(levels, 95)) - _ACTIVE_BELOW_LOUD_DB) & (
        levels > _SILENT_FRAME_DBFS
    )
    if peak < SILENT_PEAK_DBFS or not active.any():
        return Measures(clip.seconds, 0.0, 0.0, clip.seconds, 0.0, -240.0, peak, 0.0)
    where = np.flatnonzero(active)
    widened = with_hangover(active)
    power = np.mean(np.power(10.0, levels[active] / 10))
    return Measures(
        seconds=clip.seconds,
        speech_seconds=float(np.count_nonzero(widened)) * HOP_SECONDS,
        longest_pause=_longest_gap(active[where[0] : where[-1] + 1]) * HOP_SECONDS,
        leading_silence=where[0] * HOP_SECONDS,
        trailing_silence=(len(active) - 1 - where[-1]) * HOP_SECONDS,
        speech_dbfs=10 * math.log10(power),
        peak_dbfs=peak,
        clipped=clipped_fraction(samples),
        tail_spread=_tail_spread(levels, where),
    )


def _tail_spread(levels: np.ndarray, where: np.ndarray) -> float | None:
    """How much the level varies over the last :data:`TAIL_SECONDS` up to the last active frame."""
    window = round(TAIL_SECONDS / HOP_SECONDS)
    if where[-1] - where[0] < 2 * window:
        return None
    tail = levels[where[-1] + 1 - window : where[-1] + 1]
    return float(np.percentile(tail, 90) - np.percentile(tail, 10))


def expected_seconds(text: str, language: str = "en", speed: float = 1.0) -> float:
    """How long ``text`` takes to say at a typical reading rate (docs/quality.md)."""
    rate = CHARS_PER_SECOND.get(language, DEFAULT_CHARS_PER_SECOND)
    return len(" ".join(text.split())) / rate / speed


def score_take(
    clip: Clip,
    voice: np.ndarray | None = None,
    text: str | None = None,
    language: str = "en",
    speed: float = 1.0,
    hearing: Hearing | None = None,
    max_word_error: float = 0.5,
) -> QualityReport:
    """Score ``clip`` against the voice embedding ``voice`` and the ``text`` it should say.

    ``hearing`` (what a recogniser heard in the take) adds the word error component, which
    scores 0.5 at ``max_word_error``.
    """
    facts = measure(clip)
    components = []
    if voice is not None and facts.speech_seconds > 0:
        from voice_daemon.quality.similarity import cosine, embed

        components.append(_similarity(cosine(voice, embed(clip))))
    if text:
        components.append(_duration(facts.speech_seconds, text, language, speed))
    components.append(_silence(facts))
    if facts.tail_spread is not None:
        components.append(_ending(facts.tail_spread))
    components += [_clipping(facts.clipped), _loudness(facts.speech_dbfs)]
    report = QualityReport(round(combine(components), 3), tuple(components))
    return report.with_hearing(hearing, text, max_word_error) if text and hearing is not None else report


def combine(components: Sequence[Component]) -> float:
    """The product of the component scores."""
    return math.prod(component.score for component in components)


def ramp(value: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good``, linear between (either direction)."""
    return float(np.clip((value - bad) / (good - bad), 0.0, 1.0))


def _similarity(value: float) -> Component:
    score = ramp(value, SIMILARITY_BAD, SIMILARITY_GOOD)
    verdict = "does not sound like the voice" if score < 0.5 else "sounds less like the voice"
    reason = f"{verdict}: similarity {value:.2f} (same speaker: {SIMILARITY_GOOD:.2f} or more)"
    return Component("similarity", round(value, 3), "cosine", score, reason if score < 1 else None)


def _duration(speech: float, text: str, language: str, speed: float) -> Component:
    expected = expected_seconds(text, language, speed)
    ratio = speech / expected if expected else 0.0
    short = ramp(speech, RATIO_BAD_SHORT * expected - DURATION_SLACK_SECONDS, RATIO_OK_SHORT * expected)
    long = ramp(
        speech,
        RATIO_BAD_LONG * expected + 2 * DURATION_SLACK_SECONDS,
        RATIO_OK_LONG * expected + DURATION_SLACK_SECONDS,
    )
    figures = f"{speech:.1f} s of speech for {len(text)} characters, about {expected:.1f} s expected"
    reason = None
    if short < 1:
        reason = f"too short for the text (truncated?): {figures}"
    elif long < 1:
        reason = f"too long for the text (runaway generation?): {figures}"
    return Component("duration", round(ratio, 3), "ratio", min(short, long), reason)


def _word_error(hearing: Hearing, text: str, max_word_error: float) -> Component:
    score = ramp(hearing.word_error, 1.5 * max_word_error, 0.5 * max_word_error)
    reason = None
    if score < 1:
        said = f"said '{_quoted(hearing.transcript)}' instead of '{_quoted(text)}'"
        reason = f"{said}: word error {hearing.word_error:.2f} (at most {max_word_error:.2f})"
    return Component("word_error", round(hearing.word_error, 3), "rate", score, reason)


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARACTERS else text[: QUOTE_CHARACTERS - 1] + "…"


def _ending(spread: float) -> Component:
    score = ramp(spread, TAIL_BAD, TAIL_GOOD)
    reason = None
    if score < 1:
        reason = (
            f"a steady sound (noise?) at the end: its level varies {spread:.1f} dB "
            f"over the last {TAIL_SECONDS:.1f} s, speech {TAIL_GOOD:.0f} dB or more"
        )
    return Component("ending", round(spread, 1), "dB", score, reason)


def _silence(facts: Measures) -> Component:
    if facts.speech_seconds == 0:
        return Component(
            "silence", facts.seconds, "s", 0.0, f"the take is silent (peak {facts.peak_dbfs:.0f} dBFS)"
        )
    edge = max(facts.leading_silence, facts.trailing_silence)
    pause_score, edge_score = (
        ramp(facts.longest_pause, PAUSE_BAD, PAUSE_GOOD),
        ramp(edge, EDGE_BAD, EDGE_GOOD),
    )
    reasons = []
    if pause_score < 1:
        reasons.append(f"a pause of {facts.longest_pause:.1f} s inside the speech")
    if edge_score < 1:
        where = "start" if facts.leading_silence >= facts.trailing_silence else "end"
        reasons.append(f"{edge:.1f} s of silence at the {where}")
    worst = max(facts.longest_pause, edge)
    return Component(
        "silence", round(worst, 2), "s", min(pause_score, edge_score), "; ".join(reasons) or None
    )


def _clipping(fraction: float) -> Component:
    score = ramp(fraction, CLIPPED_BAD, CLIPPED_GOOD)
    reason = f"clipped: {100 * fraction:.2f} % of samples at full scale" if score < 1 else None
    return Component("clipping", round(fraction, 5), "fraction", score, reason)


def _loudness(level: float) -> Component:
    quiet, loud = ramp(level, QUIET_BAD, QUIET_GOOD), ramp(level, LOUD_BAD, LOUD_GOOD)
    reason = None
    if quiet < 1:
        reason = f"too quiet: speech at {level:.0f} dBFS (at least {QUIET_GOOD:.0f} expected)"
    elif loud < 1:
        reason = f"too loud: speech at {level:.0f} dBFS (at most {LOUD_GOOD:.0f} expected)"
    return Component("loudness", round(level, 1), "dBFS", min(quiet, loud), reason)


def _longest_gap(active: np.ndarray) -> int:
    """Length of the longest run of False in ``active``."""
    longest = run = 0
    for value in active:
        run = 0 if value else run + 1
        longest = max(longest, run)
    return longest
