"""Time to first audio over Wyoming, one-shot and streamed, side by side with HTTP's first byte.

One daemon with ``[http]`` and ``[wyoming]`` on; each repeat empties the audio cache before each
request and asks for the same text over HTTP (``pcm``, first byte), over Wyoming as one
``synthesize`` (first ``audio-chunk``) and as a text stream (``synthesize-start``, the text in
word-sized ``synthesize-chunk``\\ s sent at once, ``synthesize-stop``; first ``audio-chunk``
counted from ``synthesize-start``), and as one ``synthesize`` again while an announcement of
three sentences is being made (one second after the worker took it: the request waits for the
rest of the sentence the worker is on), in turn,
so the shared machine's noise falls on all of them.  Total time per audio second is measured
too.  Run it with
``python -m voice_daemon.bench.wyoming MODEL [--repeats N]``; it prints JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from voice_daemon.bench.daemonrun import BenchDaemon
from voice_daemon.bench.http import free_port, post_speech

log = logging.getLogger(__name__)

TEXT = "The washing machine has finished. Please empty it before the evening."
ANNOUNCEMENT = "The first of three sentences. The second of three sentences. The third of three sentences."
ANNOUNCEMENT_LEAD_S = 1.0  # the request comes this long after the worker took the announcement
WAYS = ("http", "wyoming", "wyoming_streamed", "wyoming_during_announcement")


def timing(model: Path, home: Path, text: str, repeats: int, threads: int) -> dict[str, Any]:
    """First audio and total time per audio second over HTTP and Wyoming (one-shot, streamed)."""
    http_port, wyoming_port = free_port(), free_port()
    config = (
        f'[output]\nmode = "file"\n[http]\nenabled = true\nport = {http_port}\n'
        f'[wyoming]\nenabled = true\nuri = "tcp://127.0.0.1:{wyoming_port}"\n'
    )
    daemon = BenchDaemon(home, model, config, threads=threads)
    daemon.start()
    measures: dict[str, Callable[[], dict[str, float]]] = {
        "http": lambda: _http(http_port, text),
        "wyoming": lambda: asyncio.run(timed_request(wyoming_port, [Synthesize(text).event()])),
        "wyoming_streamed": lambda: asyncio.run(timed_request(wyoming_port, _stream(text))),
        "wyoming_during_announcement": lambda: _during_announcement(daemon, home, wyoming_port, text),
    }
    try:
        runs: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
        for repeat in range(repeats):
            for way in WAYS:
                for entry in (home / "cache" / "audio").glob("*.npy"):
                    entry.unlink()
                runs[way].append(measures[way]())
                log.info("%s %d: %s", way, repeat + 1, runs[way][-1])
        return {"runs": runs}
    finally:
        daemon.stop()


def _during_announcement(daemon: BenchDaemon, home: Path, port: int, text: str) -> dict[str, float]:
    """A one-shot request once an announcement is being made; the announcement is then waited for."""
    request_id = daemon.submit(ANNOUNCEMENT)
    spool = home / "spool"
    while not any((spool / "cur").glob(f"*-{request_id}.json")):  # claimed by the worker: being made
        if (spool / "done" / f"{request_id}.json").exists():
            raise RuntimeError(f"announcement {request_id} was over before it was seen in the making")
        time.sleep(0.01)
    time.sleep(ANNOUNCEMENT_LEAD_S)
    figures = asyncio.run(timed_request(port, [Synthesize(text).event()]))
    daemon.outcome(request_id)
    return figures


def _stream(text: str) -> list[Event]:
    words = text.split(" ")
    chunks = [
        SynthesizeChunk(word + (" " if n < len(words) - 1 else "")).event() for n, word in enumerate(words)
    ]
    return [SynthesizeStart().event(), *chunks, SynthesizeStop().event()]


def _http(port: int, text: str) -> dict[str, float]:
    first_s, total, data, _ = post_speech(port, {"input": text, "response_format": "pcm"})
    return {"first_audio_s": first_s, "total_s": total, "audio_s": len(data) / 2 / 24_000}


async def timed_request(port: int, events: list[Event]) -> dict[str, float]:
    """``events`` to the Wyoming server on ``port``: seconds to the first audio and to audio-stop, audio s."""
    first_s, size = float("nan"), 0
    async with AsyncTcpClient("127.0.0.1", port) as client:
        started = time.perf_counter()
        for event in events:
            await client.write_event(event)
        while (event := await client.read_event()) is not None and event.type not in ("audio-stop", "error"):
            if event.type == "audio-chunk" and event.payload:
                if not size:
                    first_s = time.perf_counter() - started
                size += len(event.payload)
        if event is None or event.type == "error":
            raise RuntimeError(f"Wyoming: {event.data if event else 'connection closed'}")
        total = time.perf_counter() - started
    return {"first_audio_s": first_s, "total_s": total, "audio_s": size / 2 / 24_000}


def table(results: dict[str, Any]) -> list[str]:
    """Markdown: first audio (median, p95) and total per audio second (median), per way."""
    lines = [
        "| model | way | first audio, median (s) | first audio, p95 (s) | total per audio s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, figures in results.items():
        for way, runs in figures["runs"].items():
            firsts = sorted(run["first_audio_s"] for run in runs)
            p95 = firsts[min(len(firsts) - 1, round(0.95 * (len(firsts) - 1)))]
            per_second = statistics.median(run["total_s"] / run["audio_s"] for run in runs)
            lines.append(
                f"| {name} | {way} | {statistics.median(firsts):.2f} | {p95:.2f} | {per_second:.2f} |"
            )
    return lines


def main() -> None:
    """``python -m voice_daemon.bench.wyoming MODEL``: measure one model, print JSON and the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--name", default="tiny")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="voice-daemon-bench-") as scratch:
        figures = timing(arguments.model, Path(scratch), TEXT, arguments.repeats, arguments.threads)
    results = {arguments.name: figures}
    sys.stdout.write(json.dumps(results, indent=1) + "\n" + "\n".join(table(results)) + "\n")


if __name__ == "__main__":
    main()
