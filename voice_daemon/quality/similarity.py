"""Speaker similarity: the cosine of speaker embeddings from a pretrained speaker encoder.

The encoder is Resemblyzer's GE2E d-vector network, whose weights ship inside its wheel, so it
works offline.  XTTS's own speaker encoder (the one that conditions its decoder) is a second
opinion, meaningful only with the real XTTS weights.  Figures on the speech corpus are in
docs/quality.md.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_daemon.audio import Clip, resample

if TYPE_CHECKING:
    from voice_daemon.synthesis.engine import Engine

ENCODER_RATE = 16_000
_MIN_TRIMMED_SECONDS = 0.5  # below this, silence trimming removed the take: embed it untrimmed


@functools.cache
def _voice_encoder() -> Any:
    with warnings.catch_warnings():  # resemblyzer imports a deprecated scipy namespace
        warnings.simplefilter("ignore", DeprecationWarning)
        from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def embed(clip: Clip) -> np.ndarray:
    """The unit-length speaker embedding (256 values) of one decoded clip."""
    from resemblyzer import audio

    samples = resample(np.asarray(clip.samples, dtype=np.float32), clip.sample_rate, ENCODER_RATE)
    samples = audio.normalize_volume(samples, audio.audio_norm_target_dBFS, increase_only=True)
    trimmed = audio.trim_long_silences(samples)
    if len(trimmed) >= _MIN_TRIMMED_SECONDS * ENCODER_RATE:
        samples = trimmed
    with _one_thread():
        return np.asarray(_voice_encoder().embed_utterance(samples), dtype=np.float32)


def embed_voice(clips: Sequence[Clip]) -> np.ndarray:
    """One embedding for a voice of several clips: the normalised mean of theirs."""
    if not clips:
        raise ValueError("a voice needs at least one clip")
    return _unit(np.mean([embed(clip) for clip in clips], axis=0))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings, -1 to 1."""
    return float(np.dot(_unit(a), _unit(b)))


def similarity(reference: Sequence[Clip], candidate: Clip) -> float:
    """Speaker similarity of ``candidate`` to the voice of the ``reference`` clip(s)."""
    return cosine(embed_voice(reference), embed(candidate))


def xtts_similarity(engine: Engine, reference: Sequence[Clip], candidate: Clip) -> float:
    """The same question asked of XTTS's speaker encoder (meaningful with the real weights only)."""
    ours = engine.conditioning(list(reference)).speaker_embedding.flatten().numpy()
    theirs = engine.conditioning([candidate]).speaker_embedding.flatten().numpy()
    return cosine(ours, theirs)


def equal_error_rate(same: Sequence[float], different: Sequence[float]) -> tuple[float, float]:
    """(EER, threshold): where false rejections of ``same`` equal false acceptances of ``different``."""
    same_scores, different_scores = np.sort(np.asarray(same)), np.sort(np.asarray(different))
    best = (1.0, 0.0, 0.0)  # (|FRR - FAR|, EER, threshold)
    for threshold in np.unique(np.concatenate([same_scores, different_scores])):
        frr = np.searchsorted(same_scores, threshold, side="left") / len(same_scores)
        far = 1 - np.searchsorted(different_scores, threshold, side="left") / len(different_scores)
        if abs(frr - far) < best[0]:
            best = (abs(frr - far), (frr + far) / 2, float(threshold))
    return float(best[1]), best[2]


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: the small LSTM gains nothing from more, and loses a lot under load."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
