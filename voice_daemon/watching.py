"""Noticing complete files in a folder: inotify events (watchdog) plus periodic rescans.

A file is *ready* once it is unchanged for ``settle`` seconds and either was closed after
writing / renamed into the folder, or (for files found by a scan) no process holds it open for
writing (checked in ``/proc`` where permissions allow).  inotify can overflow and drop events,
so the folder is also rescanned at start and every ``rescan`` seconds; ``on_ready`` must
therefore be idempotent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)
from watchdog.observers import Observer

log = logging.getLogger(__name__)

_TICK_SECONDS = 0.1
_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)


@dataclass
class _Pending:
    signature: tuple[int, int] | None
    due: float
    closed: bool


class SettledFiles:
    """Reports complete files under ``directory`` to ``on_ready`` and vanished ones to ``on_gone``."""

    def __init__(
        self,
        directory: Path,
        on_ready: Callable[[Path], None],
        on_gone: Callable[[Path], None] | None = None,
        *,
        accept: Callable[[Path], bool],
        settle: float = 0.5,
        rescan: float = 30,
        recursive: bool = False,
    ) -> None:
        self.directory = directory
        self.on_ready = on_ready
        self.on_gone = on_gone
        self.accept = accept
        self.settle = settle
        self.rescan = rescan
        self.recursive = recursive
        self._pending: dict[Path, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = Observer()
        self._thread = threading.Thread(target=self._loop, name=f"watch:{directory.name}", daemon=True)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._observer.schedule(_Handler(self), str(self.directory), recursive=self.recursive)
        self._observer.start()
        self.scan()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def scan(self) -> None:
        """Queue every accepted file for a readiness check (start-up, rescans, overflow)."""
        pattern = "**/*" if self.recursive else "*"
        for path in self.directory.glob(pattern):
            if path.is_file() and self.accept(path):
                self._arm(path, closed=False, keep=True)

    def _arm(self, path: Path, closed: bool, keep: bool = False) -> None:
        signature = _signature(path)
        with self._lock:
            if keep and path in self._pending:
                return
            self._pending[path] = _Pending(signature, time.monotonic() + self.settle, closed)

    def _changed(self, path: Path) -> None:
        if self.accept(path):
            self._arm(path, closed=False)

    def _completed(self, path: Path) -> None:
        if path.is_dir():  # a folder renamed in brings files that raised no events of their own
            for child in path.rglob("*"):
                if child.is_file() and self.accept(child):
                    self._arm(child, closed=True)
        elif self.accept(path):
            self._arm(path, closed=True)

    def _vanished(self, path: Path) -> None:
        with self._lock:
            self._pending.pop(path, None)
        if self.on_gone is not None and self.accept(path):
            self.on_gone(path)

    def _loop(self) -> None:
        next_scan = time.monotonic() + self.rescan
        while not self._stop.wait(_TICK_SECONDS):
            for path in self._due():
                self._check(path)
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + self.rescan
                self.scan()

    def _due(self) -> list[Path]:
        now = time.monotonic()
        with self._lock:
            return [path for path, pending in self._pending.items() if pending.due <= now]

    def _check(self, path: Path) -> None:
        signature = _signature(path)
        if signature is None:
            with self._lock:
                self._pending.pop(path, None)
            return
        with self._lock:
            pending = self._pending.get(path)
            if pending is None:
                return
            settled = pending.signature == signature and (pending.closed or not open_for_writing(path))
            if not settled:
                pending.signature, pending.due = signature, time.monotonic() + self.settle
                return
            del self._pending[path]
        try:
            self.on_ready(path)
        except Exception:
            log.exception("handling %s failed", path)


class _Handler(FileSystemEventHandler):
    def __init__(self, owner: SettledFiles) -> None:
        self.owner = owner

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        path = Path(os.fsdecode(event.src_path))
        if isinstance(event, FileSystemMovedEvent):
            self.owner._vanished(path)
            self.owner._completed(Path(os.fsdecode(event.dest_path)))
        elif event.event_type == "deleted":
            self.owner._vanished(path)
        elif isinstance(event, FileClosedEvent):
            self.owner._completed(path)
        elif not event.is_directory:
            self.owner._changed(path)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def open_for_writing(path: Path) -> bool:
    """True if any process we may inspect has ``path`` open for writing (Linux ``/proc``)."""
    target = str(path)
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in os.listdir(fd_dir):
                if os.readlink(fd_dir / fd) == target and _writable(fd_dir.parent / "fdinfo" / fd):
                    return True
        except OSError:
            continue  # process gone, or not ours to inspect
    return False


def _writable(fdinfo: Path) -> bool:
    for line in fdinfo.read_text().splitlines():
        if line.startswith("flags:"):
            return int(line.split()[1], 8) & os.O_ACCMODE in _WRITE_MODES
    return False
