"""The drop folder: ``NAME.txt`` (text) and ``NAME.json`` (a request) files become requests.

Life of a file: once complete it is claimed by renaming it into ``processing/`` (so a crash can
never process it twice), parsed and submitted through the seam; when its request ends it moves
to ``done/``, or to ``failed/`` with ``NAME.error.txt`` beside it (a refusal too: every answer
comes as an event).  While the queue is full, files simply wait in the folder.  On start-up,
files left in ``processing/`` are submitted again as second deliveries: finished ones are
filed, queued ones wait for their request, unknown ones are queued.  Only regular files are
read (a link, a pipe or a folder with a request's name is refused), and never more than
``max_payload_bytes`` of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import Any

from voice_daemon.core.events import Event, Notice
from voice_daemon.core.port import SourcePort
from voice_daemon.core.request import SpeechRequest, decode_fields, make_request
from voice_daemon.errors import DuplicateRequest, IdInUse, QueueFull, RequestError, VoiceDaemonError
from voice_daemon.files import prune, safe_name, shown, write_text_atomic
from voice_daemon.watching import SettledFiles

log = logging.getLogger(__name__)

REQUEST_SUFFIXES = (".txt", ".json")
SOURCE = "inbox"


class DropFolder:
    """Watches ``directory`` and turns complete request files into queued requests."""

    def __init__(self, directory: Path, seam: SourcePort, *, settle: float, rescan: float) -> None:
        self.directory = directory
        self.seam = seam
        self.processing, self.done, self.failed = (
            directory / name for name in ("processing", "done", "failed")
        )
        self._watcher = SettledFiles(
            directory, self._on_ready, accept=self._accepts, settle=settle, rescan=rescan
        )
        self._deferred = False  # files are waiting in the folder for room in the queue

    def start(self) -> None:
        for folder in (self.processing, self.done, self.failed):
            folder.mkdir(parents=True, exist_ok=True)
        self.seam.subscribe(self._on_notice)
        self._recover()
        self._watcher.start()

    def stop(self) -> None:
        self._watcher.stop()

    def prune(self, older_than_seconds: float) -> None:
        """Remove files in ``done/`` older than the given age."""
        prune(self.done, older_than_seconds)

    def _accepts(self, path: Path) -> bool:
        return (
            path.parent == self.directory
            and path.suffix in REQUEST_SUFFIXES
            and not path.name.startswith(".")
        )

    def _on_ready(self, path: Path) -> None:
        claimed = self.processing / path.name
        if not self.seam.has_room() or claimed.exists():
            self._deferred = True  # stays in the folder until there is room
            return
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return
        self._submit(claimed, redelivered=False)

    def _submit(self, claimed: Path, redelivered: bool) -> None:
        try:
            request = self._parse(claimed)
        except RequestError as exc:
            self.seam.refuse(exc, source=SOURCE, context={"file": claimed.name})
            return
        try:
            self.seam.submit(request, redelivered=redelivered)
        except QueueFull:
            os.rename(claimed, self.directory / claimed.name)
        except DuplicateRequest as exc:
            self._second_delivery(claimed, request, exc)
        except VoiceDaemonError as exc:
            self.seam.refuse(exc, request=request)

    def _parse(self, claimed: Path) -> SpeechRequest:
        limits = self.seam.limits
        raw = _read(claimed, limits.max_payload_bytes)
        data = decode_fields(raw, limits, "file", is_json=claimed.suffix == ".json")
        data.setdefault("id", _derived_id(claimed))
        fixed = {"source": SOURCE, "name": safe_name(claimed.stem), "context": {"file": claimed.name}}
        return make_request(data, limits, **fixed)

    def _recover(self) -> None:
        for claimed in sorted(self.processing.iterdir()):
            if claimed.suffix in REQUEST_SUFFIXES:
                self._submit(claimed, redelivered=True)

    def _second_delivery(self, claimed: Path, request: SpeechRequest, duplicate: DuplicateRequest) -> None:
        """The queue has this request already: after a crash, file what is finished."""
        outcome = duplicate.outcome
        if outcome is None:
            return  # still queued: filed when its request ends
        if outcome.request.context.get("file") == claimed.name and outcome.request.source == SOURCE:
            self._finish(claimed, outcome.state, outcome.data)
        else:  # answered like any refusal: its 'failed' event files it
            reused = IdInUse(
                f"request id {request.id!r} was already used by another request", request_id=request.id
            )
            self.seam.refuse(reused, request=request)

    def _on_notice(self, notice: Notice) -> None:
        if not isinstance(notice, Event) or not notice.final:
            return
        if notice.source == SOURCE and "file" in notice.context:
            self._finish(self.processing / notice.context["file"], notice.state, notice.data)
        if self._deferred and self.seam.below_half():
            self._deferred = False
            self._watcher.scan()  # room again: look at the waiting files now, not at the next rescan

    def _finish(self, claimed: Path, state: str, data: dict[str, Any]) -> None:
        if state == "done":
            self._file(claimed, self.done)
        else:
            self._file(claimed, self.failed, str(data.get("error", "failed")))

    def _file(self, claimed: Path, folder: Path, error: str | None = None) -> None:
        if error is not None:
            log.warning("drop-folder file %s failed: %s", shown(claimed.name), error)
            try:
                write_text_atomic(folder / f"{claimed.stem}.error.txt", error + "\n")
            except OSError as exc:
                log.error("cannot write %s: %s", folder / f"{claimed.stem}.error.txt", exc)
        with contextlib.suppress(FileNotFoundError):  # already filed
            os.replace(claimed, folder / claimed.name)


def _read(path: Path, limit: int) -> bytes:
    """The content of the regular file ``path``, read only if it is at most ``limit`` bytes."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError("the file name is not UTF-8 text; rename the file") from None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if os.path.islink(path):
            raise RequestError("the file is a symbolic link; only regular files are read") from None
        raise RequestError(f"cannot read the file: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise RequestError("not a regular file (a folder, a pipe, a device); only regular files are read")
        if info.st_size > limit:
            raise RequestError(f"file is {info.st_size} bytes, the maximum is {limit}")
        return handle.read(limit + 1)  # one byte more tells decode_fields that it grew too large


def _derived_id(path: Path) -> str:
    """A stable id for a file without one: its name and identity survive the claim rename."""
    info = path.stat()
    identity = f"{path.name}:{info.st_ino}:{info.st_mtime_ns}:{info.st_size}"
    return f"inbox-{safe_name(path.stem)[:60]}-{hashlib.sha1(identity.encode()).hexdigest()[:10]}"
