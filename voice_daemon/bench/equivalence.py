"""Streamed audio against one whole-sentence HiFi-GAN decode of the same GPT latents.

For each sentence of the text, the GPT latents are generated once; then they are decoded in
chunks as ``stream_piece`` decodes them (several chunk sizes and speeds) and compared with one
decode of all of them: SNR and correlation per sentence.  A short context curve shows what the
measured context buys.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from voice_daemon.audio import decode
from voice_daemon.synthesis.decoding import CONTEXT_FRAMES, decode_in_chunks, whole_decode
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.streaming import piece_latents
from voice_daemon.synthesis.text import split_text
from voice_daemon.synthesis.types import SamplingParams

log = logging.getLogger(__name__)

CUTS = ((8, 20, 1.0), (4, 10, 1.25))  # first, size, speed
CONTEXTS = (4,)  # shorter than measured, on the first sentence with the default cuts


def snr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Signal-to-noise ratio of ``other`` against ``reference``, in dB (inf when equal)."""
    noise = float((reference - other).double().pow(2).sum())
    return math.inf if noise == 0 else 10 * math.log10(float(reference.double().pow(2).sum()) / noise)


def correlation(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Pearson correlation of two equally long signals."""
    return float(torch.corrcoef(torch.stack([reference.double(), other.double()]))[0, 1])


def equivalence(model: Path, voice: Path, text: str) -> dict[str, Any]:
    """SNR and correlation of the streamed against the whole decode, per sentence and cut."""
    engine = Engine.load(model, "cpu")
    latents = engine.conditioning([decode(voice)])
    speaker = latents.speaker_embedding
    rows, curve = [], []
    with torch.inference_mode():
        for index, sentence in enumerate(split_text(text, "en")):
            torch.manual_seed(index)
            frames = torch.cat(
                [
                    x.reshape(-1, x.shape[-1])
                    for x in piece_latents(engine._model, sentence, "en", latents, SamplingParams())
                ]
            )
            wholes = {
                speed: whole_decode(engine._model, frames, speaker, speed) for speed in {c[2] for c in CUTS}
            }
            for first, size, speed in CUTS:
                whole = wholes[speed]
                started = time.perf_counter()
                streamed = decode_in_chunks(engine._model, speaker, frames, first, size, speed)
                rows.append(_row(index, first, size, speed, CONTEXT_FRAMES, whole, streamed, started))
                log.info("equivalence: %s", rows[-1])
            if index == 0:
                whole = wholes[1.0]
                for context in CONTEXTS:
                    started = time.perf_counter()
                    streamed = decode_in_chunks(engine._model, speaker, frames, 8, 20, 1.0, context)
                    curve.append(_row(index, 8, 20, 1.0, context, whole, streamed, started))
    return {"rows": rows, "context_curve": curve, "context_frames": CONTEXT_FRAMES}


def _row(
    sentence: int,
    first: int,
    size: int,
    speed: float,
    context: int,
    whole: torch.Tensor,
    streamed: torch.Tensor,
    started: float,
) -> dict[str, Any]:
    same = whole.shape == streamed.shape
    return {
        "sentence": sentence + 1,
        "first": first,
        "size": size,
        "speed": speed,
        "context": context,
        "frames_out": int(whole.shape[0]),
        "same_length": same,
        "decode_s": time.perf_counter() - started,
        "snr_db": snr_db(whole, streamed) if same else float("nan"),
        "correlation": correlation(whole, streamed) if same else float("nan"),
    }
