"""The Stream's rules, in milliseconds: the lookahead (``ready``), why it was cancelled, its
async iterator (chunks onto an event loop, no thread), the stall rule; and ``Received``, what a
caller has actually received of what was written (the kernel's count on a real socket pair).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest

from voice_daemon.core.lane import Stream
from voice_daemon.core.request import SpeechRequest
from voice_daemon.errors import Cancelled, Stopping, VoiceDaemonError
from voice_daemon.sources.received import Received

SECOND = np.zeros(Stream.sample_rate, dtype=np.float32)


def stream(lookahead: float = 2.0) -> Stream:
    return Stream(SpeechRequest(text="Hello.", source="test"), lookahead)


def test_ready_while_no_more_than_the_lookahead_is_made_ahead_of_what_the_caller_received() -> None:
    s = stream(lookahead=2.0)
    assert s.ready()
    s.feed(SECOND)
    s.feed(SECOND)
    assert s.ready()  # exactly the lookahead ahead
    s.feed(SECOND)
    assert not s.ready()
    s.delivered(Stream.sample_rate)
    assert s.ready()
    s.delivered(0)  # what was received does not shrink
    assert s.ready()
    s.feed(SECOND)
    assert not s.ready()
    s.cancel()
    assert s.ready()  # the worker goes on to end it


def test_without_a_source_s_report_a_chunk_taken_counts_as_received() -> None:
    s = stream(lookahead=1.0)
    for _ in range(3):
        s.feed(SECOND)
    assert not s.ready()
    chunks = iter(s)
    next(chunks)
    next(chunks)
    assert s.ready()


def test_cancel_says_why_and_is_a_no_op_once_ended() -> None:
    s = stream()
    assert isinstance(s.cancel_error(), Cancelled) and "the caller went away" in str(s.cancel_error())
    s.cancel(Stopping("the daemon is stopping"))
    s.cancel(Cancelled("later"))
    assert isinstance(s.cancel_error(), Stopping)
    with pytest.raises(Stopping):
        list(s)
    done = stream()
    done.feed(SECOND)
    done.finish({"audio_seconds": 1.0})
    done.cancel()
    assert not done.cancelled.is_set() and len(list(done)) == 1


def test_the_async_iterator_takes_chunks_fed_on_another_thread_then_the_failure() -> None:
    s = stream()

    def worker() -> None:
        for _ in range(3):
            time.sleep(0.02)
            s.feed(SECOND[:100])
        s.fail(VoiceDaemonError("synthesis failed"))

    async def take() -> list[int]:
        got = []
        with pytest.raises(VoiceDaemonError, match="synthesis failed"):
            async for chunk in s.audio():
                got.append(len(chunk))
        return got

    threading.Thread(target=worker).start()
    assert asyncio.run(take()) == [100, 100, 100]
    assert threading.active_count() < 10  # no thread per stream


def test_a_caller_that_takes_nothing_for_the_timeout_is_let_go_once() -> None:
    s, stalls = stream(), []
    s.feed(SECOND)

    async def take() -> None:
        async for _ in s.audio(lambda: 0, stall_seconds=0.5, on_stall=lambda: stalls.append(1)):
            await asyncio.sleep(3)  # the chunk is "sent", never received

    began = time.monotonic()
    with pytest.raises(Cancelled, match="the caller stopped reading"):
        asyncio.run(asyncio.wait_for(_consume_then_wait(s, take), 5))
    assert 0.5 <= time.monotonic() - began < 2
    assert stalls == [1] and s.cancelled.is_set()


async def _consume_then_wait(s: Stream, take: object) -> None:
    task = asyncio.ensure_future(take())  # type: ignore[operator]
    while not s.cancelled.is_set():
        await asyncio.sleep(0.05)
    task.cancel()
    raise s.cancel_error()


def test_a_caller_that_keeps_taking_is_never_let_go() -> None:
    s, received = stream(), [0]

    def worker() -> None:
        for _ in range(10):
            s.feed(SECOND[:2400])
            time.sleep(0.1)
        s.finish({})

    async def take() -> int:
        count = 0
        async for chunk in s.audio(lambda: received[0], stall_seconds=0.3):
            received[0] += len(chunk)
            count += 1
        return count

    threading.Thread(target=worker).start()
    assert asyncio.run(take()) == 10


def test_received_is_what_reached_the_peer_not_what_was_written() -> None:
    """Loopback TCP, a peer with a small receive buffer: the send buffer holds the rest, unsent."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.socket()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.connect(listener.getsockname())
    ours, _ = listener.accept()
    chunk = b"x" * 20_000  # 10,000 samples of 16-bit audio

    async def run() -> list[int]:
        _reader, writer = await asyncio.open_connection(sock=ours)
        received = Received(writer.transport)
        for _ in range(10):
            writer.write(chunk)
            received.wrote(len(chunk), samples=10_000)
        await asyncio.sleep(0.2)
        seen = [received.samples()]
        got = 0
        while got < 200_000:
            got += len(await asyncio.to_thread(peer.recv, 65536))
        await asyncio.sleep(0.2)
        seen.append(received.samples())
        writer.close()
        return seen

    try:
        stalled, read = asyncio.run(run())
    finally:
        peer.close()
        listener.close()
    assert stalled <= 20_000  # of 100,000 written: at most what the peer's small buffer took
    assert read == 100_000
