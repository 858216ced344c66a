"""The durable request queue: a maildir on disk, claimed by atomic rename.

Layout under ``paths.spool``::

    tmp/   requests being written (never read)
    new/   accepted requests, named ``<priority><sequence>-<id>.json`` so that name order is
           urgent-first, then first-come-first-served
    cur/   the request the worker has claimed
    done/  ``<id>.json`` outcomes, kept for ``queue.keep_finished_hours`` to drop duplicates
           and to let sources finish their side after a crash

A request is in ``new/`` (written, fsynced, renamed) before :meth:`Spool.submit` returns, so a
source may acknowledge it then.  After a crash, :meth:`Spool.recover` puts claimed requests
back into ``new/``: nothing accepted is ever lost.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DuplicateRequest, QueueFull
from .request import SpeechRequest

log = logging.getLogger(__name__)

_URGENT, _NORMAL = "0", "1"


@dataclass(frozen=True)
class Claim:
    """A request taken by the worker, and its file in ``cur/``."""

    request: SpeechRequest
    path: Path


@dataclass(frozen=True)
class Outcome:
    """How a request ended: state ``done`` or ``failed`` plus the event data."""

    state: str
    data: dict[str, Any]
    request: SpeechRequest

    def to_json(self) -> str:
        return json.dumps({"state": self.state, "data": self.data, "request": self.request.model_dump()})

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        raw = json.loads(text)
        return cls(raw["state"], raw["data"], SpeechRequest(**raw["request"]))


class Spool:
    """A bounded, durable, priority-ordered queue of SpeechRequests.  Thread-safe."""

    def __init__(self, root: Path, max_size: int, keep_finished_seconds: float = 86_400) -> None:
        self.root = root
        self.max_size = max_size
        self.keep_finished_seconds = keep_finished_seconds
        self._dirs = {name: root / name for name in ("tmp", "new", "cur", "done")}
        self._heap: list[str] = []
        self._ids: dict[str, str] = {}  # id -> "new" | "cur"
        self._sequence = 0
        self._ready = threading.Condition()

    def recover(self) -> int:
        """Create the folders, put claimed requests back, drop stale temporaries; returns pending count."""
        for directory in self._dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        for stale in self._dirs["tmp"].iterdir():
            stale.unlink(missing_ok=True)
        for claimed in self._dirs["cur"].glob("*.json"):
            log.info("putting back interrupted request %s", claimed.name)
            os.replace(claimed, self._dirs["new"] / claimed.name)
        self.prune()
        with self._ready:
            self._heap = sorted(p.name for p in self._dirs["new"].iterdir() if p.suffix == ".json")
            self._ids = {_id_of(name): "new" for name in self._heap}
        return len(self._heap)

    def submit(self, request: SpeechRequest, on_accepted: Callable[[], None] | None = None) -> None:
        """Durably enqueue ``request``; raises QueueFull or DuplicateRequest.

        ``on_accepted`` runs once the request is durable and before the worker can claim it, so
        a 'queued' event always precedes 'started'.
        """
        with self._ready:
            if request.id in self._ids or (self._dirs["done"] / f"{request.id}.json").exists():
                raise DuplicateRequest(f"request {request.id} was already received")
            if len(self._ids) >= self.max_size:
                raise QueueFull(f"queue is full ({self.max_size} requests waiting); try again later")
            name = f"{_URGENT if request.urgent else _NORMAL}{self._next_sequence():020d}-{request.id}.json"
            _write_durably(self._dirs["tmp"] / name, self._dirs["new"] / name, request.to_json())
            heapq.heappush(self._heap, name)
            self._ids[request.id] = "new"
            if on_accepted is not None:
                on_accepted()
            self._ready.notify()

    def has_room(self) -> bool:
        with self._ready:
            return len(self._ids) < self.max_size

    def claim(self, timeout: float | None = None) -> Claim | None:
        """The next request (urgent first), moved to ``cur/``; None if none came within ``timeout``."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._heap, timeout):
                return None
            name = heapq.heappop(self._heap)
            path = self._dirs["cur"] / name
            os.replace(self._dirs["new"] / name, path)
            self._ids[_id_of(name)] = "cur"
        try:
            return Claim(SpeechRequest.model_validate_json(path.read_text(encoding="utf-8")), path)
        except ValueError as exc:  # a damaged file must not stop the queue
            log.error("set aside unreadable request file %s: %s", path, exc)
            os.replace(path, path.with_suffix(".corrupt"))
            with self._ready:
                self._ids.pop(_id_of(name), None)
            return self.claim(timeout=0)

    def finish(self, claim: Claim, outcome: Outcome) -> None:
        """Record the outcome durably, then remove the claimed request."""
        target = self._dirs["done"] / f"{claim.request.id}.json"
        _write_durably(self._dirs["tmp"] / target.name, target, outcome.to_json())
        claim.path.unlink(missing_ok=True)
        with self._ready:
            self._ids.pop(claim.request.id, None)

    def release(self, claim: Claim) -> None:
        """Put a claimed request back at the head of its priority (shutdown mid-request)."""
        with self._ready:
            os.replace(claim.path, self._dirs["new"] / claim.path.name)
            heapq.heappush(self._heap, claim.path.name)
            self._ids[claim.request.id] = "new"
            self._ready.notify()

    def status(self, request_id: str) -> str | Outcome | None:
        """``"queued"``, ``"active"``, the recorded Outcome, or None when the id is unknown."""
        with self._ready:
            where = self._ids.get(request_id)
        if where is not None:
            return "queued" if where == "new" else "active"
        try:
            return Outcome.from_json((self._dirs["done"] / f"{request_id}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def prune(self) -> None:
        """Forget outcomes older than ``keep_finished_seconds``."""
        horizon = time.time() - self.keep_finished_seconds
        for path in self._dirs["done"].glob("*.json"):
            if path.stat().st_mtime < horizon:
                path.unlink(missing_ok=True)

    def __len__(self) -> int:
        with self._ready:
            return len(self._ids)

    def pending(self) -> int:
        with self._ready:
            return len(self._heap)

    def _next_sequence(self) -> int:
        self._sequence = max(self._sequence + 1, time.time_ns())
        return self._sequence


def _id_of(name: str) -> str:
    return name.split("-", 1)[1].removesuffix(".json")


def _write_durably(tmp: Path, target: Path, text: str) -> None:
    """Write, fsync, rename, fsync the directory: after return the file survives a power cut."""
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
