"""Speech API responses as audio: what a client gets, decoded by FFmpeg (PyAV)."""

from __future__ import annotations

import io

import av
import numpy as np


def decoded(data: bytes, response_format: str) -> tuple[int, int, np.ndarray]:
    """Sample rate, channels and samples of a response, decoded by FFmpeg (pcm: OpenAI's raw s16le)."""
    if response_format == "pcm":
        return 24_000, 1, np.frombuffer(data, "<i2").astype(np.float32) / 32768
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
        return stream.rate, stream.channels, np.concatenate(frames, axis=1)[0]
