"""The Wyoming server as Home Assistant and other clients meet it: the ``wyoming`` library's own
client against ``voice-daemon run`` (tiny model), one daemon for the module.

Covered: ``describe`` while starting and when ready (voices per language, following the voices
folder), ``synthesize`` streamed as made, text streaming in Home Assistant's order (its extra
``synthesize`` ignored), a full lane, a client that goes away, hostile bytes
(``tests/support/hostile.py``) and many connections at once.  The rules (every refusal, a plain
voice with a language, stalled callers, keep-alive, stopping) are tested in-process in
``tests/test_wyoming_callers.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from wyoming.audio import AudioChunk
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, async_read_event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from tests.conftest import clip_longer_than, write_config
from tests.support.daemonproc import FAST, DaemonProcess, drop, wait_filed, wait_until
from tests.support.hostile import NAMED, assert_clean_log, memory_mb, random_payloads
from tests.support.pulse import PulseServer
from voice_daemon.core.request import LANGUAGES
from voice_daemon.errors import ConfigError
from voice_daemon.settings import WyomingSettings
from voice_daemon.sources.wyoming.server import WyomingSource
from voice_daemon.sources.wyoming.voices import chosen, entry_name

MAX_TEXT = 300
TIMEOUT = 5  # wyoming.timeout_seconds
CONNECTIONS = 50  # wyoming.max_connections
WYOMING = f"""
[wyoming]
enabled = true
uri = "tcp://127.0.0.1:0"
max_connections = {CONNECTIONS}
timeout_seconds = {TIMEOUT}
[queue]
interactive_max_size = 1
[synthesis]
max_text_length = {MAX_TEXT}
"""
PIECE_SECONDS = (1.5, 2.5)  # one text piece of the tiny model: 40 tokens


@dataclass
class Server:
    daemon: DaemonProcess
    home: Path
    port: int
    starting: list[Event]  # the answer to describe while the model loaded

    def client(self) -> AsyncTcpClient:
        return AsyncTcpClient("127.0.0.1", self.port)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, reference: Path, pulse: PulseServer
) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("wyoming")
    for name in ("voices", "inbox", "output", "cache", "spool"):
        (home / name).mkdir()
    shutil.copy(reference, home / "voices" / "default.flac")
    daemon = DaemonProcess(write_config(home, tiny_model, FAST + WYOMING), home, pulse.env)
    try:
        wait_until(lambda: "Wyoming server on tcp://" in daemon.log(), 60, daemon.log)
        found = re.search(r"Wyoming server on tcp://127\.0\.0\.1:(\d+)", daemon.log())
        assert found is not None
        port = int(found.group(1))
        starting = asyncio.run(
            exchange(AsyncTcpClient("127.0.0.1", port), [Describe().event()], ("info", "error"))
        )
        daemon.wait_ready()
        yield Server(daemon, home, port, starting)
    finally:
        assert daemon.stop() == 0, daemon.log()


async def exchange(
    client: AsyncTcpClient,
    events: list[Event],
    until: tuple[str, ...] = ("audio-stop", "error"),
    timeout: float = 60,
) -> list[Event]:
    """Send ``events``, then read until an event of a type in ``until`` (or the connection closes)."""
    async with client:
        for event in events:
            await client.write_event(event)
        return await read_until(client, until, timeout)


async def read_until(client: AsyncTcpClient, until: tuple[str, ...], timeout: float = 60) -> list[Event]:
    received: list[Event] = []
    while (event := await asyncio.wait_for(client.read_event(), timeout)) is not None:
        received.append(event)
        if event.type in until:
            break
    return received


def audio_of(events: list[Event]) -> np.ndarray:
    """The samples of every audio-chunk, after checking each is 24 kHz 16-bit mono."""
    chunks = [AudioChunk.from_event(event) for event in events if event.type == "audio-chunk"]
    assert chunks and all((c.rate, c.width, c.channels) == (24_000, 2, 1) for c in chunks)
    return np.frombuffer(b"".join(c.audio for c in chunks), "<i2").astype(np.float32) / 32768


def types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def describe(server: Server) -> Info:
    events = asyncio.run(exchange(server.client(), [Describe().event()], ("info",)))
    return Info.from_event(events[-1])


def test_describe_says_starting_then_lists_every_voice_per_language_as_the_folder_changes(
    server: Server, corpus: Path
) -> None:
    assert types(server.starting) == ["error"] and "starting" in server.starting[0].data["text"]
    program = describe(server).tts[0]
    assert program.name == "voice-daemon" and program.installed and program.supports_synthesize_streaming
    assert program.attribution.name == "Coqui XTTS v2" and program.version
    assert {(voice.name, tuple(voice.languages)) for voice in program.voices} == {
        (f"default ({language})", (language,)) for language in LANGUAGES
    }
    shutil.copy(clip_longer_than(corpus, "3080", 8), server.home / "voices" / "anna.flac")
    wait_until(
        lambda: "anna (de)" in {voice.name for voice in describe(server).tts[0].voices},
        30,
        "voice anna in the info",
    )


def test_an_entry_implies_its_voice_and_language_and_an_explicit_language_wins() -> None:
    assert chosen({"name": entry_name("anna", "de")}) == {"voice": "anna", "language": "de"}
    assert chosen({"name": "anna (de)", "language": "fr"}) == {"voice": "anna", "language": "fr"}
    assert chosen({"name": "anna"}) == {"voice": "anna"}
    assert chosen({"language": "de"}) == {"language": "de"}
    assert chosen(None) == chosen({}) == {}


def test_synthesize_streams_audio_as_it_is_made(server: Server) -> None:
    async def run() -> tuple[list[Event], bool]:
        async with server.client() as client:
            done_before = server.daemon.log().count(" done")
            text = "Die Waschmaschine ist fertig."
            await client.write_event(Synthesize(text, voice=SynthesizeVoice(name="default (de)")).event())
            first = await read_until(client, ("audio-chunk",))
            early = server.daemon.log().count(" done") == done_before  # the request is still being made
            return first + await read_until(client, ("audio-stop",)), early

    events, early = asyncio.run(run())
    assert early, "the first audio-chunk came only after the request was done"
    assert types(events)[0] == "audio-start" and types(events)[-1] == "audio-stop"
    assert types(events).count("audio-start") == 1 and types(events).count("audio-stop") == 1
    assert (
        events[0].data["rate"] == 24_000 and events[0].data["width"] == 2 and events[0].data["channels"] == 1
    )
    samples = audio_of(events)
    assert PIECE_SECONDS[0] < len(samples) / 24_000 < PIECE_SECONDS[1]
    assert np.abs(samples).max() > 0.01


def test_a_stream_speaks_each_sentence_before_the_text_is_complete_home_assistant_order(
    server: Server,
) -> None:
    """Home Assistant 2025.7+ sends the whole text as a synthesize before synthesize-stop: ignored."""

    async def run() -> tuple[list[Event], list[Event], list[Event]]:
        async with server.client() as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="default (en)")).event())
            for piece in ("First sentence of the rep", "ly. Second"):
                await client.write_event(SynthesizeChunk(piece).event())
            early = await read_until(client, ("audio-chunk",))  # before the text is complete
            await client.write_event(SynthesizeChunk(" sentence of the reply.").event())
            full = "First sentence of the reply. Second sentence of the reply."
            await client.write_event(Synthesize(full, voice=SynthesizeVoice(name="default (en)")).event())
            await client.write_event(SynthesizeStop().event())
            rest = await read_until(client, ("synthesize-stopped",))
            try:
                after = [await asyncio.wait_for(client.read_event(), 1.5)]
            except TimeoutError:
                after = []
            return early, rest, after

    early, rest, after = asyncio.run(run())
    assert types(early) == ["audio-start", "audio-chunk"]
    events = early + rest
    assert types(events).count("audio-start") == 1 and types(events)[-2:] == [
        "audio-stop",
        "synthesize-stopped",
    ]
    seconds = len(audio_of(events)) / 24_000
    assert 2 * PIECE_SECONDS[0] < seconds < 2 * PIECE_SECONDS[1], seconds  # two sentences, not four
    assert after == [], types(after)


def test_a_full_lane_is_refused_and_a_client_that_goes_away_cancels(server: Server) -> None:
    log = server.daemon.log

    async def run() -> tuple[list[Event], list[Event]]:
        first = server.client()
        await first.connect()
        await first.write_event(Synthesize(" ".join(["A sentence that takes a while."] * 3)).event())
        await read_until(first, ("audio-chunk",))  # being spoken now
        queued = log().count(" queued")
        async with server.client() as waiting:
            await waiting.write_event(Synthesize("I waited my turn.").event())
            await asyncio.to_thread(wait_until, lambda: log().count(" queued") > queued, 30)
            refused = await exchange(server.client(), [Synthesize("No room.").event()], ("never",))
            await first.disconnect()  # gone mid-stream: the worker stops it and serves the waiting one
            return refused, await read_until(waiting, ("audio-stop", "error"))

    refused, served = asyncio.run(run())
    assert types(refused) == ["error"] and "interactive requests are waiting" in refused[0].data["text"]
    assert refused[0].data["code"] == "busy"
    wait_until(lambda: "failed: cancelled: the caller went away" in log(), 30, log)
    assert types(served)[-1] == "audio-stop" and len(audio_of(served)) > 0


def test_hostile_bytes_are_answered_and_survived_with_bounded_memory(server: Server) -> None:
    before = memory_mb(server.daemon.process.pid)
    framed = [payload.payload.replace(b"\n", b" ") + b"\n" for payload in NAMED + random_payloads(300)]
    lies = [
        b'{"type": "synthesize", "data_length": 100000000000}\n',
        b'{"type": "synthesize", "payload_length": 4000000000}\nabc',
        b'{"type": "synthesize", "data_length": "12"}\n',
        b'{"type": "synthesize", "data_length": 5}\n[1, 2]',
        b'{"type": "synthesize", "data": [1]}\n',
        b'{"type": 7}\n',
        os.urandom(200_000),  # no newline within the header limit
    ]

    async def answer(raw: bytes) -> list[Event]:
        """Every event the server answers ``raw`` with, read by the library's own parser, until it closes."""
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw)
        await writer.drain()
        received = []
        try:
            while (event := await asyncio.wait_for(async_read_event(reader), 30)) is not None:
                received.append(event)
        finally:
            writer.close()
        return received

    async def run() -> list[list[Event]]:
        limit = asyncio.Semaphore(20)

        async def one(raw: bytes) -> list[Event]:
            async with limit:
                return await answer(raw)

        return await asyncio.gather(*(one(raw) for raw in framed + lies))

    answers = asyncio.run(run())
    wrong = [
        (raw[:60], types(events))
        for raw, events in zip(framed + lies, answers, strict=True)
        if types(events) != ["error"]
    ]
    assert not wrong, wrong[:5]
    assert {a[0].data["code"] for a in answers} == {"bad_event"}

    async def silent() -> list[list[Event]]:  # a half-sent event, an empty stream: and then nothing
        raws = [b'{"type": "synthesize", "data_length": 40}\n{"text": ', b'{"type": "synthesize-start"}\n']
        return await asyncio.gather(*(answer(raw) for raw in raws))

    for idle in asyncio.run(silent()):
        assert types(idle) == ["error"] and f"no event for {TIMEOUT} s" in idle[0].data["text"], idle
    after = memory_mb(server.daemon.process.pid)
    assert after["VmRSS"] - before["VmRSS"] < 50, (before, after)
    assert describe(server).tts[0].name == "voice-daemon"
    assert_clean_log(server.daemon.log())


def test_many_connections_at_once_are_served_and_beyond_the_bound_refused(server: Server) -> None:
    async def run() -> tuple[list[list[Event]], list[Event]]:
        answers = await asyncio.gather(
            *(exchange(server.client(), [Describe().event()], ("info",)) for _ in range(CONNECTIONS))
        )
        held = [server.client() for _ in range(CONNECTIONS)]
        for client in held:
            await client.connect()
        await asyncio.sleep(0.5)
        try:
            refused = await exchange(server.client(), [Describe().event()], ("info", "error"))
        finally:
            for client in held:
                await client.disconnect()
        return answers, refused

    started = time.monotonic()
    answers, refused = asyncio.run(run())
    assert all(types(events) == ["info"] for events in answers)
    assert types(refused) == ["error"] and f"{CONNECTIONS} connections are open" in refused[0].data["text"]
    wait_until(
        lambda: (
            types(asyncio.run(exchange(server.client(), [Describe().event()], ("info", "error")))) == ["info"]
        ),
        10,
    )
    assert time.monotonic() - started < TIMEOUT + 10
    assert json.dumps(describe(server).tts[0].to_dict())  # still serving


def test_a_wyoming_request_goes_ahead_of_an_announcement_which_is_still_spoken(server: Server) -> None:
    log, done = server.daemon.log, server.home / "inbox" / "done" / "announce.txt"
    started = log().count(" started")
    drop(server.home, "announce.txt", "The first sentence of the announcement. The second sentence of it.")
    wait_until(lambda: log().count(" started") > started, 30, log)  # the announcement is being made
    events = asyncio.run(exchange(server.client(), [Synthesize("Right now, please.").event()]))
    assert types(events)[-1] == "audio-stop" and not done.exists()  # served between its two sentences
    assert wait_filed(server.home, "announce.txt") == "done"  # and the announcement is spoken all the same


def test_the_source_refuses_a_taken_port_and_answers_starting_until_started() -> None:
    first = WyomingSource(WyomingSettings(enabled=True, uri="tcp://127.0.0.1:0"))
    first.open()
    try:
        port = int(first.uri.rsplit(":", 1)[1])
        with pytest.raises(ConfigError, match=f"wyoming: cannot listen on tcp://127.0.0.1:{port}"):
            WyomingSource(WyomingSettings(enabled=True, uri=f"tcp://127.0.0.1:{port}")).open()
        answer = asyncio.run(exchange(AsyncTcpClient("127.0.0.1", port), [Describe().event()], ("never",)))
        assert types(answer) == ["error"] and answer[0].data["code"] == "starting"
    finally:
        first.stop()
