"""Incremental decoding on the tiny real checkpoint: the streamed audio is the whole-sentence decode.

The tiny model's HiFi-GAN is XTTS's own full-size vocoder (only its input width is smaller), so
its receptive field is the released model's.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from voice_daemon.audio import decode
from voice_daemon.bench.equivalence import snr_db
from voice_daemon.synthesis import streaming
from voice_daemon.synthesis.decoding import (
    CONTEXT_FRAMES,
    HOP,
    decode_in_chunks,
    decoder_frames,
    length_scale,
    resampling_scales,
    whole_decode,
)
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.streaming import Threads, piece_latents, stream_piece
from voice_daemon.synthesis.types import Latents, SamplingParams

# The joins differ from one whole decode only by float rounding in convolutions of other lengths:
# measured on random latents, a context of 13 frames gives 124 dB, 8 gives 115, 4 gives 76, 3 gives
# 59, 2 gives 52 and none 29 dB.  60 dB fails every context below 4 and passes with a wide margin.
SNR_FLOOR_DB = 60.0
CHUNKS = ((2, 3), (5, 20))
SPEEDS = (1.0, 0.8, 1.3)  # no stretch, longer, shorter


@pytest.fixture(scope="module")
def voice(engine: Engine, reference: Path) -> Latents:
    return engine.conditioning([decode(reference)])


@pytest.fixture(scope="module")
def gpt_latents(engine: Engine, voice: Latents) -> torch.Tensor:
    """Real GPT latents of one sentence, from XTTS's generator on the tiny model."""
    torch.manual_seed(3)
    with torch.inference_mode():
        found = list(
            piece_latents(engine._model, "The washing machine has finished.", "en", voice, SamplingParams())
        )
    frames = torch.cat([latent.reshape(-1, latent.shape[-1]) for latent in found])
    return frames[:12]  # keeps the decodes short


def streamed(
    engine: Engine,
    voice: Latents,
    latents: torch.Tensor,
    first: int,
    size: int,
    speed: float,
    context: int = CONTEXT_FRAMES,
) -> torch.Tensor:
    with torch.inference_mode():
        return decode_in_chunks(engine._model, voice.speaker_embedding, latents, first, size, speed, context)


def reference_decode(engine: Engine, voice: Latents, latents: torch.Tensor, speed: float) -> torch.Tensor:
    with torch.inference_mode():
        return whole_decode(engine._model, latents, voice.speaker_embedding, speed)


def test_the_reference_is_xtts_s_own_whole_sentence_decode(
    engine: Engine, voice: Latents, gpt_latents
) -> None:
    model = engine._model
    for speed in SPEEDS:
        stretched = gpt_latents[None]
        if length_scale(speed) != 1.0:  # as Xtts.inference stretches before its one decode
            stretched = torch.nn.functional.interpolate(
                stretched.transpose(1, 2), scale_factor=length_scale(speed), mode="linear"
            ).transpose(1, 2)
        with torch.inference_mode():
            xtts = model.hifigan_decoder(stretched, g=voice.speaker_embedding).reshape(-1)
        assert torch.equal(reference_decode(engine, voice, gpt_latents, speed), xtts), speed


@pytest.mark.parametrize("speed", SPEEDS)
def test_streamed_audio_equals_the_whole_sentence_decode(
    engine: Engine, voice: Latents, gpt_latents: torch.Tensor, speed: float
) -> None:
    whole = reference_decode(engine, voice, gpt_latents, speed)
    for first, size in CHUNKS:
        audio = streamed(engine, voice, gpt_latents, first, size, speed)
        assert audio.shape == whole.shape, (first, size)
        assert snr_db(whole, audio) >= SNR_FLOOR_DB, (first, size)


def test_a_context_shorter_than_the_receptive_field_is_caught(
    engine: Engine, voice: Latents, gpt_latents
) -> None:
    whole = reference_decode(engine, voice, gpt_latents, 1.0)
    short = streamed(engine, voice, gpt_latents, 2, 3, 1.0, context=2)
    assert snr_db(whole, short) < SNR_FLOOR_DB


def test_stream_piece_yields_the_whole_decode_of_its_own_latents(engine: Engine, voice: Latents) -> None:
    text, params = "Please empty it.", SamplingParams(first_chunk_size=4, stream_chunk_size=9)
    torch.manual_seed(11)
    with torch.inference_mode():
        found = piece_latents(engine._model, text, "en", voice, params)
        latents = torch.cat([latent.reshape(-1, latent.shape[-1]) for latent in found])
    torch.manual_seed(11)
    chunks = list(stream_piece(engine._model, text, "en", voice, params))
    assert len(chunks) >= 3 and all(len(chunk) for chunk in chunks)
    assert snr_db(reference_decode(engine, voice, latents, 1.0), torch.cat(chunks)) >= SNR_FLOOR_DB


def test_the_context_covers_the_measured_receptive_field(engine: Engine) -> None:
    """Perturb one decoder frame in the middle: the samples that change lie within the context."""
    vocoder = engine._model.hifigan_decoder.waveform_decoder
    torch.manual_seed(0)
    frames, middle = torch.randn(vocoder.conv_pre.in_channels, 50), 25
    speaker = torch.randn(1, 512, 1)
    bumped = frames.clone()
    bumped[:, middle] += 1.0
    with torch.inference_mode():
        changed = (vocoder(frames, g=speaker) != vocoder(bumped, g=speaker)).reshape(-1).nonzero()
    before = middle - int(changed.min()) / HOP
    after = (int(changed.max()) + 1) / HOP - (middle + 1)
    assert CONTEXT_FRAMES - 1 < max(before, after) <= CONTEXT_FRAMES  # covered, and not oversized


@pytest.mark.parametrize("frames", [12, 48])
def test_no_decoder_call_grows_with_the_sentence(engine: Engine, voice: Latents, frames: int) -> None:
    """Every call of the convolution stack sees at most one chunk's frames plus context on both sides."""
    seen: list[int] = []
    hook = engine._model.hifigan_decoder.waveform_decoder.register_forward_pre_hook(
        lambda _module, args: seen.append(args[0].shape[-1])
    )
    torch.manual_seed(1)
    latents = torch.randn(frames, voice.gpt_cond_latent.shape[-1])  # the decoder's input width
    try:
        streamed(engine, voice, latents, 8, 8, 1.0)
    finally:
        hook.remove()
    per_latent = math.prod(resampling_scales(engine._model, 1.0))
    bound = math.ceil(8 * per_latent) + 2 * CONTEXT_FRAMES + 2  # the same for both lengths
    assert max(seen) <= bound
    assert len(seen) >= frames // 8
    total = decoder_frames(engine._model, latents, 1.0).shape[1]
    assert sum(seen) <= total + len(seen) * (2 * CONTEXT_FRAMES + 2)


def _chunks(engine: Engine, voice: Latents, threads: Threads, params: SamplingParams) -> list[torch.Tensor]:
    torch.manual_seed(5)
    return list(stream_piece(engine._model, "Please empty it.", "en", voice, params, threads=threads))


def test_the_pipeline_yields_the_same_chunks_bit_for_bit(engine: Engine, voice: Latents) -> None:
    """GPT and decoder on threads of their own: the same chunks, the same samples, as in turn with the
    same thread setting (float results depend on torch's thread count, in turn as much as pipelined)."""
    params = SamplingParams(first_chunk_size=3, stream_chunk_size=7)
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        in_turn = _chunks(engine, voice, Threads(0, 0), params)
        state = torch.random.get_rng_state()
    finally:
        torch.set_num_threads(saved)
    pipelined = _chunks(engine, voice, Threads(1, 1, first_chunk=1), params)
    assert len(in_turn) >= 3
    assert [len(chunk) for chunk in pipelined] == [len(chunk) for chunk in in_turn]
    assert all(torch.equal(a, b) for a, b in zip(pipelined, in_turn, strict=True))
    assert torch.equal(torch.random.get_rng_state(), state)  # the same random numbers drawn


def test_gpt_generation_has_both_cores_until_the_decoder_has_work(
    engine: Engine, voice: Latents, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    batches = streaming._batches

    def counting(*args: Any) -> Iterator[tuple[torch.Tensor, bool]]:
        for batch in batches(*args):
            seen.append(torch.get_num_threads())  # the GPT thread's setting while it made this chunk
            yield batch

    monkeypatch.setattr(streaming, "_batches", counting)
    params = SamplingParams(first_chunk_size=3, stream_chunk_size=7)
    assert _chunks(engine, voice, Threads(1, 1), params)
    assert len(seen) >= 3
    assert seen == [2] + [1] * (len(seen) - 1)


def test_leaving_the_stream_early_stops_both_threads(engine: Engine, voice: Latents) -> None:
    before = {thread.name for thread in threading.enumerate()}
    torch.manual_seed(5)
    params = SamplingParams(first_chunk_size=2)
    chunks = stream_piece(engine._model, "Please empty it.", "en", voice, params, threads=Threads(1, 1))
    next(chunks)
    chunks.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("synthesis-") and t.name not in before]


def test_a_failure_on_the_gpt_thread_reaches_the_consumer(
    engine: Engine, voice: Latents, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("generation broke")

    monkeypatch.setattr(engine._model.gpt, "get_generator", broken)
    with pytest.raises(RuntimeError, match="generation broke"):
        list(stream_piece(engine._model, "Please empty it.", "en", voice, SamplingParams(), Threads(1, 1)))
    assert not [t for t in threading.enumerate() if t.name.startswith("synthesis-")]


def test_threads_split_the_cores() -> None:
    assert Threads.for_cores(1) == Threads(0, 0)  # nothing to overlap: in turn
    assert Threads.for_cores(2) == Threads(1, 1)
    assert Threads.for_cores(4) == Threads(2, 2)
