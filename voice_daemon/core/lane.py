"""The interactive lane: connection-bound requests whose audio streams back to their caller.

Wyoming and HTTP callers wait on the line, so their requests go ahead of queued announcements
(the worker serves them between two text pieces of an announcement), in turns of one text piece
each, and are kept in memory only: if the daemon stops, the caller is gone too.  A caller that
goes away cancels its :class:`Stream`; the worker then stops at the next chunk.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from voice_daemon.core.request import SpeechRequest
from voice_daemon.errors import Busy, Cancelled, VoiceDaemonError
from voice_daemon.synthesis.types import SAMPLE_RATE

_END = None


class Stream:
    """One interactive request: iterate it for its audio (float32, 24 kHz mono) as it is made.

    Iteration ends after the last chunk, or raises the VoiceDaemonError the request failed with.
    """

    sample_rate = SAMPLE_RATE  # of every chunk

    def __init__(self, request: SpeechRequest) -> None:
        self.request = request
        self.cancelled = threading.Event()
        self.facts: dict[str, Any] = {}  # the 'done' event's data, once it has ended
        self._chunks: queue.Queue[np.ndarray | None] = queue.Queue()
        self._error: VoiceDaemonError | None = None
        self._cancel_error: VoiceDaemonError | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        while (chunk := self._chunks.get()) is not _END:
            yield chunk
        if self._error is not None:
            raise self._error

    def cancel(self, error: VoiceDaemonError | None = None) -> None:
        """The caller is gone or no longer wants the audio; ``error`` says why (the first reason stays)."""
        if not self.cancelled.is_set():
            self._cancel_error = error
        self.cancelled.set()

    def cancel_error(self) -> VoiceDaemonError:
        """Why the stream was cancelled (its 'failed' event's error)."""
        return self._cancel_error or Cancelled("cancelled: the caller went away")

    def ready(self) -> bool:
        """Whether the worker may make this stream's next piece now."""
        return True

    # -- the worker's side ----------------------------------------------------------------------

    def feed(self, chunk: np.ndarray) -> None:
        self._chunks.put(chunk)

    def finish(self, facts: dict[str, Any]) -> None:
        self.facts = facts
        self._chunks.put(_END)

    def fail(self, error: VoiceDaemonError) -> None:
        self._error = error
        self._chunks.put(_END)


class Lane:
    """The line of :class:`Stream`\\ s, served in turns (round robin).  Thread-safe.

    A stream stays in the lane from :meth:`put` until the worker :meth:`remove`\\ s it; after each
    turn it goes to the back of the line.  At most ``max_size`` wait for their first turn.
    """

    def __init__(self, max_size: int, on_put: Callable[[], None]) -> None:
        self.max_size = max_size
        self._on_put = on_put
        self._streams: deque[Stream] = deque()
        self._started: set[Stream] = set()
        self._lock = threading.RLock()

    def put(self, stream: Stream, announce: Callable[[], None] = lambda: None) -> None:
        """Line ``stream`` up; raises Busy when ``max_size`` are waiting for their first turn.

        ``announce`` runs once it is in line, before the worker can take it: its 'queued' event
        comes before 'started'.  (The lock is re-entrant: a subscriber may read the lane's length.)
        """
        with self._lock:
            if len(self) >= self.max_size:
                raise Busy(f"{self.max_size} interactive requests are waiting already; try again shortly")
            self._streams.append(stream)
            announce()
        self._on_put()

    def streams(self) -> list[Stream]:
        """Every stream in the lane, in turn order."""
        with self._lock:
            return list(self._streams)

    def begin_turn(self, stream: Stream) -> None:
        """``stream`` has a turn: it no longer waits for its first."""
        with self._lock:
            self._started.add(stream)

    def end_turn(self, stream: Stream) -> None:
        """``stream``'s turn is over: it goes to the back of the line (if it is still in it)."""
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)
                self._streams.append(stream)

    def remove(self, stream: Stream) -> bool:
        """Take ``stream`` out of the lane (it has ended); False if it was not there."""
        with self._lock:
            self._started.discard(stream)
            if stream not in self._streams:
                return False
            self._streams.remove(stream)
            return True

    def __len__(self) -> int:
        """How many streams wait for their first turn."""
        with self._lock:
            return sum(stream not in self._started for stream in self._streams)
