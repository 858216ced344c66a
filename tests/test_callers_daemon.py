"""End to end, one daemon process (tiny model) with HTTP and Wyoming.

A caller that stops reading is let go (one failed event) while another is served.  SIGTERM while
a long HTTP stream is under way and a Wyoming reply waits for its turn.  Every caller gets its end (the HTTP
response cut short, the Wyoming client an ``error`` event ``stopping``), the log says the daemon
stopped them, with no ERROR and no traceback; the sources are done within a second and a half,
the daemon exits 0 once the worker has ended the piece it was making.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from datetime import datetime
from typing import Any

import httpx
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.tts import Synthesize

from tests.support.daemonproc import FAST, StartDaemon, http_url, wait_until

BOTH = """
[http]
enabled = true
port = 0
[wyoming]
enabled = true
uri = "tcp://127.0.0.1:0"
"""
LONG = " ".join(f"This is sentence number {n} of a long reply." for n in range(8))


def test_sigterm_ends_every_caller_s_stream_cleanly_and_soon(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(FAST + BOTH)
    url = http_url(daemon)
    found = re.search(r"Wyoming server on tcp://127\.0\.0\.1:(\d+)", daemon.log())
    assert found is not None
    port, ends = int(found.group(1)), {}
    audio_began = threading.Event()

    def http_caller() -> None:
        try:
            body = {"input": LONG, "response_format": "pcm"}
            with httpx.stream("POST", url + "v1/audio/speech", json=body, timeout=60) as response:
                for _ in response.iter_bytes():
                    audio_began.set()
            ends["http"] = "complete"
        except httpx.HTTPError as exc:
            ends["http"] = type(exc).__name__

    async def wyoming_caller() -> list[Event]:
        client = AsyncTcpClient("127.0.0.1", port)
        await client.connect()
        await client.write_event(Synthesize(text="A short one.").event())
        events = []
        while (event := await asyncio.wait_for(client.read_event(), 60)) is not None:
            events.append(event)
            if event.type in ("audio-stop", "error"):
                break
        await client.disconnect()
        return events

    def wyoming_thread() -> None:
        ends["wyoming"] = asyncio.run(wyoming_caller())

    threads = [threading.Thread(target=http_caller)]
    threads[0].start()
    assert audio_began.wait(60)
    threads.append(threading.Thread(target=wyoming_thread))
    threads[1].start()
    wait_until(lambda: len(re.findall(r"request \w+ queued", daemon.log())) >= 2, 30, daemon.log)
    began = time.monotonic()
    assert daemon.stop(30) == 0
    took = time.monotonic() - began
    for thread in threads:
        thread.join(30)
    log = daemon.log()
    wyoming: list[Any] = ends["wyoming"]
    assert ends["http"] == "RemoteProtocolError", log  # cut short: never taken for a whole take
    assert wyoming and wyoming[-1].type == "error" and wyoming[-1].data["code"] == "stopping", log
    assert "the daemon is stopping; 1 speech response(s) under way end now" in log
    assert "ERROR" not in log and "Traceback" not in log, log
    stopping, served = (
        _at(log, "voice_daemon.app: stopping"),
        _at(log, "uvicorn.error: Finished server process"),
    )
    assert served - stopping < 1.5, log  # the sources' part of the stop
    assert took < 10, log  # the rest: the worker ends the piece it is making (tiny model: about 3 s)


def _at(log: str, text: str) -> float:
    """The time of the first log line holding ``text``, in seconds of the day."""
    line = next(line for line in log.splitlines() if text in line)
    clock = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return clock.hour * 3600 + clock.minute * 60 + clock.second + clock.microsecond / 1e6


def test_a_caller_that_stops_reading_is_let_go_while_another_is_served(start_daemon: StartDaemon) -> None:
    """An HTTP client that never reads a long reply; a Wyoming client asks for one sentence meanwhile."""
    daemon = start_daemon(
        FAST
        + BOTH.replace("port = 0\n", "port = 0\ntimeout_seconds = 5\n", 1)
        + "[queue]\nlookahead_seconds = 2\n"
    )
    url = http_url(daemon)
    found = re.search(r"Wyoming server on tcp://127\.0\.0\.1:(\d+)", daemon.log())
    assert found is not None
    stalled = stalled_http_caller(
        url, " ".join(f"This is sentence number {n} of a long reply." for n in range(16))
    )
    wait_until(lambda: " started" in daemon.log(), 30, daemon.log)

    async def second() -> tuple[float, list[Event]]:
        client, asked = AsyncTcpClient("127.0.0.1", int(found.group(1))), time.monotonic()
        await client.connect()
        await client.write_event(Synthesize(text="A short one.").event())
        events, first = [], 0.0
        while (event := await asyncio.wait_for(client.read_event(), 60)) is not None:
            events.append(event)
            if event.type == "audio-chunk" and not first:
                first = time.monotonic() - asked
            if event.type in ("audio-stop", "error"):
                break
        await client.disconnect()
        return first, events

    first, events = asyncio.run(second())
    assert events[-1].type == "audio-stop" and 0 < first < 10, daemon.log()  # after at most a piece or two
    failed = r"request \w+ failed: cancelled: the caller stopped reading"
    wait_until(lambda: re.search(failed, daemon.log()), 30, daemon.log)
    stalled.close()
    log = daemon.log()
    assert len(re.findall(failed, log)) == 1 and len(re.findall("WARNING.*stopped reading", log)) == 1, log
    assert "ERROR" not in log and "Traceback" not in log, log
    assert daemon.stop(30) == 0


def stalled_http_caller(url: str, text: str) -> socket.socket:
    """A client with a small receive buffer that asks for ``text`` as raw PCM and never reads."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    body = json.dumps({"input": text, "response_format": "pcm"}).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    head = f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock
