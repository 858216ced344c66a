"""Incremental HiFi-GAN decoding: each GPT latent is decoded once, plus a bounded context.

XTTS's ``HifiDecoder`` first resamples the GPT latents linearly (``speed`` stretch, x4 to the
vocoder's frame rate, 22.05 to 24 kHz), then runs a convolution stack that turns every decoder
frame into ``HOP`` samples.  The stack is not causal: a sample depends on the decoder frames
within ``CONTEXT_FRAMES`` on either side (measured by perturbing one frame, see
``tests/test_streaming.py`` and docs/benchmarks.md).  So audio is final once the frames
``CONTEXT_FRAMES`` beyond it are final, and a window that starts ``CONTEXT_FRAMES`` before the
first sample still owed reproduces the whole-sentence decode there (overlap-discard).

The resampling runs over all latents so far (a few milliseconds per chunk, bit-exact with the
whole-sentence resampling by construction); only the convolution stack, which is the cost,
sees a bounded window.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import torch
from torch.nn import functional

log = logging.getLogger(__name__)

HOP = 256  # samples per decoder frame (the product of HiFi-GAN's upsampling rates)
CONTEXT_FRAMES = 13  # decoder frames each side that reach a sample (measured: 12.65, rounded up)


def length_scale(speed: float) -> float:
    """The latent stretch XTTS applies for ``speed`` (as ``Xtts.inference`` does)."""
    return 1.0 / max(speed, 0.05)


def resampling_scales(model: Any, speed: float) -> list[float]:
    """The linear resampling factors between GPT latents and decoder frames, in order."""
    decoder = model.hifigan_decoder
    scales = [length_scale(speed)] if length_scale(speed) != 1.0 else []
    scales.append(decoder.ar_mel_length_compression / decoder.output_hop_length)
    if decoder.output_sample_rate != decoder.input_sample_rate:
        scales.append(decoder.output_sample_rate / decoder.input_sample_rate)
    return scales


def decoder_frames(model: Any, latents: torch.Tensor, speed: float) -> torch.Tensor:
    """``latents`` (frames x channels) resampled to decoder frames (channels x frames), as XTTS does."""
    frames = latents.T[None]
    for scale in resampling_scales(model, speed):
        frames = functional.interpolate(frames, scale_factor=scale, mode="linear")
    return frames[0]


def whole_decode(model: Any, latents: torch.Tensor, speaker: torch.Tensor, speed: float) -> torch.Tensor:
    """One HiFi-GAN decode of a whole sentence's latents: the reference streaming must equal."""
    decoded: torch.Tensor = model.hifigan_decoder.waveform_decoder(
        decoder_frames(model, latents, speed), g=speaker
    )
    return decoded.reshape(-1)


def final_outputs(final_inputs: int, scale: float) -> int:
    """How many outputs of a linear resampling by ``scale`` are final when the first ``final_inputs``
    inputs are: output ``i`` reads inputs ``floor(src)`` and ``floor(src) + 1``, where
    ``src = (i + 0.5) / scale - 0.5`` (``align_corners=False``), so it needs ``src < final_inputs - 1``.
    """
    margin = 1e-3  # keeps float rounding at a boundary on the safe side
    return max(0, math.ceil((final_inputs - 0.5 - margin) * scale - 0.5))


class IncrementalDecoder:
    """The GPT latents of one sentence, decoded chunk by chunk into the audio not yet handed out.

    Joined, the chunks equal :func:`whole_decode` of all the latents (up to float rounding in the
    convolutions); every call of the convolution stack sees the new frames plus ``2 * context``.
    """

    def __init__(
        self, model: Any, speaker: torch.Tensor, speed: float, context: int = CONTEXT_FRAMES
    ) -> None:
        self.model, self.speaker, self.speed, self.context = model, speaker, speed, context
        self.latents: list[torch.Tensor] = []
        self.emitted = 0  # samples handed out so far

    def add(self, latent: torch.Tensor) -> None:
        """Append GPT latents (frames x channels, or one frame)."""
        self.latents.append(latent.reshape(-1, latent.shape[-1]))

    def decode(self, final: bool) -> torch.Tensor:
        """The audio that is final now (all of the rest when ``final``); may be empty."""
        ready = 0 if final else self._final_frames() - self.context
        if not self.latents or (not final and ready * HOP <= self.emitted):
            return torch.zeros(0)
        frames = decoder_frames(self.model, torch.cat(self.latents), self.speed)
        ready = frames.shape[1] if final else ready
        if ready * HOP <= self.emitted:
            return torch.zeros(0)
        start = max(0, self.emitted // HOP - self.context)
        stop = frames.shape[1] if final else ready + self.context
        decoder = self.model.hifigan_decoder.waveform_decoder
        audio: torch.Tensor = decoder(frames[:, start:stop], g=self.speaker).reshape(-1)
        chunk = audio[self.emitted - start * HOP : (ready - start) * HOP]
        log.debug("decoded frames %d to %d of %d for %d samples", start, stop, frames.shape[1], len(chunk))
        self.emitted = ready * HOP
        return chunk

    def _final_frames(self) -> int:
        """Decoder frames that later latents can no longer change."""
        count = sum(latent.shape[0] for latent in self.latents)
        for scale in resampling_scales(self.model, self.speed):
            count = final_outputs(count, scale)
        return count


def decode_in_chunks(
    model: Any,
    speaker: torch.Tensor,
    latents: torch.Tensor,
    first: int,
    size: int,
    speed: float,
    context: int = CONTEXT_FRAMES,
) -> torch.Tensor:
    """``latents`` decoded as ``stream_piece`` decodes them (``first`` frames, then ``size`` at a
    time), joined."""
    decoder = IncrementalDecoder(model, speaker, speed, context)
    cuts = [0, *range(first, len(latents), size), len(latents)]
    chunks = []
    for start, stop in itertools.pairwise(cuts):
        decoder.add(latents[start:stop])
        chunks.append(decoder.decode(final=stop == len(latents)))
    return torch.cat(chunks)
