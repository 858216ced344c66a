"""Streaming one text piece through XTTS v2 with a small first chunk.

coqui-tts's ``Xtts.inference_stream`` turns every ``stream_chunk_size`` GPT tokens into audio.
The first chunk alone decides when a listener hears something, so here it is
``first_chunk_size`` tokens; later chunks keep ``stream_chunk_size``, because every decode
runs the vocoder over the whole piece so far and many small chunks would cost more in all.
The tokens, and so the speech, do not depend on where the chunks are cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from voice_daemon.errors import RequestError

if TYPE_CHECKING:
    from voice_daemon.synthesis.types import Latents, SamplingParams

_OVERLAP_SAMPLES = 1024  # cross-faded between consecutive decodes, as coqui-tts does


@torch.inference_mode()
def stream_piece(
    model: Any, text: str, language: str, latents: Latents, params: SamplingParams
) -> Iterator[torch.Tensor]:
    """Yield the audio of ``text`` (one sentence-sized piece) chunk by chunk, at 24 kHz."""
    prompt = model.gpt.compute_embeddings(latents.gpt_cond_latent.to(model.device), _tokens(model, text, language))
    generator = model.gpt.get_generator(
        fake_inputs=prompt,
        top_k=params.top_k, top_p=params.top_p, temperature=params.temperature,
        length_penalty=float(params.length_penalty), repetition_penalty=float(params.repetition_penalty),
        do_sample=True, num_beams=1, num_return_sequences=1, output_attentions=False,
        output_hidden_states=True, return_dict_in_generate=True,
    )  # fmt: skip
    decoder = _Decoder(model, latents.speaker_embedding.to(model.device), params.speed)
    pending, size = 0, params.first_chunk_size
    for _, latent in generator:
        decoder.latents.append(latent)
        pending += 1
        if pending >= size:
            yield decoder.decode(final=False)
            pending, size = 0, params.stream_chunk_size
    if decoder.latents:
        yield decoder.decode(final=True)


def _tokens(model: Any, text: str, language: str) -> torch.Tensor:
    tokens = model.tokenizer.encode(text.strip().lower(), lang=language.split("-")[0])
    if len(tokens) >= model.args.gpt_max_text_tokens:
        raise RequestError(f"a text piece has {len(tokens)} tokens; XTTS takes fewer than "
                           f"{model.args.gpt_max_text_tokens}: {text[:60]!r}")  # fmt: skip
    return torch.IntTensor(tokens).unsqueeze(0).to(model.device)


class _Decoder:
    """The GPT latents of a piece so far, decoded into the audio not yet handed out."""

    def __init__(self, model: Any, speaker: torch.Tensor, speed: float) -> None:
        self.model, self.speaker, self.length_scale = model, speaker, 1.0 / max(speed, 0.05)
        self.latents: list[torch.Tensor] = []
        self._previous: torch.Tensor | None = None
        self._overlap: torch.Tensor | None = None

    def decode(self, final: bool) -> torch.Tensor:
        gpt_latents = torch.cat(self.latents, dim=0)[None, :]
        if self.length_scale != 1.0:
            stretched = F.interpolate(gpt_latents.transpose(1, 2), scale_factor=self.length_scale, mode="linear")
            gpt_latents = stretched.transpose(1, 2)
        audio = self.model.hifigan_decoder(gpt_latents, g=self.speaker).squeeze()
        chunk, self._previous, self._overlap = self.model.handle_chunks(
            audio, self._previous, self._overlap, _OVERLAP_SAMPLES, is_final=final
        )
        return chunk
