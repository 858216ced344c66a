"""Streaming one text piece through XTTS v2 with a small first chunk, decoding each chunk once.

XTTS's GPT generator yields one latent per audio token.  The first chunk alone decides when a
listener hears something, so it is ``first_chunk_size`` tokens; later chunks are
``stream_chunk_size``.  Every chunk is decoded once (``synthesis.decoding``): the vocoder sees the
new latents plus a bounded context, never the whole piece again, so a chunk costs the same
however long the piece is, and the joined chunks equal one whole-piece decode.  The tokens, and so
the speech, do not depend on where the chunks are cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from voice_daemon.errors import RequestError
from voice_daemon.synthesis.decoding import IncrementalDecoder

if TYPE_CHECKING:
    from voice_daemon.synthesis.types import Latents, SamplingParams


@torch.inference_mode()
def stream_piece(
    model: Any, text: str, language: str, latents: Latents, params: SamplingParams
) -> Iterator[torch.Tensor]:
    """Yield the audio of ``text`` (one sentence-sized piece) chunk by chunk, at 24 kHz."""
    decoder = IncrementalDecoder(model, latents.speaker_embedding.to(model.device), params.speed)
    pending, size = 0, params.first_chunk_size
    for latent in piece_latents(model, text, language, latents, params):
        decoder.add(latent)
        pending += 1
        if pending >= size:
            pending, size = 0, params.stream_chunk_size
            if len(chunk := decoder.decode(final=False)):
                yield chunk
    if len(chunk := decoder.decode(final=True)):
        yield chunk


def piece_latents(
    model: Any, text: str, language: str, latents: Latents, params: SamplingParams
) -> Iterator[Any]:
    """The GPT latents of ``text``, one per generated audio token (XTTS's streaming generator)."""
    prompt = model.gpt.compute_embeddings(
        latents.gpt_cond_latent.to(model.device), _tokens(model, text, language)
    )
    generator = model.gpt.get_generator(
        fake_inputs=prompt,
        top_k=params.top_k, top_p=params.top_p, temperature=params.temperature,
        length_penalty=float(params.length_penalty), repetition_penalty=float(params.repetition_penalty),
        do_sample=True, num_beams=1, num_return_sequences=1, output_attentions=False,
        output_hidden_states=True, return_dict_in_generate=True,
    )  # fmt: skip
    for _, latent in generator:
        yield latent


def _tokens(model: Any, text: str, language: str) -> torch.Tensor:
    tokens = model.tokenizer.encode(text.strip().lower(), lang=language.split("-")[0])
    if len(tokens) >= model.args.gpt_max_text_tokens:
        raise RequestError(f"a text piece has {len(tokens)} tokens; XTTS takes fewer than "
                           f"{model.args.gpt_max_text_tokens}: {text[:60]!r}")  # fmt: skip
    return torch.IntTensor(tokens).unsqueeze(0).to(model.device)
