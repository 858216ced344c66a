"""The HTTP API as an OpenAI client meets it: first byte and total time per audio second, WAV and MP3.

One daemon with ``[http]`` on; each repeat empties the audio cache and asks for the same text in
each format in turn (side by side, so the shared machine's noise falls on both), then once more
per format from the audio cache.  First byte is when the response headers and the first audio
bytes arrive (the response starts with the first encoded chunk); the daemon's own figures for
the same request (its first chunk and synthesis time) come from its status feed, so the HTTP
overhead is the difference.  Only the standard library's HTTP client is used.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import av

from voice_daemon.bench.daemonrun import BenchDaemon

log = logging.getLogger(__name__)

FORMATS = ("wav", "mp3")


def speech_timing(model: Path, home: Path, text: str, repeats: int, threads: int) -> dict[str, Any]:
    """Synthesised and cached speech over HTTP, per format."""
    port = free_port()
    daemon = BenchDaemon(
        home, model, f'[output]\nmode = "file"\n[http]\nenabled = true\nport = {port}\n', threads=threads
    )
    daemon.start()
    try:
        runs: dict[str, Any] = {fmt: {"synthesised": [], "cached": []} for fmt in FORMATS}
        for repeat in range(repeats):
            for fmt in FORMATS:
                for entry in (home / "cache" / "audio").glob("*.npy"):
                    entry.unlink()
                runs[fmt]["synthesised"].append(_timed(port, text, fmt))
                runs[fmt]["cached"].append(_timed(port, text, fmt))
                log.info(
                    "http %s %d: %s; cached %s",
                    fmt,
                    repeat + 1,
                    runs[fmt]["synthesised"][-1],
                    runs[fmt]["cached"][-1],
                )
        return {"runs": runs}
    finally:
        daemon.stop()


def _timed(port: int, text: str, response_format: str) -> dict[str, float]:
    body = {"model": "tts-1", "input": text, "voice": "alloy", "response_format": response_format}
    first_byte, total, data, request_id = post_speech(port, body)
    done = _done_event(port, request_id)
    return {
        "first_byte_s": first_byte,
        "total_s": total,
        "audio_s": _seconds(data),
        "worker_first_audio_s": done.get("first_audio_seconds") or float("nan"),
        "worker_synthesis_s": done.get("synthesis_seconds") or float("nan"),
        "cache": done.get("audio_cache", ""),
    }


def _done_event(port: int, request_id: str | None) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(100):
        connection.request("GET", "/v1/status")
        events = json.loads(connection.getresponse().read())["events"]
        found: list[dict[str, Any]] = [e for e in events if e["id"] == request_id and e["state"] == "done"]
        if found:
            connection.close()
            return found[0]
        time.sleep(0.05)
    raise RuntimeError(f"no 'done' event for request {request_id}")


def _seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        assert isinstance(container, av.container.InputContainer)  # opened for reading
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def free_port() -> int:
    """A loopback port free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def table(results: dict[str, Any]) -> list[str]:
    """The Markdown table of the ``http`` section (medians), for docs/benchmarks.md."""
    lines = [
        "| model | format | first byte (s) | daemon's first chunk (s) | HTTP overhead (ms) | "
        "total per audio s | first byte, cached (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, figures in results.get("http", {}).items():
        for fmt, runs in figures["runs"].items():
            made, cached = runs["synthesised"], runs["cached"]
            first, worker = _median(made, "first_byte_s"), _median(made, "worker_first_audio_s")
            per_second = statistics.median(run["total_s"] / run["audio_s"] for run in made)
            lines.append(
                f"| {name} | {fmt} | {first:.2f} | {worker:.2f} | {(first - worker) * 1000:.0f} | "
                f"{per_second:.2f} | {_median(cached, 'first_byte_s') * 1000:.0f} |"
            )
    return lines


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def post_speech(port: int, body: dict[str, Any]) -> tuple[float, float, bytes, str | None]:
    """POST ``body`` to ``/v1/audio/speech``: seconds to the first and to the last byte, the audio, its id."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    started = time.perf_counter()
    connection.request("POST", "/v1/audio/speech", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    first = response.read1(65536)
    first_byte = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {first!r}")
    data = first + response.read()
    total = time.perf_counter() - started
    request_id = response.getheader("X-Request-Id")
    connection.close()
    return first_byte, total, data, request_id
