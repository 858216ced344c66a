"""Atomic file replacement: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def replacing(path: Path, durable: bool = False) -> Iterator[BinaryIO]:
    """A binary handle on a temporary file beside ``path`` (``.NAME.*.tmp``), renamed onto ``path``
    when the block ends without an exception and removed when it raises.

    ``durable`` fsyncs the data before the rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
