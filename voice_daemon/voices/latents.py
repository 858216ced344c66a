"""The voice-latents cache: in memory, and on disk as plain tensors keyed by audio and model.

A key is the SHA-256 of the reference audio bytes (all clips, in name order), the model
fingerprint and the conditioning settings, so any change to any of them is a miss.  Files are
written atomically and read with ``torch.load(weights_only=True)``: nothing but tensors is
ever unpickled.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from voice_daemon.files import replacing
from voice_daemon.synthesis.types import Latents

log = logging.getLogger(__name__)


def latents_key(files: Sequence[Path], model_fingerprint: str, settings: dict[str, int]) -> str:
    """The cache key of a voice made of ``files`` under one model and conditioning settings."""
    digest = hashlib.sha256(model_fingerprint.encode())
    digest.update(repr(sorted(settings.items())).encode())
    for path in sorted(files):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


class LatentsCache:
    """Latents by key: a dict in memory backed by ``directory``.  Thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._memory: dict[str, Latents] = {}
        self._lock = threading.Lock()
        self.hits = {"memory": 0, "disk": 0, "computed": 0}

    def get(self, key: str, compute: Callable[[], Latents]) -> Latents:
        """The latents for ``key``: from memory, else from disk, else ``compute()`` and store them."""
        with self._lock:
            cached = self._memory.get(key)
            if cached is not None:
                self.hits["memory"] += 1
                return cached
        latents = self._read(key)
        level = "disk"
        if latents is None:
            latents, level = compute(), "computed"
            self._write(key, latents)
        with self._lock:
            self._memory[key] = latents
            self.hits[level] += 1
        return latents

    def in_memory(self, key: str | None) -> bool:
        with self._lock:
            return key in self._memory

    def forget(self, key: str) -> None:
        """Drop ``key`` from memory (the disk copy stays for a voice that comes back)."""
        with self._lock:
            self._memory.pop(key, None)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.pt"

    def _read(self, key: str) -> Latents | None:
        import torch

        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return Latents.from_tensors(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:  # a damaged cache file is recomputed, never fatal
            log.warning("ignoring unreadable latents cache file %s: %s", path, exc)
            return None

    def _write(self, key: str, latents: Latents) -> None:
        import torch

        try:
            with replacing(self._path(key)) as handle:
                torch.save(latents.to_tensors(), handle)
        except OSError as exc:
            log.warning("could not write latents cache file for %s: %s", key, exc)
