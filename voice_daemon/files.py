"""Files the daemon writes: atomic (and optionally durable) replacement, leftovers, safe names,
and the one way a failed write is put into words."""

from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from voice_daemon.errors import StorageError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """``name`` reduced to letters, digits, ``.``, ``_`` and ``-`` (at most 120 characters)."""
    return _UNSAFE.sub("_", name).strip("._")[:120] or "speech"


def shown(name: str) -> str:
    """A file name as text that can go anywhere (logs, events): bytes of a name that are not
    UTF-8 (which Python keeps as lone surrogates) written as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@contextmanager
def replacing(path: Path, durable: bool = False, staging: Path | None = None) -> Iterator[BinaryIO]:
    """A binary handle on a temporary file (``.NAME.*.tmp`` beside ``path``, or in ``staging`` on
    the same file system), renamed onto ``path`` when the block ends without an exception and
    removed when it raises: readers see the old file or the new one, never half of one.

    ``durable`` fsyncs the data before the rename and the folder after it, so that once the block
    has ended the file survives a power cut.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=staging or path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    """``path`` holds ``text`` (UTF-8) all at once: a reader never sees it empty or half written."""
    with replacing(path) as handle:
        handle.write(text.encode("utf-8"))


def storage_error(exc: OSError, folder: Path, role: str) -> StorageError:
    """``exc`` from writing into ``folder`` (its ``role``: "output folder", "queue folder") in words."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"{role} {folder} is full ({exc.strerror}); free some space")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(f"{role} {folder} is not writable ({exc.strerror})")
    return StorageError(f"cannot write to {role} {folder}: {exc.strerror or exc}")


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove_stale_temporaries(folder: Path, min_age: float = 0) -> int:
    """Delete what interrupted :func:`replacing` blocks left in ``folder``: ``.*.tmp`` files not
    modified for ``min_age`` seconds (where other processes may be writing, as in the caches
    that ``voice-daemon say`` and the Python API share with the daemon).  Returns how many.
    """
    cutoff = time.time() - min_age
    removed = 0
    for stale in folder.glob(".*.tmp"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
                removed += 1
        except FileNotFoundError:  # its writer finished or removed it meanwhile
            continue
    return removed


def prune(folder: Path, older_than_seconds: float, pattern: str = "*") -> None:
    """Remove the files in ``folder`` matching ``pattern`` last changed longer than the given age ago."""
    horizon = time.time() - older_than_seconds
    for path in folder.glob(pattern):
        try:
            if path.stat().st_mtime < horizon:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass  # removed meanwhile
