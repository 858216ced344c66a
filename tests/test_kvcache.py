"""The in-place key/value cache keeps exactly what transformers' concatenating cache keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers.cache_utils import DynamicCache

from voice_daemon.audio import decode
from voice_daemon.synthesis import streaming
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.kvcache import FIRST_ROOM, in_place_cache
from voice_daemon.synthesis.types import SamplingParams

# Long enough that its prompt alone passes the first room, so the cache grows while generating.
LONG_PIECE = (
    "The washing machine has finished, the dryer is still running, the kitchen lights are on, "
    "the front door is locked, the garage door is closed, the heating is set to twenty degrees, "
    "the bedroom window is open, and the weather tomorrow is mild with light rain in the evening."
)


def test_the_cache_returns_what_concatenation_returns_across_growth() -> None:
    torch.manual_seed(0)
    cache, keys, values = in_place_cache(), torch.empty(1, 2, 0, 4), torch.empty(1, 2, 0, 4)
    for step in range(2 * FIRST_ROOM + 3):
        width = 5 if step == 0 else 1  # a prompt, then a token at a time
        new_keys, new_values = torch.randn(1, 2, width, 4), torch.randn(1, 2, width, 4)
        got_keys, got_values = cache.update(new_keys, new_values, layer_idx=1)
        keys, values = torch.cat([keys, new_keys], dim=-2), torch.cat([values, new_values], dim=-2)
        assert torch.equal(got_keys, keys)
        assert torch.equal(got_values, values)
    assert cache.get_seq_length(1) == keys.shape[-2]


def test_a_cropped_cache_goes_on_from_where_it_was_cropped() -> None:
    torch.manual_seed(1)
    cache = in_place_cache()
    keys = torch.randn(1, 2, FIRST_ROOM + 9, 4)
    cache.update(keys, keys, layer_idx=0)
    cache.crop(FIRST_ROOM + 2)  # speculative sampling refusing the last 7 proposals
    assert cache.get_seq_length() == FIRST_ROOM + 2
    new = torch.randn(1, 2, 3, 4)
    got, _ = cache.update(new, new, layer_idx=0)
    assert torch.equal(got, torch.cat([keys[:, :, : FIRST_ROOM + 2], new], dim=-2))
    cache.crop(-3)
    assert torch.equal(cache.layers[0].keys, keys[:, :, : FIRST_ROOM + 2])


def test_a_piece_s_latents_are_the_same_as_with_transformers_cache(
    engine: Engine, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    voice = engine.conditioning([decode(reference)])

    def latents() -> list[torch.Tensor]:
        torch.manual_seed(7)
        with torch.inference_mode():
            return list(streaming.piece_latents(engine._model, LONG_PIECE, "en", voice, SamplingParams()))

    ours = latents()
    monkeypatch.setattr(streaming, "in_place_cache", DynamicCache)
    theirs = latents()
    prompt = streaming._prompt(engine._model, LONG_PIECE, "en", voice)
    assert prompt.shape[1] > FIRST_ROOM  # the room grew while this piece was made
    assert len(ours) == len(theirs) > 10
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
