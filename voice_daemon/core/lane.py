"""The interactive lane: connection-bound requests whose audio streams back to their caller.

Wyoming and HTTP callers wait on the line, so their requests go ahead of queued announcements
(the worker serves them between two text pieces of an announcement), in turns of one text piece
each, and are kept in memory only: if the daemon stops, the caller is gone too.  A caller that
goes away cancels its :class:`Stream`; the worker then stops at the next chunk.

A caller that stops reading costs a bounded amount of work: its source reports what the caller
has actually received (:meth:`Stream.delivered`), the worker makes the next piece only while
:meth:`Stream.ready` (no more than ``lookahead_seconds`` made ahead of that), and a stream whose
caller has taken nothing for the source's timeout is cancelled (:meth:`Stream.audio`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np

from voice_daemon.core.request import SpeechRequest
from voice_daemon.errors import Busy, Cancelled, VoiceDaemonError
from voice_daemon.synthesis.types import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_LOOKAHEAD_SECONDS = 5.0
_WATCH_SECONDS = 0.25  # how often a stream being sent checks what its caller has received


class Stream:
    """One interactive request: its audio (float32, 24 kHz mono) as it is made.

    Iterate it (blocking) or ``async for`` over :meth:`audio` (on an event loop); either ends
    after the last chunk, or raises the VoiceDaemonError the request failed or was cancelled with.
    Thread-safe: the worker feeds it on its thread, the source takes from it on its own.
    """

    sample_rate = SAMPLE_RATE  # of every chunk

    def __init__(self, request: SpeechRequest, lookahead_seconds: float = DEFAULT_LOOKAHEAD_SECONDS) -> None:
        self.request = request
        self.cancelled = threading.Event()
        self.facts: dict[str, Any] = {}  # the 'done' event's data, once it has ended
        self.notes: dict[str, Any] = {}  # what the source adds to the 'done' event (keep-alive silence)
        self.lookahead = round(lookahead_seconds * SAMPLE_RATE)  # samples
        self._changed = threading.Condition()
        self._chunks: deque[np.ndarray] = deque()
        self._ended = False
        self._error: VoiceDaemonError | None = None  # what it failed with
        self._why: VoiceDaemonError | None = None  # why it was cancelled
        self._fed = 0  # samples made
        self._received = 0  # samples the caller has received (as its source reports, else as taken)
        self._metered = False  # a source reports what its caller received (see audio)
        self._progress = 0.0  # when the caller last received something (or the first chunk came)
        self._wakers: list[Callable[[], None]] = []

    # -- the caller's side ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._chunks or self._ended or self.cancelled.is_set())
                item = self._next()
            if item is None:
                return
            yield item

    async def audio(
        self,
        received: Callable[[], int] | None = None,
        *,
        stall_seconds: float | None = None,
        on_stall: Callable[[], None] = lambda: None,
    ) -> AsyncIterator[np.ndarray]:
        """The chunks on the running event loop, as they are made (no thread waits for them).

        ``received`` tells how many samples the caller has received so far (checked every
        quarter second, see :meth:`delivered`; without it, and when iterated, a chunk taken
        counts as received); when it has taken nothing for ``stall_seconds`` while audio waits
        for it, the stream is cancelled (``Cancelled``: the caller stopped reading; the worker's
        failed event is the warning) and ``on_stall`` runs (close the connection).  Leaving the
        loop early cancels the stream (the caller went away).
        """
        loop, arrived = asyncio.get_running_loop(), asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the daemon is stopping
                loop.call_soon_threadsafe(arrived.set)

        with self._changed:
            self._wakers.append(wake)
            self._metered = received is not None
        watch = loop.create_task(self._watch(received, stall_seconds, on_stall)) if received else None
        try:
            while True:
                with self._changed:
                    waiting = not (self._chunks or self._ended or self.cancelled.is_set())
                    if waiting:
                        arrived.clear()
                    else:
                        item = self._next()
                if waiting:
                    await arrived.wait()
                elif item is None:
                    return
                else:
                    yield item
        finally:
            if watch is not None:
                watch.cancel()
            with self._changed:
                self._wakers.remove(wake)
            self.cancel()  # a no-op once it has ended

    def delivered(self, samples: int) -> None:
        """The caller has received ``samples`` of the audio so far (not merely: they were written)."""
        with self._changed:
            if samples > self._received:
                self._received = samples
                self._progress = time.monotonic()

    def cancel(self, error: VoiceDaemonError | None = None) -> None:
        """The caller is gone or no longer wants the audio; ``error`` says why (see :meth:`cancel_error`).

        A no-op once the stream has ended or was cancelled before.
        """
        with self._changed:
            if self._ended or self.cancelled.is_set():
                return
            self._why = error
            self.cancelled.set()
            self._wake()

    def cancel_error(self) -> VoiceDaemonError:
        """Why the stream was cancelled: the error given to :meth:`cancel`, or that the caller went away."""
        return self._why or Cancelled("cancelled: the caller went away")

    # -- the worker's side ----------------------------------------------------------------------

    def ready(self) -> bool:
        """May the worker make this stream's next piece now?

        False while more than ``lookahead_seconds`` of the audio fed has not been received by the
        caller; True once the stream is cancelled (the worker then ends it with
        :meth:`cancel_error`).
        """
        with self._changed:
            return self.cancelled.is_set() or self._fed - self._received <= self.lookahead

    def feed(self, chunk: np.ndarray) -> None:
        with self._changed:
            if self._fed == 0:
                self._progress = time.monotonic()  # the caller's time to take it runs from here
            self._fed += len(chunk)
            self._chunks.append(chunk)
            self._wake()

    def finish(self, facts: dict[str, Any]) -> None:
        with self._changed:
            self.facts = facts
            self._ended = True
            self._wake()

    def fail(self, error: VoiceDaemonError) -> None:
        with self._changed:
            self._error = error
            self._ended = True
            self._wake()

    # -- inside (with self._changed held) -------------------------------------------------------

    def _next(self) -> np.ndarray | None:
        """The next chunk; None at the end; raises what the request failed or was cancelled with."""
        if self.cancelled.is_set():
            raise self.cancel_error()
        if self._chunks:
            chunk = self._chunks.popleft()
            if not self._metered:  # taken is received: no source tells more
                self._received += len(chunk)
                self._progress = time.monotonic()
            return chunk
        if self._error is not None:
            raise self._error
        return None

    def _wake(self) -> None:
        self._changed.notify_all()
        for wake in self._wakers:
            wake()

    def _stalled(self, seconds: float) -> bool:
        return self._fed > self._received and time.monotonic() - self._progress >= seconds

    async def _watch(
        self, received: Callable[[], int], seconds: float | None, on_stall: Callable[[], None]
    ) -> None:
        """Record what the caller has received; cancel the stream once it has taken nothing for
        ``seconds``."""
        while not self.cancelled.is_set():
            await asyncio.sleep(_WATCH_SECONDS)
            self.delivered(received())
            with self._changed:
                stalled = seconds is not None and self._stalled(seconds)
            if stalled:
                why = f"cancelled: the caller stopped reading (took nothing for {seconds:g} s)"
                with self._changed:  # also once the worker has finished: what is left is not sent
                    self._why = Cancelled(why)
                    self.cancelled.set()
                    self._wake()
                    ended = self._ended
                # the warning is the worker's failed event, unless it had ended the stream already
                log.log(
                    logging.WARNING if ended else logging.INFO,
                    "request %s %s; its connection is closed",
                    self.request.id,
                    why,
                )
                on_stall()
                return


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
