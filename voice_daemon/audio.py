"""Audio: decoding references to mono float32, resampling, atomic WAV writes, and frame levels
(the speech-activity measure that reference validation and the take score share)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from voice_daemon.errors import AudioError
from voice_daemon.files import replacing

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3"})

FRAME_SECONDS = 0.03
HOP_SECONDS = 0.01  # frame_levels() gives one level per hop
HANGOVER_FRAMES = 25  # 250 ms: pauses between words count as speech
_CLIP_RUN = 3  # this many equal full-scale samples in a row is a flat top, not a peak
_BLOCK_SAMPLES = 1 << 20  # samples (all channels) decoded at a time: 4 MB


@dataclass(frozen=True)
class Clip:
    """Decoded mono audio: float32 samples in [-1, 1] (unless the source was broken) and a rate."""

    samples: np.ndarray
    sample_rate: int
    channels: int = 1

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class Header:
    """What an audio file says about itself, read without decoding it."""

    frames: int
    sample_rate: int
    channels: int
    size: int  # bytes

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def read_header(path: Path) -> Header:
    """The header of a WAV, FLAC, OGG or MP3 file; AudioError with the reason if there is none."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"{path}: cannot read file ({exc.strerror})") from None
    if size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: not a readable WAV, FLAC, OGG or MP3 file ({exc})") from None
    return Header(int(info.frames), int(info.samplerate), int(info.channels), size)


def decode(path: Path, max_seconds: float | None = None) -> Clip:
    """Read WAV, FLAC, OGG or MP3 into a mono Clip (only the first ``max_seconds`` when given);
    raise AudioError with the reason if impossible.

    Decoding goes block by block, so memory holds the mono result and one block, whatever the
    header claims.
    """
    read_header(path)
    try:
        with sf.SoundFile(str(path)) as audio:
            limit = None if max_seconds is None else int(max_seconds * audio.samplerate)
            samples = _mono(audio, limit)
            rate, channels = int(audio.samplerate), int(audio.channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: not a readable WAV, FLAC, OGG or MP3 file ({exc})") from None
    if len(samples) == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    return Clip(samples=samples, sample_rate=rate, channels=channels)


def _mono(audio: sf.SoundFile, limit: int | None) -> np.ndarray:
    """Up to ``limit`` frames (all without one) of ``audio``, channels averaged, float32."""
    block = max(1, _BLOCK_SAMPLES // audio.channels)
    parts, left = [], limit
    while left is None or left > 0:
        wanted = block if left is None else min(block, left)
        data = audio.read(wanted, dtype="float32", always_2d=True)
        if len(data):
            parts.append(data.mean(axis=1, dtype=np.float32))
        if len(data) < wanted:
            break
        left = None if left is None else left - len(data)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed sinc), float32 in and out."""
    if source_rate == target_rate:
        return samples
    import torch
    import torchaudio.functional

    tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    resampled: np.ndarray = torchaudio.functional.resample(tensor, source_rate, target_rate).numpy()
    return resampled


def write_wav_atomic(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM WAV to a temporary name beside ``path``, fsync, then rename into place.

    The WAV is made in memory first, so a failing disk raises a plain OSError from the write
    (not inside libsndfile's callbacks).
    """
    wav = io.BytesIO()
    sf.write(wav, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    with replacing(path, durable=True) as handle:
        handle.write(wav.getbuffer())
    return path


def pcm16(samples: np.ndarray) -> bytes:
    """``samples`` (float, -1 to 1) as 16-bit little-endian PCM, clipped."""
    clipped: np.ndarray = np.clip(samples, -1.0, 1.0)
    return (clipped * 32767).astype("<i2").tobytes()


def tee(chunks: Iterable[np.ndarray], kept: list[np.ndarray]) -> Iterator[np.ndarray]:
    """Pass audio chunks through, appending each to ``kept``."""
    for chunk in chunks:
        kept.append(chunk)
        yield chunk


def joined(chunks: list[np.ndarray]) -> np.ndarray:
    """The chunks as one float32 array (empty when there are none)."""
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def frame_levels(samples: np.ndarray, rate: int) -> np.ndarray:
    """Frame energies in dBFS (30 ms frames every 10 ms)."""
    width, hop = int(rate * FRAME_SECONDS), int(rate * HOP_SECONDS)
    if len(samples) < width:
        samples = np.pad(samples, (0, width - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, width)[::hop]
    power: np.ndarray = np.mean(np.square(frames, dtype=np.float64), axis=1)
    return 10 * np.log10(power + 1e-12)


def with_hangover(active: np.ndarray) -> np.ndarray:
    """Active frames widened by :data:`HANGOVER_FRAMES` either side: speech with its short pauses."""
    return np.convolve(active, np.ones(2 * HANGOVER_FRAMES + 1, dtype=int), mode="same") > 0


def clipped_fraction(samples: np.ndarray) -> float:
    """Fraction of samples inside flat-topped runs at the recording's full-scale level."""
    magnitude = np.abs(samples)
    ceiling = float(magnitude.max())
    if ceiling < 0.5:
        return 0.0
    at_ceiling = magnitude >= ceiling * 0.999
    run_ends = np.convolve(at_ceiling, np.ones(_CLIP_RUN, dtype=int), mode="valid") == _CLIP_RUN
    in_run = np.zeros_like(at_ceiling)
    for offset in range(_CLIP_RUN):
        in_run[offset : offset + len(run_ends)] |= run_ends
    return float(np.count_nonzero(in_run)) / len(samples)


def dbfs(amplitude: float) -> float:
    """An amplitude (1 is full scale) in dB relative to full scale."""
    return 20 * float(np.log10(max(amplitude, 1e-12)))
