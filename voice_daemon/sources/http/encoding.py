"""Audio formats of the speech API, encoded chunk by chunk with PyAV (FFmpeg's codecs and muxers).

Each synthesised chunk is encoded and muxed into an in-memory sink that is drained at once, so
the first bytes of every format leave after the first chunk.  The output is not seekable, so
the muxers write what a stream allows: WAV with its sizes unknown (``0xFFFFFFFF``, as OpenAI's
streamed WAV), FLAC without a total sample count.  ``pcm`` is OpenAI's raw 24 kHz 16-bit mono
little-endian.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Literal

import av
import numpy as np

# The encoders used below; naming them (not any string) tells PyAV's types the stream is audio.
AudioCodec = Literal["libmp3lame", "libopus", "aac", "flac", "pcm_s16le"]


@dataclass(frozen=True)
class Format:
    container: str
    codec: AudioCodec
    media_type: str
    options: dict[str, str] = field(default_factory=dict)


FORMATS = {
    "mp3": Format("mp3", "libmp3lame", "audio/mpeg"),
    "opus": Format("ogg", "libopus", "audio/ogg; codecs=opus", {"page_duration": "100000"}),  # 0.1 s pages
    "aac": Format("adts", "aac", "audio/aac"),
    "flac": Format("flac", "flac", "audio/flac"),
    "wav": Format("wav", "pcm_s16le", "audio/wav", {"fflags": "+bitexact"}),  # no encoder tag chunk
    "pcm": Format("s16le", "pcm_s16le", "audio/pcm"),
}


class _Sink(io.RawIOBase):
    """A write-only, unseekable file that hands out what was written since it was last drained."""

    def __init__(self) -> None:
        self._written = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._written += data
        return len(data)

    def drain(self) -> bytes:
        data = bytes(self._written)
        self._written.clear()
        return data


class Encoder:
    """Float32 mono chunks in, the bytes of ``name``'s format out, as soon as the muxer has them."""

    def __init__(self, name: str, sample_rate: int) -> None:
        spec = FORMATS[name]
        self.media_type = spec.media_type
        self._sink = _Sink()
        self._container = av.open(
            self._sink, mode="w", format=spec.container, options={"flush_packets": "1", **spec.options}
        )
        self._stream = self._container.add_stream(spec.codec, rate=sample_rate, layout="mono")
        self._rate, self._samples = sample_rate, 0

    def encode(self, chunk: np.ndarray) -> bytes:
        """Encode one chunk; the bytes ready so far (may be empty while an encoder fills a frame)."""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(chunk, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate, frame.pts = self._rate, self._samples
        self._samples += len(chunk)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.drain()

    def finish(self) -> bytes:
        """Flush the encoder and write the trailer; the last bytes."""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.drain()

    def close(self) -> None:
        """Give up (the client went away): free the encoder."""
        self._container.close()
