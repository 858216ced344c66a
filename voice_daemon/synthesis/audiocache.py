"""The audio cache: finished announcements on disk, so a repeated phrase is played without synthesis.

An entry is keyed by everything that shapes the audio: text, language, the voice's content (its
latents key, which also names the model and conditioning settings), the model variant (with the
quality guard's settings, when it is on) and the sampling settings.  Entries are float32
``.npy`` files written atomically and read with ``allow_pickle=False``; the least recently
used are deleted when the folder grows past its bound.
A damaged entry is deleted and the audio synthesised again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from voice_daemon.audio import joined, tee
from voice_daemon.files import replacing
from voice_daemon.synthesis.types import SAMPLE_RATE, Rendering, SamplingParams

log = logging.getLogger(__name__)

CHUNK_SAMPLES = SAMPLE_RATE // 2  # a hit is played in half-second chunks, so "stop" stays prompt


def audio_key(text: str, language: str, voice_key: str, model_id: str, params: SamplingParams) -> str:
    """The cache key of one announcement."""
    parts = [text, language, voice_key, model_id, params.model_dump_json()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


class AudioCache:
    """Announcements by key in ``directory``, at most ``max_bytes`` in all.  Thread-safe."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        """The audio stored under ``key`` (and mark it recently used), or None."""
        path = self._path(key)
        try:
            audio: np.ndarray = np.load(path, allow_pickle=False)
            if audio.dtype != np.float32 or audio.ndim != 1:
                raise ValueError(f"holds {audio.dtype} of shape {audio.shape}")
            os.utime(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            log.warning("ignoring damaged audio cache entry %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return None
        return audio

    def put(self, key: str, audio: np.ndarray) -> None:
        """Store ``audio`` under ``key``, then evict the least recently used entries beyond the bound."""
        if audio.nbytes > self.max_bytes or audio.size == 0:
            return
        try:
            with replacing(self._path(key)) as handle:
                np.save(handle, np.ascontiguousarray(audio, dtype=np.float32), allow_pickle=False)
        except OSError as exc:
            log.warning("could not write audio cache entry %s: %s", key, exc)
            return
        self._evict()

    def stream(self, key: str, synthesise: Callable[[], Rendering], keep: Callable[[], bool]) -> Rendering:
        """The audio of ``key``: from the cache, else from ``synthesise()``.

        Stored when ``keep()`` is true at its end.
        """
        audio = self.get(key)
        if audio is not None:
            chunks = (audio[start : start + CHUNK_SAMPLES] for start in range(0, len(audio), CHUNK_SAMPLES))
            return Rendering(chunks, {"audio_cache": "hit"})
        made = synthesise()
        return Rendering(self._recording(key, made.chunks, keep), {"audio_cache": "miss", **made.facts})

    def _recording(
        self, key: str, chunks: Iterator[np.ndarray], keep: Callable[[], bool]
    ) -> Iterator[np.ndarray]:
        kept: list[np.ndarray] = []
        yield from tee(chunks, kept)
        if kept and keep():
            self.put(key, joined(kept))

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    def _evict(self) -> None:
        with self._lock:
            entries = []
            for path in self.directory.glob("*.npy"):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                entries.append((stat.st_mtime_ns, stat.st_size, path))
            total = sum(size for _, size, _ in entries)
            for _, size, path in sorted(entries):
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
                log.debug("evicted audio cache entry %s", path.name)
