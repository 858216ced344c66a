"""What a caller has actually received of the audio written to its connection.

Written is not received: on loopback a socket's send buffer grows to megabytes, so a caller that
stops reading would look as if it took everything.  The kernel tells how many written bytes it
still holds (``SIOCOUTQ``: not yet sent, or not yet acknowledged by TCP; for a unix socket, the
buffers not yet read, counted whole); with what the event loop still buffers, the rest has
reached the caller.  A :class:`Received` counts the bytes written and where each chunk of audio
ends among them, and turns that into samples for :meth:`voice_daemon.core.lane.Stream.audio`.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
from collections import deque

_SIOCOUTQ = termios.TIOCOUTQ  # the same request number on Linux


class Received:
    """Bytes written to ``transport`` and the audio samples they carry; ``samples()`` received so far."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if sock is not None else -1
        self.written = 0  # bytes
        self.samples_written = 0
        self._ends: deque[tuple[int, int]] = deque()  # (bytes written, samples written) at each chunk's end
        self._received = 0  # samples

    def wrote(self, size: int, samples: int = 0) -> None:
        """``size`` more bytes were written, the end of a chunk of ``samples`` samples among them."""
        self.written += size
        if samples:
            self.samples_written += samples
            self._ends.append((self.written, self.samples_written))

    def unsent(self) -> int:
        """Bytes written that the caller has not received yet."""
        transport = self._transport
        buffered = 0 if transport.is_closing() else transport.get_write_buffer_size()
        return buffered + _kernel_unsent(self._fd)

    def samples(self) -> int:
        """Samples of audio the caller has received (a chunk counts once all of it has)."""
        got = self.written - self.unsent()
        while self._ends and self._ends[0][0] <= got:
            self._received = self._ends.popleft()[1]
        return self._received


def _kernel_unsent(fd: int) -> int:
    if fd < 0:
        return 0
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, _SIOCOUTQ, b"\0\0\0\0"))[0])
    except OSError:  # closed meanwhile: nothing more will arrive
        return 0
