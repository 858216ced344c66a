"""Reference-audio validation: is this recording good enough to clone a voice from?

Every check reports a plain reason with the measured figure.  Thresholds were tuned on the
LibriSpeech clips in ``tests/data/librispeech`` and on damaged copies of them (docs/validation.md).

The header decides first (size, duration, sample rate), so a huge file or a lying header is
refused without decoding; then only the first :data:`REFERENCE_SECONDS` are decoded and checked,
as XTTS conditions on no more than that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.audio import (
    HOP_SECONDS,
    Clip,
    Header,
    clipped_fraction,
    dbfs,
    decode,
    frame_levels,
    read_header,
    with_hangover,
)
from voice_daemon.errors import AudioError

MIN_SAMPLE_RATE = 16_000
MIN_SPEECH_SECONDS = 3.0
RECOMMENDED_SPEECH_SECONDS = 10.0
SILENT_PEAK_DBFS = -60.0
MIN_SNR_DB = 15.0
WARN_SNR_DB = 20.0
MAX_CLIPPED_FRACTION = 0.01
WARN_CLIPPED_FRACTION = 0.001
REFERENCE_SECONDS = 30.0  # XTTS v2 conditions on the first 30 s of each clip (its max_ref_len)
MAX_FILE_BYTES = 128 * 2**20  # 10 min of 48 kHz 16-bit stereo WAV fits
MAX_FILE_SECONDS = 600.0
MAX_SAMPLE_RATE = 192_000


def status_of(problems: list[str], warnings: list[str]) -> str:
    """The one status rule of a clip or a voice: ``rejected`` with a problem, else ``warning``, else
    ``ok``."""
    return "rejected" if problems else "warning" if warnings else "ok"


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
        return status_of(self.problems, self.warnings)

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
    """Check ``path``'s header, then decode its first :data:`REFERENCE_SECONDS` and check those;
    the decoded clip is returned so callers need not decode twice."""
    try:
        header = read_header(path)
        if problem := _header_problem(header):
            return Verdict(path, problems=[problem], measures=_header_measures(header)), None
        clip = read_reference(path)
    except AudioError as exc:
        return Verdict(path, problems=[str(exc).removeprefix(f"{path}: ")]), None
    verdict = validate_clip(path, clip)
    verdict.measures.update(_header_measures(header))
    if header.seconds > REFERENCE_SECONDS:
        used = f"only the first {REFERENCE_SECONDS:.0f} s of {header.seconds:.0f} s are used"
        verdict.warnings.append(f"{used}; trim the file to its best part")
    return verdict, clip


def read_reference(path: Path) -> Clip:
    """The part of a reference file that conditioning uses: its first :data:`REFERENCE_SECONDS`."""
    return decode(path, REFERENCE_SECONDS)


def _header_problem(header: Header) -> str | None:
    """Why the header alone rules the file out, or None."""
    if header.size > MAX_FILE_BYTES:
        size = f"{header.size / 2**20:.0f} MB, the maximum for a reference is {MAX_FILE_BYTES // 2**20} MB"
        return f"file is {size} (only the first {REFERENCE_SECONDS:.0f} s are used: trim it)"
    if header.sample_rate > MAX_SAMPLE_RATE:
        return f"sample rate {header.sample_rate} Hz is above the maximum of {MAX_SAMPLE_RATE} Hz"
    if header.seconds > MAX_FILE_SECONDS:
        return (
            f"the header says {_duration(header.seconds)} of audio, the maximum for a reference is "
            f"{_duration(MAX_FILE_SECONDS)} (only the first {REFERENCE_SECONDS:.0f} s are used: trim it)"
        )
    return None


def _header_measures(header: Header) -> dict[str, float | int]:
    return {"file_seconds": round(header.seconds, 2), "file_bytes": header.size}


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def validate_clip(path: Path, clip: Clip) -> Verdict:
    """Run every check on decoded audio."""
    verdict = Verdict(path)
    samples = clip.samples
    verdict.measures.update(
        seconds=round(clip.seconds, 2), sample_rate=clip.sample_rate, channels=clip.channels
    )
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        verdict.problems.append(
            f"{bad} samples are not finite numbers (NaN or infinity): the file is corrupt"
        )
        return verdict
    if clip.sample_rate < MIN_SAMPLE_RATE:
        verdict.problems.append(
            f"sample rate {clip.sample_rate} Hz is below the minimum of {MIN_SAMPLE_RATE} Hz"
        )
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
            f"short: {speech_seconds:.1f} s of speech; {RECOMMENDED_SPEECH_SECONDS:.0f} s or more "
            "clone better"
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
