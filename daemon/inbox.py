"""The drop folder: ``NAME.txt`` (text) and ``NAME.json`` (a request) files become requests.

Life of a file: once complete it is claimed by renaming it into ``processing/`` (so a crash can
never process it twice), parsed and handed to the intake; when its request ends it moves to
``done/`` or to ``failed/`` with ``NAME.error.txt`` beside it.  While the queue is full, files
simply wait in the folder.  On start-up, files left in ``processing/`` are reconciled with the
spool: finished ones are filed, unknown ones are submitted again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from .errors import DuplicateRequest, QueueFull, RequestError, VoiceDaemonError
from .events import Event
from .intake import Intake
from .request import SpeechRequest, decode_fields, make_request
from .sinks import safe_name
from .spool import Outcome, Spool
from .watching import SettledFiles

log = logging.getLogger(__name__)

REQUEST_SUFFIXES = (".txt", ".json")
SOURCE = "inbox"


class Inbox:
    """Watches ``directory`` and turns complete request files into queued requests."""

    def __init__(self, directory: Path, intake: Intake, spool: Spool, *, settle: float, rescan: float) -> None:
        self.directory = directory
        self.intake = intake
        self.spool = spool
        self.processing, self.done, self.failed = (directory / name for name in ("processing", "done", "failed"))
        self._watcher = SettledFiles(directory, self._on_ready, accept=self._accepts, settle=settle, rescan=rescan)
        self._deferred = False  # files are waiting in the folder for room in the queue

    def start(self) -> None:
        for folder in (self.processing, self.done, self.failed):
            folder.mkdir(parents=True, exist_ok=True)
        self.intake.events.subscribe(self._on_event)
        self._recover()
        self._watcher.start()

    def stop(self) -> None:
        self._watcher.stop()

    def prune(self, older_than_seconds: float) -> None:
        """Remove files in ``done/`` older than the given age."""
        horizon = time.time() - older_than_seconds
        for path in self.done.iterdir():
            if path.stat().st_mtime < horizon:
                path.unlink(missing_ok=True)

    def _accepts(self, path: Path) -> bool:
        return path.parent == self.directory and path.suffix in REQUEST_SUFFIXES and not path.name.startswith(".")

    def _on_ready(self, path: Path) -> None:
        claimed = self.processing / path.name
        if not self.intake.has_room() or claimed.exists():
            self._deferred = True  # stays in the folder until there is room
            return
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return
        self._submit(claimed)

    def _submit(self, claimed: Path) -> None:
        try:
            request = self._parse(claimed)
        except RequestError as exc:
            self._file(claimed, self.failed, str(exc))
            return
        try:
            self.intake.submit(request)
        except QueueFull:
            os.rename(claimed, self.directory / claimed.name)
        except DuplicateRequest:
            self._reconcile(claimed, request)
        except VoiceDaemonError as exc:
            self.intake.reject(request, exc)

    def _parse(self, claimed: Path) -> SpeechRequest:
        limits = self.intake.limits
        data = decode_fields(claimed.read_bytes(), limits, "file", is_json=claimed.suffix == ".json")
        data.setdefault("id", _derived_id(claimed))
        fixed = {"source": SOURCE, "name": safe_name(claimed.stem), "context": {"file": claimed.name}}
        return make_request(data, limits, **fixed)

    def _recover(self) -> None:
        for claimed in sorted(self.processing.iterdir()):
            if claimed.suffix in REQUEST_SUFFIXES:
                self._submit(claimed)

    def _reconcile(self, claimed: Path, request: SpeechRequest) -> None:
        """The spool already knows this id: after a crash, finish what is finished."""
        status = self.spool.status(request.id)
        if isinstance(status, Outcome):
            if status.request.context.get("file") == claimed.name and status.request.source == SOURCE:
                self._finish(claimed, status.state, status.data)
            else:
                self._file(claimed, self.failed, f"request id {request.id!r} was already used by another request")
        elif status is None:
            self._file(claimed, self.failed, f"request id {request.id!r} could not be queued")

    def _on_event(self, event: Event) -> None:
        if event.state not in ("done", "failed"):
            return
        if event.request.source == SOURCE:
            self._finish(self.processing / event.request.context["file"], event.state, event.data)
        if self._deferred and self.spool.pending() <= self.spool.max_size // 2:
            self._deferred = False
            self._watcher.scan()  # room again: look at the waiting files now, not at the next rescan

    def _finish(self, claimed: Path, state: str, data: dict) -> None:
        if state == "done":
            self._file(claimed, self.done)
        else:
            self._file(claimed, self.failed, str(data.get("error", "failed")))

    def _file(self, claimed: Path, folder: Path, error: str | None = None) -> None:
        if error is not None:
            log.warning("drop-folder file %s failed: %s", claimed.name, error)
            (folder / f"{claimed.stem}.error.txt").write_text(error + "\n", encoding="utf-8")
        try:
            os.replace(claimed, folder / claimed.name)
        except FileNotFoundError:
            pass  # already filed


def _derived_id(path: Path) -> str:
    """A stable id for a file without one: its name and identity survive the claim rename."""
    stat = path.stat()
    identity = f"{path.name}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"
    return f"inbox-{safe_name(path.stem)[:60]}-{hashlib.sha1(identity.encode()).hexdigest()[:10]}"
