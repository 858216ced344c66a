"""WAV files inside the output folder; a name from a request never leads outside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voice_daemon.audio import write_wav_atomic
from voice_daemon.errors import RequestError
from voice_daemon.files import safe_name


def output_path(output_dir: Path, name: str) -> Path:
    """``output_dir/<name>.wav`` with ``name`` reduced to a safe file name; never outside the folder."""
    path = (output_dir / f"{safe_name(name)}.wav").resolve()
    if path.parent != output_dir.resolve():
        raise RequestError(f"the output name {name!r} leads outside {output_dir}", field="name")
    return path


def save(output_dir: Path, name: str, samples: np.ndarray, sample_rate: int) -> Path:
    """Write ``samples`` atomically as ``output_dir/<name>.wav``; returns the path."""
    return write_wav_atomic(output_path(output_dir, name), samples, sample_rate)
