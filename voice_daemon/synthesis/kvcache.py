"""A key/value cache for GPT generation that writes each token in place.

transformers' default cache concatenates every new key and value onto the whole cache, so each
token copies all the tokens before it, in every layer: on the full-size model that made a token at
position 500 cost about a quarter more than one at position 50 (docs/benchmarks.md, "Cost per audio
second against piece length").  This cache keeps room ahead and writes the new token into it,
doubling the room when it runs out, so a token costs the same wherever it is.  The keys and values
handed to attention are views of the same numbers, so the generated latents are equal, bit for bit.
Cropping (speculative sampling forgets the draft tokens it refused) only moves the end back.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

FIRST_ROOM = 256  # positions; a piece's prompt and first tokens fit, later growth doubles it


class _InPlaceLayer(DynamicLayer):
    """One layer's keys and values, ``[batch, heads, positions, head size]``, in a roomier buffer."""

    def lazy_initialization(self, key_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states)
        self._room: tuple[torch.Tensor, torch.Tensor] | None = None
        self._length = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, cache_kwargs: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states)
        start, end = self._length, self._length + key_states.shape[-2]
        keys, values = self._make_room(key_states, end)
        keys[:, :, start:end].copy_(key_states)
        values[:, :, start:end].copy_(value_states)
        self._length = end
        self.keys, self.values = keys[:, :, :end], values[:, :, :end]
        return self.keys, self.values

    def crop(self, max_length: int) -> None:
        """Forget every position from ``max_length`` on (a negative one: that many from the end)."""
        keep = max_length if max_length >= 0 else self._length + max_length
        if self._room is not None and keep < self._length:
            self._length = keep
            self.keys, self.values = self._room[0][:, :, :keep], self._room[1][:, :, :keep]

    def _make_room(self, like: torch.Tensor, needed: int) -> tuple[torch.Tensor, torch.Tensor]:
        old = self._room
        if old is not None and old[0].shape[-2] >= needed:
            return old
        size = max(needed, FIRST_ROOM, 2 * old[0].shape[-2] if old else 0)
        batch, heads, _, width = like.shape
        room = like.new_empty(batch, heads, size, width), like.new_empty(batch, heads, size, width)
        if old is not None:
            for new, kept in zip(room, old, strict=True):
                new[:, :, : self._length].copy_(kept[:, :, : self._length])
        self._room = room
        return room


def in_place_cache() -> Cache:
    """A fresh cache for one generation (pass it as ``past_key_values``)."""
    return Cache(layer_class_to_replicate=_InPlaceLayer)
