"""Audio file I/O: decoding references to mono float32, resampling, and atomic WAV writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioError
from .files import replacing

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3"})


@dataclass(frozen=True)
class Clip:
    """Decoded mono audio: float32 samples in [-1, 1] (unless the source was broken) and a rate."""

    samples: np.ndarray
    sample_rate: int
    channels: int = 1

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


def decode(path: Path) -> Clip:
    """Read WAV, FLAC, OGG or MP3 into a mono Clip; raise AudioError with the reason if impossible."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"{path}: cannot read file ({exc.strerror})") from None
    if size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: not a readable WAV, FLAC, OGG or MP3 file ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    return Clip(samples=data.mean(axis=1), sample_rate=int(rate), channels=data.shape[1])


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed sinc), float32 in and out."""
    if source_rate == target_rate:
        return samples
    import torch
    import torchaudio.functional

    tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    return torchaudio.functional.resample(tensor, source_rate, target_rate).numpy()


def write_wav_atomic(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM WAV to a temporary name beside ``path``, fsync, then rename into place."""
    with replacing(path, durable=True) as handle:
        sf.write(handle, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return path
