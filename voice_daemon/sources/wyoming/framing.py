"""Reading Wyoming events with bounds: the protocol library's own parser over a reader that
refuses a header line, data or payload longer than the limit before reading it.

``wyoming.event.async_read_event`` reads a JSON header line, then ``data_length`` and
``payload_length`` bytes with ``readexactly``, trusting the lengths; here those reads are
checked first, so a header claiming a gigabyte costs nothing.  Every way an event can be bad
ends in :class:`BadEvent` (answer it and close), and a client gone mid-event in None.
"""

from __future__ import annotations

import asyncio

from wyoming.event import Event, async_read_event

LINE_LIMIT = 65536  # asyncio's own limit on a line (the header), StreamReader's default


class BadEvent(Exception):
    """What arrived is not a Wyoming event we take; the message says why."""


class BoundedReader:
    """A StreamReader whose reads of more than ``limit`` bytes raise BadEvent instead."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self._reader, self.limit = reader, limit

    async def readline(self) -> bytes:
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise BadEvent(f"an event header is longer than {LINE_LIMIT} bytes") from None
        except asyncio.IncompleteReadError as exc:  # the end of the stream: what came, as readline gives it
            return exc.partial

    async def readexactly(self, count: int) -> bytes:
        if not isinstance(count, int) or count > self.limit:
            raise BadEvent(
                f"an event announces {count!r} bytes of data or payload; at most {self.limit} are taken"
            )
        return await self._reader.readexactly(count)

    def at_eof(self) -> bool:
        return self._reader.at_eof()

    def feed_eof(self) -> None:
        self._reader.feed_eof()


async def read_event(reader: BoundedReader) -> Event | None:
    """The next event; None at the end of the stream (also in the middle of an event); BadEvent."""
    try:
        # wyoming annotates its reader as asyncio.StreamReader; BoundedReader has the reads it uses.
        event = await async_read_event(reader)  # type: ignore[arg-type]
    except asyncio.IncompleteReadError:
        return None
    except (KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise BadEvent(f"not a Wyoming event ({type(exc).__name__})") from None
    if event is None and not reader.at_eof():  # the library's parser gave up on a line (bad JSON)
        raise BadEvent("not a Wyoming event (the header is not a JSON object)")
    if event is not None and not (isinstance(event.type, str) and isinstance(event.data, dict)):
        raise BadEvent("not a Wyoming event (type must be a string, data an object)")
    return event
