"""Reference-audio validation: is this recording good enough to clone a voice from?

Every check reports a plain reason with the measured figure.  Thresholds were tuned on the
LibriSpeech clips in ``tests/data/librispeech`` and on damaged copies of them (docs/validation.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.audio import HOP_SECONDS, Clip, clipped_fraction, dbfs, decode, frame_levels, with_hangover
from voice_daemon.errors import AudioError

MIN_SAMPLE_RATE = 16_000
MIN_SPEECH_SECONDS = 3.0
RECOMMENDED_SPEECH_SECONDS = 10.0
SILENT_PEAK_DBFS = -60.0
MIN_SNR_DB = 15.0
WARN_SNR_DB = 20.0
MAX_CLIPPED_FRACTION = 0.01
WARN_CLIPPED_FRACTION = 0.001



@dataclass
class Verdict:
    """The outcome of validating one file: rejected when ``problems`` is not empty."""

    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    measures: dict[str, float | int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        return "rejected" if self.problems else "warning" if self.warnings else "ok"

    def summary(self) -> str:
        """One line for logs and error messages."""
        reasons = self.problems or self.warnings
        return f"{self.path.name}: {self.status}" + (f" ({'; '.join(reasons)})" if reasons else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "status": self.status,
            "problems": self.problems,
            "warnings": self.warnings,
            "measures": self.measures,
        }


def validate_file(path: Path) -> tuple[Verdict, Clip | None]:
    """Decode and check ``path``; the decoded clip is returned so callers need not decode twice."""
    try:
        clip = decode(path)
    except AudioError as exc:
        return Verdict(path, problems=[str(exc).removeprefix(f"{path}: ")]), None
    return validate_clip(path, clip), clip


def validate_clip(path: Path, clip: Clip) -> Verdict:
    """Run every check on decoded audio."""
    verdict = Verdict(path)
    samples = clip.samples
    verdict.measures.update(
        seconds=round(clip.seconds, 2), sample_rate=clip.sample_rate, channels=clip.channels
    )
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        verdict.problems.append(f"{bad} samples are not finite numbers (NaN or infinity): the file is corrupt")
        return verdict
    if clip.sample_rate < MIN_SAMPLE_RATE:
        verdict.problems.append(f"sample rate {clip.sample_rate} Hz is below the minimum of {MIN_SAMPLE_RATE} Hz")
    peak = dbfs(float(np.max(np.abs(samples))))
    verdict.measures["peak_dbfs"] = round(peak, 1)
    if peak < SILENT_PEAK_DBFS:
        verdict.problems.append(f"the recording is silent (peak {peak:.1f} dBFS)")
        return verdict
    _check_speech(verdict, samples, clip.sample_rate)
    _check_clipping(verdict, samples)
    return verdict


def _check_speech(verdict: Verdict, samples: np.ndarray, rate: int) -> None:
    levels = frame_levels(samples, rate)
    noise_floor = float(np.percentile(levels, 10))
    loud = float(np.percentile(levels, 95))
    snr = loud - noise_floor
    speech = _speech_frames(levels, noise_floor, loud)
    speech_seconds = float(np.count_nonzero(speech)) * HOP_SECONDS
    verdict.measures.update(speech_seconds=round(speech_seconds, 2), snr_db=round(snr, 1))
    if speech_seconds < MIN_SPEECH_SECONDS:
        verdict.problems.append(
            f"too short: {speech_seconds:.1f} s of speech, at least {MIN_SPEECH_SECONDS:.0f} s are needed"
        )
    elif speech_seconds < RECOMMENDED_SPEECH_SECONDS:
        verdict.warnings.append(
            f"short: {speech_seconds:.1f} s of speech; {RECOMMENDED_SPEECH_SECONDS:.0f} s or more clone better"
        )
    if snr < MIN_SNR_DB:
        verdict.problems.append(
            f"too noisy: estimated signal-to-noise ratio {snr:.1f} dB, at least {MIN_SNR_DB:.0f} dB is needed"
        )
    elif snr < WARN_SNR_DB:
        verdict.warnings.append(f"noisy: estimated signal-to-noise ratio {snr:.1f} dB")


def _check_clipping(verdict: Verdict, samples: np.ndarray) -> None:
    fraction = clipped_fraction(samples)
    verdict.measures["clipped_percent"] = round(100 * fraction, 3)
    if fraction > MAX_CLIPPED_FRACTION:
        verdict.problems.append(
            f"heavily clipped: {100 * fraction:.2f} % of samples are cut off at full scale "
            f"(at most {100 * MAX_CLIPPED_FRACTION:.0f} % is acceptable)"
        )
    elif fraction > WARN_CLIPPED_FRACTION:
        verdict.warnings.append(f"some clipping: {100 * fraction:.2f} % of samples at full scale")


def _speech_frames(levels: np.ndarray, noise_floor: float, loud: float) -> np.ndarray:
    """Frames well above the noise floor, with the hangover so pauses between words count."""
    return with_hangover(levels > max(noise_floor + 10, loud - 35))
