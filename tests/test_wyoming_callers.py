"""How the Wyoming source treats its callers, in-process against the fake seam in seconds: the
``wyoming`` library's own client (what Home Assistant uses) and raw sockets against the real
server on a loopback port, a stand-in worker (``tests/support/slowworker.py``) behind the seam.

Covered: refusals the client's library returns (Home Assistant's streaming order, and over
``max_connections``), a caller that stops reading (bounded work, let go with one ``failed``
event and one warning while another caller is served), keep-alive silence while the text or the
synthesis is behind (and none after the last audio), and each reply ending with ``stopping``
when the daemon stops.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import pytest
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, async_write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from tests.support.fakeseam import FakeSeam
from tests.support.slowworker import RATE, SlowWorker
from voice_daemon.core.request import Limits
from voice_daemon.errors import ConfigError
from voice_daemon.settings import WyomingSettings
from voice_daemon.sources.wyoming.server import WyomingSource

HA_TEXT = ("Hello ", "there. ", "How are ", "you?")


@contextmanager
def serving(fake: FakeSeam, **settings: Any) -> Iterator[int]:
    """The Wyoming server on a free loopback port, on ``fake``; yields the port."""
    source = WyomingSource(WyomingSettings(enabled=True, uri="tcp://127.0.0.1:0", **settings))
    source.open()
    source.attach(fake).start()
    try:
        yield int(urlparse(source.uri).port or 0)
    finally:
        source.stop()


async def home_assistant_order(port: int, voice: str | None, text: tuple[str, ...] = HA_TEXT) -> list[Event]:
    """Home Assistant's streaming order, all written before anything is read; the events that come back."""
    client = AsyncTcpClient("127.0.0.1", port)
    await client.connect()
    chosen = SynthesizeVoice(name=voice) if voice else None
    try:
        await client.write_event(SynthesizeStart(voice=chosen).event())
        for piece in text:
            await client.write_event(SynthesizeChunk(text=piece).event())
        await client.write_event(Synthesize(text="".join(text), voice=chosen).event())
        await client.write_event(SynthesizeStop().event())
        return await read_all(client, 10)
    finally:
        await client.disconnect()


async def read_all(client: AsyncTcpClient, timeout: float, until: str = "synthesize-stopped") -> list[Event]:
    events: list[Event] = []
    while (event := await asyncio.wait_for(client.read_event(), timeout)) is not None:
        events.append(event)
        if event.type in (until, "error"):
            break
    return events


def test_an_unknown_voice_in_home_assistant_s_streaming_order_reaches_the_library_s_client_20_of_20() -> None:
    fake = FakeSeam()
    with serving(fake) as port:

        async def twenty() -> list[list[Event] | BaseException]:
            tries = [home_assistant_order(port, "nobody") for _ in range(20)]
            return await asyncio.gather(*tries, return_exceptions=True)

        answers = asyncio.run(twenty())
    assert [a[-1].type if isinstance(a, list) else repr(a) for a in answers] == ["error"] * 20
    assert {a[-1].data["code"] for a in answers if isinstance(a, list)} == {"unknown_voice"}
    assert [event.data["code"] for event in fake.failures] == ["unknown_voice"] * 20  # one failed event each


def test_refused_over_max_connections_while_sending_at_once_20_of_20() -> None:
    fake = FakeSeam()
    with serving(fake, max_connections=1) as port:

        async def run() -> list[list[Event] | BaseException]:
            holder = AsyncTcpClient("127.0.0.1", port)
            await holder.connect()
            await holder.write_event(Describe().event())
            assert (await holder.read_event()).type == "info"  # type: ignore[union-attr]
            try:
                tries = [home_assistant_order(port, None) for _ in range(20)]
                return await asyncio.gather(*tries, return_exceptions=True)
            finally:
                await holder.disconnect()

        answers = asyncio.run(run())
    assert [a[-1].data.get("code") if isinstance(a, list) else repr(a) for a in answers] == ["busy"] * 20
    assert [event.data["code"] for event in fake.failures] == ["busy"] * 20


def test_a_source_opened_and_stopped_or_failing_to_listen_leaves_no_file_descriptor_open() -> None:
    """Its event loop (selector and self-pipe) is closed on every path, not left to the collector."""
    kept: list[WyomingSource] = []  # held, so that only closing (not collection) frees them
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        kept.append(WyomingSource(WyomingSettings(enabled=True, uri="tcp://127.0.0.1:0")))
        kept[-1].open()
        with pytest.raises(ConfigError, match="cannot listen"):  # the port just taken
            kept.append(WyomingSource(WyomingSettings(enabled=True, uri=kept[-1].uri)))
            kept[-1].open()
        kept[-1].stop()  # as the daemon does after a failed start: once more
        kept[-2].stop()
        kept.append(WyomingSource(WyomingSettings(enabled=True, uri="tcp://127.0.0.1:0")))
        kept[-1].stop()  # made, never opened
    assert len(os.listdir("/proc/self/fd")) == before


def stalled_caller(port: int, text: str) -> socket.socket:
    """A client with a small receive buffer that asks for ``text`` and never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))

    class Writer:
        def __init__(self) -> None:
            self.data = b""

        def writelines(self, lines: Any) -> None:
            self.data += b"".join(lines)

        def write(self, data: bytes) -> None:
            self.data += data

        async def drain(self) -> None:
            pass

    writer = Writer()
    asyncio.run(async_write_event(Synthesize(text=text).event(), writer))  # type: ignore[arg-type]
    sock.sendall(writer.data)
    return sock


def test_a_caller_that_stops_reading_costs_bounded_work_and_is_let_go_while_another_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeSeam()
    worker = SlowWorker(fake, chunks=2, chunk_seconds=0.25, delay=0.02, lookahead=1.0)
    long_text = " ".join(f"Sentence number {n} of a long text." for n in range(20))
    with (
        caplog.at_level(logging.INFO),
        serving(fake, timeout_seconds=2) as port,
        stalled_caller(port, long_text) as stalled,  # closed too when an assertion fails first
    ):
        time.sleep(0.5)

        async def second() -> tuple[float, list[Event]]:
            client, asked = AsyncTcpClient("127.0.0.1", port), time.monotonic()
            await client.connect()
            await client.write_event(Synthesize(text="One sentence.").event())
            events = await read_all(client, 10, until="audio-stop")
            await client.disconnect()
            return time.monotonic() - asked, events

        took, events = asyncio.run(second())
        assert [e.type for e in events][-1] == "audio-stop" and took < 3
        stalled_request = fake.streams[0].request
        eventually(lambda: fake.failures)
        closed_now = closed(stalled, 5)
    failures = [e for e in fake.failures if e.id == stalled_request.id]
    assert len(failures) == 1 and "the caller stopped reading" in failures[0].data["error"]
    assert failures[0].data["code"] == "cancelled"
    assert worker.made[stalled_request.id] <= 5  # of 20 pieces: lookahead 1 s, 0.5 s a piece
    assert closed_now
    said = [r.levelno for r in caplog.records if "stopped reading" in r.getMessage()]
    assert said == [logging.INFO]  # the warning is the failed event's (the real event bus logs it)


def eventually(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def closed(sock: socket.socket, timeout: float) -> bool:
    """Read what is there; True once the server has closed (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    finally:
        sock.close()
    return True


async def timed_events(client: AsyncTcpClient, until: str) -> list[tuple[float, Event]]:
    got: list[tuple[float, Event]] = []
    while (event := await asyncio.wait_for(client.read_event(), 15)) is not None:
        got.append((time.monotonic(), event))
        if event.type in (until, "error"):
            break
    return got


def audio_gaps(got: list[tuple[float, Event]]) -> tuple[float, list[bool]]:
    """The longest wait for an audio-chunk after audio-start, and which chunks were silent."""
    started = next(at for at, event in got if AudioStart.is_type(event.type))
    chunks = [(at, AudioChunk.from_event(event)) for at, event in got if AudioChunk.is_type(event.type)]
    times = [started] + [at for at, _ in chunks]
    return max(b - a for a, b in itertools.pairwise(times)), [not any(c.audio) for _, c in chunks]


def test_keep_alive_silence_while_the_text_pauses_counted_in_done_and_none_after_the_end() -> None:
    fake = FakeSeam()
    SlowWorker(fake, chunks=2, chunk_seconds=0.2)
    with serving(fake, keepalive_seconds=0.5) as port:

        async def run() -> list[tuple[float, Event]]:
            client = AsyncTcpClient("127.0.0.1", port)
            await client.connect()
            reading = asyncio.ensure_future(timed_events(client, "synthesize-stopped"))
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text="The first sentence. ").event())
            await asyncio.sleep(2.5)  # an LLM calling a tool
            await client.write_event(SynthesizeChunk(text="The second one.").event())
            await client.write_event(SynthesizeStop().event())
            got = await reading
            await client.disconnect()
            return got

        got = asyncio.run(run())
    longest, silent = audio_gaps(got)
    assert longest < 0.5 + 0.3
    assert any(silent) and not silent[-1] and not silent[0]
    assert sum(silent) >= 3
    done = [e for e in fake.events if e.state == "done"]
    assert [e.data.get("keepalive_seconds", 0) > 0 for e in done] == [False, True]


def test_keep_alive_while_synthesis_is_behind_and_no_silence_after_the_last_audio() -> None:
    fake = FakeSeam()
    SlowWorker(fake, chunks=1, chunk_seconds=0.2, delays=[0, 1.6])  # the second piece is slow
    with serving(fake, keepalive_seconds=0.5) as port:

        async def run() -> list[tuple[float, Event]]:
            client = AsyncTcpClient("127.0.0.1", port)
            await client.connect()
            await client.write_event(Synthesize(text="One. Two.").event())
            got = await timed_events(client, "audio-stop")
            await asyncio.sleep(1.2)  # nothing more comes after audio-stop either
            await client.disconnect()
            return got

        got = asyncio.run(run())
    longest, silent = audio_gaps(got)
    assert longest < 0.8 and any(silent)
    assert not silent[-1]  # the last chunk is real audio: no silence after it
    assert got[-1][1].type == "audio-stop"
    assert [e.data.get("keepalive_seconds", 0) > 0 for e in fake.events if e.state == "done"] == [True]


def test_on_stop_each_reply_in_progress_ends_with_a_stopping_error(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeSeam()
    SlowWorker(fake, chunks=4, chunk_seconds=0.2, delay=0.3)
    source = WyomingSource(WyomingSettings(enabled=True, uri="tcp://127.0.0.1:0"))
    source.open()
    source.attach(fake).start()
    port = int(urlparse(source.uri).port or 0)
    stopped: list[float] = []

    def stop() -> None:
        began = time.monotonic()
        source.stop()
        stopped.append(time.monotonic() - began)

    async def run() -> list[Event]:
        client = AsyncTcpClient("127.0.0.1", port)
        await client.connect()
        await client.write_event(Synthesize(text="A long one. With many. Sentences in it. To say.").event())
        events = [await asyncio.wait_for(client.read_event(), 10) for _ in range(2)]  # audio-start, a chunk
        threading.Thread(target=stop).start()
        events += await read_all(client, 10, until="error")
        await client.disconnect()
        return [e for e in events if e is not None]

    with caplog.at_level(logging.INFO):
        events = asyncio.run(run())
        while not stopped:
            time.sleep(0.05)
    assert events[-1].type == "error" and events[-1].data["code"] == "stopping"
    assert "audio-stop" not in [e.type for e in events]
    assert stopped[0] < 3
    eventually(lambda: fake.failures)
    assert [e.data["code"] for e in fake.failures] == ["stopping"]  # one failed event, saying why
    assert any("daemon is stopping" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_chunks_are_whole_and_counted_in_what_the_caller_received() -> None:
    fake = FakeSeam()
    SlowWorker(fake, chunks=3, chunk_seconds=0.25)
    with serving(fake) as port:
        events = asyncio.run(home_assistant_order(port, None, ("One. ", "Two.")))
    audio = b"".join(AudioChunk.from_event(e).audio for e in events if AudioChunk.is_type(e.type))
    assert len(audio) == 2 * 3 * round(0.25 * RATE) * 2
    assert [e.type for e in events][-2:] == ["audio-stop", "synthesize-stopped"]


def test_a_sentence_that_finds_the_lane_full_later_is_refused_with_its_failed_event() -> None:
    fake = FakeSeam()
    SlowWorker(fake, chunks=3, chunk_seconds=0.2, delay=0.2)
    with serving(fake) as port:

        async def run() -> list[Event]:
            client = AsyncTcpClient("127.0.0.1", port)
            await client.connect()
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text="The first sentence. ").event())
            await client.write_event(SynthesizeChunk(text="The second one. ").event())
            eventually(lambda: len(fake.streams) == 2)
            fake.busy = True  # the lane is full by the time the third may line up
            await client.write_event(SynthesizeChunk(text="The third one.").event())
            await client.write_event(SynthesizeStop().event())
            events = await read_all(client, 10)
            await client.disconnect()
            return events

        events = asyncio.run(run())
    assert events[-1].type == "error" and events[-1].data["code"] == "busy"
    refused = [e for e in fake.failures if e.data.get("code") == "busy"]
    assert len(refused) == 1 and refused[0].request is not None
    assert refused[0].request.text == "The third one."


MAX_TEXT = 300


@pytest.mark.parametrize(
    ("events", "expected", "code"),
    [
        ([Synthesize("   ").event()], "text is empty", "bad_request"),
        (
            [Synthesize("Hello.", voice=SynthesizeVoice(name="ghost (de)")).event()],
            "unknown voice 'ghost'",
            "unknown_voice",
        ),
        (
            [Synthesize("Hello.", voice=SynthesizeVoice(name="alice (tlh)")).event()],
            "unsupported language 'tlh'",
            "bad_request",
        ),
        (
            [Event("synthesize", {"text": "Hi.", "voice": {"name": "alice", "language": "xx"}})],
            "unsupported",
            "bad_request",
        ),
        ([Synthesize("x" * (MAX_TEXT + 1)).event()], f"the maximum is {MAX_TEXT}", "bad_request"),
        ([Event("synthesize", {"text": 5})], "text must be a string", "bad_request"),
        (
            [Event("synthesize", {"voice": {"name": "alice"}})],
            "synthesize event whose data does not fit",
            "bad_request",
        ),
        ([Event("synthesize", {"text": "Hi.", "voice": 7})], "voice must be an object", "bad_request"),
        (
            [SynthesizeStart().event(), SynthesizeChunk("x" * (MAX_TEXT + 1)).event()],
            f"maximum is {MAX_TEXT}",
            "bad_request",
        ),
        ([SynthesizeStart().event(), SynthesizeStop().event()], "the stream held no text", "bad_request"),
        ([SynthesizeChunk("Hello.").event()], "outside a stream", "bad_request"),
        ([SynthesizeStop().event()], "outside a stream", "bad_request"),
        ([SynthesizeStart().event(), SynthesizeStart().event()], "inside a stream", "bad_request"),
    ],
)
def test_every_refusal_is_one_failed_event_and_an_error_event_with_the_error_s_code(
    events: list[Event], expected: str, code: str
) -> None:
    """(Moved here from a daemon-process test; the failed events are new: five of these published none.)"""
    fake = FakeSeam(limits=Limits(max_text_length=MAX_TEXT))
    with serving(fake) as port:

        async def run() -> list[Event]:
            client = AsyncTcpClient("127.0.0.1", port)
            await client.connect()
            for event in events:
                await client.write_event(event)
            answer = await read_all(client, 10)
            assert await asyncio.wait_for(client.read_event(), 5) is None  # then the server closes
            await client.disconnect()
            return answer

        answer = asyncio.run(run())
    assert [e.type for e in answer] == ["error"] and expected in answer[0].data["text"], answer
    assert answer[0].data["code"] == code
    assert [(e.data["code"], expected in e.data["error"]) for e in fake.failures] == [(code, True)]


def test_a_stream_without_synthesize_and_a_plain_voice_with_a_language() -> None:
    """(Moved here from a daemon-process test.)"""
    fake = FakeSeam()
    SlowWorker(fake, chunks=1)
    start = Event("synthesize-start", {"voice": {"name": "bob", "language": "de"}})
    with serving(fake) as port:

        async def run() -> list[Event]:
            client = AsyncTcpClient("127.0.0.1", port)
            await client.connect()
            for event in (
                start,
                SynthesizeChunk("Hallo").event(),
                SynthesizeChunk(" zusammen").event(),
                SynthesizeStop().event(),
            ):
                await client.write_event(event)
            answer = await read_all(client, 10)
            await client.disconnect()
            return answer

        answer = asyncio.run(run())
    assert answer[0].type == "audio-start"
    assert [e.type for e in answer][-2:] == ["audio-stop", "synthesize-stopped"]
    assert [(s.request.text, s.request.voice, s.request.language) for s in fake.streams] == [
        ("Hallo zusammen", "bob", "de")
    ]
