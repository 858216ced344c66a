"""Value types shared by the engine and its users, importable without torch or coqui-tts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np
    import torch

SAMPLE_RATE = 24_000  # XTTS v2's output rate


class SamplingParams(BaseModel):
    """XTTS generation settings; a voice's tuned settings override the configured ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.75, gt=0, le=2)
    top_k: int = Field(50, ge=1)
    top_p: float = Field(0.85, gt=0, le=1)
    repetition_penalty: float = Field(5.0, ge=1)
    length_penalty: float = 1.0
    speed: float = Field(1.0, ge=0.25, le=4)
    first_chunk_size: int = Field(8, ge=1, le=200)
    stream_chunk_size: int = Field(20, ge=1, le=200)

    def sampling(self) -> dict[str, float]:
        """The sampling keywords of coqui-tts's own ``Xtts.inference`` / ``inference_stream``."""
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
        }


@dataclass(frozen=True)
class Latents:
    """A voice's conditioning: GPT conditioning latents and the decoder's speaker embedding."""

    gpt_cond_latent: torch.Tensor
    speaker_embedding: torch.Tensor

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {"gpt_cond_latent": self.gpt_cond_latent, "speaker_embedding": self.speaker_embedding}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> Latents:
        return cls(tensors["gpt_cond_latent"], tensors["speaker_embedding"])


@dataclass(frozen=True)
class Rendering:
    """Audio on its way (float32 chunks at 24 kHz) and facts about it known before the first chunk
    (from the audio cache, the quality guard), which end up in the request's 'done' event."""

    chunks: Iterator[np.ndarray]
    facts: Mapping[str, Any] = field(default_factory=dict)
