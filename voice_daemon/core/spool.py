"""The durable request queue: a maildir on disk, claimed by atomic rename.

Layout under ``paths.spool``::

    tmp/   requests being written (never read)
    new/   accepted requests, named ``<priority><sequence>-<id>.json`` so that name order is
           urgent-first, then first-come-first-served
    cur/   the request the worker has claimed
    done/  ``<id>.json`` outcomes, kept for ``queue.keep_finished_hours`` so that a second
           delivery of a finished request is recognised and sources can finish their side
           after a crash

A request is in ``new/`` (written, fsynced, renamed) before :meth:`Spool.submit` returns, so a
source may acknowledge it then.  After a crash, :meth:`Spool.recover` puts claimed requests
back into ``new/``: nothing accepted is ever lost.

Ids: a *second delivery* of a request (``redelivered``: the broker says so, or the drop folder
recovers a file it had claimed) whose id the spool knows is refused with DuplicateRequest, and
so is a request whose id is still queued with the same content.  A new request that reuses the
id of a finished one is a new announcement; one that reuses a queued id for other content is
refused with IdInUse.
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
from typing import Any, Literal

from voice_daemon.core.request import SpeechRequest
from voice_daemon.errors import DuplicateRequest, IdInUse, QueueFull
from voice_daemon.files import prune, replacing, storage_error

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

    state: Literal["done", "failed"]
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
        self._files: dict[str, Path] = {}  # id -> its file in new/ or cur/
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
            self._files = {_id_of(name): self._dirs["new"] / name for name in self._heap}
        return len(self._heap)

    def submit(
        self, request: SpeechRequest, on_accepted: Callable[[], None] | None = None, redelivered: bool = False
    ) -> None:
        """Durably enqueue ``request``; raises QueueFull, DuplicateRequest or IdInUse (module docstring).

        ``on_accepted`` runs once the request is durable and before the worker can claim it, so
        a 'queued' event always precedes 'started'.  An OSError means it could not be stored.
        """
        with self._ready:
            self._check_id(request, redelivered)
            if len(self._files) >= self.max_size:
                raise QueueFull(f"queue is full ({self.max_size} requests waiting); try again later")
            name = f"{_URGENT if request.urgent else _NORMAL}{self._next_sequence():020d}-{request.id}.json"
            with replacing(self._dirs["new"] / name, durable=True, staging=self._dirs["tmp"]) as handle:
                handle.write(request.to_json().encode("utf-8"))
            heapq.heappush(self._heap, name)
            self._files[request.id] = self._dirs["new"] / name
            if on_accepted is not None:
                on_accepted()
            self._ready.notify_all()

    def has_room(self) -> bool:
        with self._ready:
            return len(self._files) < self.max_size

    def claim(
        self, timeout: float | None = None, interrupt: Callable[[], bool] | None = None
    ) -> Claim | None:
        """The next request (urgent first), moved to ``cur/``; None if none came within ``timeout``
        or ``interrupt()`` became true (checked whenever :meth:`wake` is called)."""
        with self._ready:
            if not self._ready.wait_for(
                lambda: self._heap or (interrupt is not None and interrupt()), timeout
            ):
                return None
            if not self._heap:
                return None
            name = heapq.heappop(self._heap)
            path = self._dirs["cur"] / name
            os.replace(self._dirs["new"] / name, path)
            self._files[_id_of(name)] = path
        try:
            return Claim(SpeechRequest.model_validate_json(path.read_text(encoding="utf-8")), path)
        except ValueError as exc:  # a damaged file must not stop the queue
            log.error("set aside unreadable request file %s: %s", path, exc)
            os.replace(path, path.with_suffix(".corrupt"))
            with self._ready:
                self._files.pop(_id_of(name), None)
            return self.claim(timeout=0)

    def wake(self) -> None:
        """Let a waiting :meth:`claim` look at its ``interrupt`` again."""
        with self._ready:
            self._ready.notify_all()

    def finish(self, claim: Claim, outcome: Outcome) -> None:
        """Record the outcome durably, then remove the claimed request.

        When the outcome cannot be written (a full disk) the request is removed all the same, so
        it is not spoken again after a restart; only a redelivery of it goes unrecognised.
        """
        target = self._dirs["done"] / f"{claim.request.id}.json"
        try:
            with replacing(target, durable=True, staging=self._dirs["tmp"]) as handle:
                handle.write(outcome.to_json().encode("utf-8"))
        except OSError as exc:
            log.error(
                "cannot record how request %s ended: %s",
                claim.request.id,
                storage_error(exc, self.root, "queue folder"),
            )
        claim.path.unlink(missing_ok=True)
        with self._ready:
            self._files.pop(claim.request.id, None)

    def release(self, claim: Claim) -> None:
        """Put a claimed request back at the head of its priority (shutdown mid-request)."""
        with self._ready:
            os.replace(claim.path, self._dirs["new"] / claim.path.name)
            heapq.heappush(self._heap, claim.path.name)
            self._files[claim.request.id] = self._dirs["new"] / claim.path.name
            self._ready.notify_all()

    def outcome(self, request_id: str) -> Outcome | None:
        """The recorded outcome of a finished request, or None."""
        try:
            return Outcome.from_json((self._dirs["done"] / f"{request_id}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def prune(self) -> None:
        """Forget outcomes older than ``keep_finished_seconds``."""
        prune(self._dirs["done"], self.keep_finished_seconds, "*.json")

    def __len__(self) -> int:
        with self._ready:
            return len(self._files)

    def pending(self) -> int:
        with self._ready:
            return len(self._heap)

    def _check_id(self, request: SpeechRequest, redelivered: bool) -> None:
        """Refuse a second delivery or a reused queued id (called with the lock held)."""
        queued = self._files.get(request.id)
        if queued is not None:
            if redelivered or _same_content(queued, request):
                raise DuplicateRequest(f"request {request.id} is already queued", outcome=None)
            raise IdInUse(f"request id {request.id!r} is already queued for another text; use a new id")
        if redelivered and (outcome := self.outcome(request.id)) is not None:
            raise DuplicateRequest(f"request {request.id} was already served", outcome=outcome)

    def _next_sequence(self) -> int:
        self._sequence = max(self._sequence + 1, time.time_ns())
        return self._sequence


def _same_content(path: Path, request: SpeechRequest) -> bool:
    try:
        queued = SpeechRequest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return queued.content() == request.content()


def _id_of(name: str) -> str:
    return name.split("-", 1)[1].removesuffix(".json")
