"""How the HTTP API treats its callers, in-process in seconds: uvicorn on a free loopback port
over the fake seam, a stand-in worker behind it (``tests/support/slowworker.py``), the official
``openai`` client and raw sockets.

Covered: a client that stops reading costs bounded work and is let go (one ``failed`` event, one
warning, its connection closed) while another is served; on stop, streams under way end within
the daemon's own bound, with no error logged.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest

from tests.support.fakeseam import FakeSeam
from tests.support.slowworker import SlowWorker
from tests.test_wyoming_callers import closed, eventually
from voice_daemon.settings import HttpSettings
from voice_daemon.sources.http.server import HttpSource


@contextmanager
def serving(fake: FakeSeam, **settings: Any) -> Iterator[HttpSource]:
    source = HttpSource(HttpSettings(enabled=True, host="127.0.0.1", port=0, **settings))
    source.open()
    source.attach(fake).start()
    try:
        yield source
    finally:
        source.stop()


def stalled_caller(url: str, text: str) -> socket.socket:
    """A client with a small receive buffer that asks for ``text`` as raw PCM and never reads."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    body = json.dumps({"model": "xtts-v2", "input": text, "response_format": "pcm"}).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    head = (
        f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def test_a_client_that_stops_reading_costs_bounded_work_and_is_let_go_while_another_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeSeam()
    worker = SlowWorker(fake, chunks=2, chunk_seconds=0.25, delay=0.02, lookahead=1.0)
    long_text = " ".join(f"Sentence number {n} of a long text." for n in range(20))
    with (
        caplog.at_level(logging.INFO),
        serving(fake, timeout_seconds=2) as source,
        stalled_caller(source.url, long_text) as stalled,  # closed too when an assertion fails first
    ):
        eventually(lambda: fake.streams)
        asked = time.monotonic()
        client = openai.OpenAI(base_url=source.url + "v1", api_key="unused", max_retries=0)
        with client.audio.speech.with_streaming_response.create(
            model="xtts-v2", voice="alloy", input="One sentence.", response_format="pcm"
        ) as response:
            audio = response.read()
        took = time.monotonic() - asked
        assert len(audio) == 2 * 2 * 6000 and took < 3
        request = fake.streams[0].request
        eventually(lambda: [e for e in fake.failures if e.id == request.id])
        assert closed(stalled, 5)
    failures = [e for e in fake.failures if e.id == request.id]
    assert len(failures) == 1 and "the caller stopped reading" in failures[0].data["error"]
    assert worker.made[request.id] <= 5  # of 20 pieces: lookahead 1 s, 0.5 s a piece
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    said = [r.levelno for r in caplog.records if "stopped reading" in r.getMessage()]
    assert said == [logging.INFO]  # the warning is the failed event's (the real event bus logs it)


def test_on_stop_streams_under_way_end_within_the_daemon_s_bound_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeSeam()
    SlowWorker(fake, chunks=10, chunk_seconds=0.2, delay=0.3)  # far longer than uvicorn's 5 s grace
    ends: dict[str, Any] = {}
    begun = threading.Semaphore(0)  # released by each piece a client has read
    text = "A long one. With many. Sentences in it. To say."

    def audio(url: str) -> None:
        try:
            with httpx.stream(
                "POST", url + "v1/audio/speech", json={"input": text, "response_format": "pcm"}, timeout=30
            ) as response:
                for _ in response.iter_bytes():
                    begun.release()
            ends["audio"] = "complete"
        except httpx.HTTPError as exc:
            ends["audio"] = type(exc).__name__

    def sse(url: str) -> None:
        body = {"input": text, "response_format": "pcm", "stream_format": "sse"}
        with httpx.stream("POST", url + "v1/audio/speech", json=body, timeout=30) as response:
            ends["sse"] = []
            for line in response.iter_lines():
                if line:
                    ends["sse"].append(json.loads(line.removeprefix("data: "))["type"])
                    begun.release()

    with caplog.at_level(logging.INFO):
        source = HttpSource(HttpSettings(enabled=True, host="127.0.0.1", port=0))
        source.open()
        source.attach(fake).start()
        clients = [threading.Thread(target=f, args=(source.url,)) for f in (audio, sse)]
        for client in clients:
            client.start()
        for _ in range(2):  # both have audio (one may have it twice)
            assert begun.acquire(timeout=10)
        eventually(lambda: len(source.responses) == 2 and len(ends) == 1)
        began = time.monotonic()
        source.stop()
        took = time.monotonic() - began
        for client in clients:
            client.join(10)
    assert took < 3
    assert ends["audio"] == "RemoteProtocolError"  # cut short: the response is incomplete
    assert ends["sse"][0] == "speech.audio.delta" and ends["sse"][-1] == "error"
    eventually(lambda: len(fake.failures) == 2)
    assert [e.data["code"] for e in fake.failures] == ["stopping", "stopping"]
    assert any("daemon is stopping" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
