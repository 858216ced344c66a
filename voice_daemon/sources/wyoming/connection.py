"""One Wyoming client connection as a transport: bounded events in, events out, a lingering close.

The protocol (what an event means) is ``handler``'s; here are the parts every event shares:
events are read with bounds (``framing``) and an idle timeout, written with a count of the bytes
so the audio the client has actually received is known (``sources.received``), and a refusal is
closed lingering: after the ``error`` event nothing more is written, but what the client still
sends is read and discarded until it closes or :data:`LINGER_SECONDS` pass.  A client still
writing (Home Assistant's streaming order) would otherwise get a reset on its next write, and
the ``wyoming`` library's client never returns the event that did arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from wyoming.error import Error
from wyoming.event import Event, async_write_event

from voice_daemon.sources.received import Received
from voice_daemon.sources.wyoming.framing import BadEvent, BoundedReader, read_event

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0  # the most a refused client's remaining events are read (and discarded)
_IDLE_CHECK_SECONDS = 1.0


class Idle(Exception):
    """No event came for the connection's timeout while it was waiting for one."""


class Connection:
    """Events from and to one client; ``received`` tells what of the audio sent has arrived."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_event_bytes: int, timeout: float
    ) -> None:
        self.reader = BoundedReader(reader, max_event_bytes)
        self.writer = writer
        self.timeout = timeout
        self.received = Received(writer.transport)
        self.open = True  # events may still be written

    async def next_event(self, waiting: Callable[[], bool]) -> Event | None:
        """The next event; None once the client has gone.

        Raises BadEvent, or Idle when none came for ``timeout`` seconds while not ``waiting()``
        (a client waiting for audio is not idle).
        """
        reading = asyncio.ensure_future(read_event(self.reader))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            while not (await asyncio.wait({reading}, timeout=min(_IDLE_CHECK_SECONDS, self.timeout)))[0]:
                if waiting():
                    deadline = loop.time() + self.timeout
                elif loop.time() >= deadline:
                    raise Idle(f"no event for {self.timeout:g} s")
            return reading.result()
        except ConnectionError:
            return None
        finally:
            reading.cancel()

    async def send(self, event: Event, samples: int = 0) -> None:
        """Write ``event`` (carrying ``samples`` of audio); ConnectionError once the connection is closed.

        An event without audio must be taken within ``timeout`` (TimeoutError); audio waits as
        long as the stream allows (``Stream.audio`` lets a caller that stopped reading go).
        """
        if not self.open:
            raise ConnectionResetError("the connection is closing")
        counted = _Counted(self.writer)
        # wyoming annotates its writer as asyncio.StreamWriter; it calls only write, writelines, drain.
        if samples:
            await async_write_event(event, counted)  # type: ignore[arg-type]
        else:
            await asyncio.wait_for(async_write_event(event, counted), self.timeout)  # type: ignore[arg-type]
        self.received.wrote(counted.size, samples)

    async def refuse(self, text: str, code: str, linger: bool = True) -> None:
        """Send an ``error`` event, then close, lingering (see the module's note) unless told not to."""
        if not await self.end_with_error(text, code):
            return
        if linger:
            await self.linger()
        else:
            self.close()

    async def end_with_error(self, text: str, code: str) -> bool:
        """Send an ``error`` event and write nothing after it, leaving the connection open for the one
        reader to linger on; False if it was ending already."""
        if not self.open:
            return False
        log.info("wyoming: %s (%s); closing the connection", text, code)
        try:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await self.send(Error(text=text, code=code).event())
        finally:
            self.open = False
        return True

    async def linger(self) -> None:
        """Read and discard what the client still sends until it closes or LINGER_SECONDS pass; then close."""
        self.open = False
        with contextlib.suppress(ConnectionError, BadEvent, TimeoutError, asyncio.IncompleteReadError):
            async with asyncio.timeout(LINGER_SECONDS):
                while await read_event(self.reader) is not None:
                    pass
        self.close()

    def close(self) -> None:
        self.open = False
        self.writer.close()

    def abort(self) -> None:
        """Close at once, discarding what is not sent (a client that stopped reading)."""
        self.open = False
        self.writer.transport.abort()


class _Counted:
    """The writer ``async_write_event`` needs, counting the bytes it writes."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer, self.size = writer, 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self._writer.write(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.write(line)

    async def drain(self) -> None:
        await self._writer.drain()
