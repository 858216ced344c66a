"""Callers in turns: first audio of a short request behind a long one, read and never read (issue 22).

Each run starts two daemons with ``[http]`` on, from each checkout named (``--daemon NAME=REPO``, so
an older commit is measured side by side with this one, in turn within each repeat); with
``--source wyoming`` ``[wyoming]`` is on too and the callers use it (the short one through the
``wyoming`` library's client, a one-shot ``synthesize``), otherwise ``POST /v1/audio/speech``:

- the first serves the short request alone (its first audio, then the daemon's peak resident
  memory, VmHWM: the memory baseline), then a long streamed request (16 sentences) read by its
  caller and, 0.1 s later, the short request: the short one's first audio and the long one's;
- the second gets the long request from a caller that never reads its socket (a small receive
  buffer, the request sent, nothing read), then 0.1 s later the short request: the short one's
  first audio, when the stalled request was cancelled (its ``failed`` event on ``/v1/status``,
  counted from when it was sent) and the daemon's peak resident memory against the first's.

What is not over within ``--bound`` seconds is reported as not served (or not cancelled) within
it; nothing waits longer.  Every request asks for ``pcm`` and the audio cache is emptied before
each.  Run it with ``python -m voice_daemon.bench.turns MODEL --daemon before=../old --daemon
after=.``; it prints JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wyoming.event import write_event
from wyoming.tts import Synthesize

from voice_daemon.bench.daemonrun import BenchDaemon
from voice_daemon.bench.http import free_port, post_speech
from voice_daemon.bench.wyoming import timed_request

log = logging.getLogger(__name__)

SHORT = "The washing machine has finished."
LONG = " ".join(
    f"This is sentence {n} of a long reading that one caller asked for at once." for n in range(1, 17)
)
LEAD_S = 0.1  # the short request comes this long after the long one
STALLED_RCVBUF = 4096  # the stalled caller's receive buffer, in bytes (the kernel may double it)


class _Request(threading.Thread):
    """One speech request over HTTP in its own thread, so that a run can stop waiting for it."""

    def __init__(self, target: Target, text: str) -> None:
        super().__init__(daemon=True)
        self.target, self.text = target, text
        self.first_audio_s: float | None = None
        self.total_s: float | None = None
        self.start()

    def run(self) -> None:
        try:
            if self.target.source == "wyoming":
                figures = asyncio.run(timed_request(self.target.port, [Synthesize(self.text).event()]))
                self.first_audio_s, self.total_s = figures["first_audio_s"], figures["total_s"]
            else:
                body = {"input": self.text, "response_format": "pcm"}
                self.first_audio_s, self.total_s, _, _ = post_speech(self.target.port, body)
        except (OSError, EOFError, RuntimeError, http.client.HTTPException) as exc:
            log.warning("request %r failed: %s", self.text[:40], exc)

    def figures(self, until: float) -> dict[str, float | None]:
        """First audio and total seconds, each None unless the request was over by ``until`` (monotonic)."""
        self.join(max(0.0, until - time.monotonic()))
        if self.is_alive():
            return {"first_audio_s": None, "total_s": None}
        return {"first_audio_s": self.first_audio_s, "total_s": self.total_s}


def _stalled_caller(target: Target, text: str) -> socket.socket:
    """A connection that sends a speech request and never reads the reply."""
    caller = socket.socket()
    caller.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALLED_RCVBUF)
    caller.connect(("127.0.0.1", target.port))
    if target.source == "wyoming":
        request = io.BytesIO()
        write_event(Synthesize(text).event(), request)
        caller.sendall(request.getvalue())
        return caller
    body = json.dumps({"input": text, "response_format": "pcm"}).encode()
    head = (
        "POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    caller.sendall(head.encode() + body)
    return caller


def _failed_event(port: int, text: str, until: float) -> dict[str, Any] | None:
    """The ``failed`` event of the request for ``text`` on ``/v1/status``; None if none by ``until``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while time.monotonic() < until:
            connection.request("GET", "/v1/status")
            events = json.loads(connection.getresponse().read())["events"]
            for event in events:
                if event["state"] == "failed" and text.startswith((event.get("text") or "\0")[:100]):
                    return dict(event)
            time.sleep(0.2)
        return None
    finally:
        connection.close()


def _empty_cache(home: Path) -> None:
    for entry in (home / "cache" / "audio").glob("*.npy"):
        entry.unlink()


@dataclass(frozen=True)
class Target:
    """Where callers connect: ``source`` ("http", "wyoming") on ``port``; the status feed on ``http_port``."""

    source: str
    port: int
    http_port: int


def _daemon(home: Path, model: Path, repo: Path, threads: int, source: str) -> tuple[BenchDaemon, Target]:
    http_port, wyoming_port = free_port(), free_port()
    config = f'[output]\nmode = "file"\n[http]\nenabled = true\nport = {http_port}\n'
    if source == "wyoming":
        config += f'[wyoming]\nenabled = true\nuri = "tcp://127.0.0.1:{wyoming_port}"\n'
    daemon = BenchDaemon(home, model, config, threads=threads, repo=repo)
    daemon.start()
    return daemon, Target(source, wyoming_port if source == "wyoming" else http_port, http_port)


def served(model: Path, home: Path, repo: Path, threads: int, bound_s: float, source: str) -> dict[str, Any]:
    """The short request alone (and the memory baseline), then behind a long one that is read."""
    daemon, target = _daemon(home, model, repo, threads, source)
    try:
        _empty_cache(home)
        alone = _Request(target, SHORT).figures(time.monotonic() + bound_s)
        baseline = daemon.rss_mib(peak=True)
        _empty_cache(home)
        until = time.monotonic() + bound_s
        long = _Request(target, LONG)
        time.sleep(LEAD_S)
        short = _Request(target, SHORT).figures(until)
        return {"alone": alone, "alone_peak_rss_mib": baseline, "short": short, "long": long.figures(until)}
    finally:
        daemon.stop()


def stalled(model: Path, home: Path, repo: Path, threads: int, bound_s: float, source: str) -> dict[str, Any]:
    """The short request behind a long one whose caller never reads: first audio, cancellation, memory."""
    daemon, target = _daemon(home, model, repo, threads, source)
    try:
        _empty_cache(home)
        until, sent_at = time.monotonic() + bound_s, time.time()
        caller = _stalled_caller(target, LONG)
        try:
            time.sleep(LEAD_S)
            short = _Request(target, SHORT)
            failed = _failed_event(target.http_port, LONG, until)
            figures = short.figures(until)
            peak, now = daemon.rss_mib(peak=True), daemon.rss_mib()
        finally:
            caller.close()
        return {
            "short": figures,
            "cancelled_after_s": round(failed["at"] - sent_at, 2) if failed else None,
            "failed_event": {k: v for k, v in (failed or {}).items() if k != "text"},
            "peak_rss_mib": peak,
            "rss_mib": now,
        }
    finally:
        daemon.stop()


def turns(
    model: Path, home: Path, daemons: dict[str, Path], repeats: int, threads: int, bound_s: float, source: str
) -> dict[str, Any]:
    """Both runs for each daemon checkout, in turn within each repeat, the callers on ``source``."""
    results: dict[str, Any] = {"source": source, "bound_s": bound_s, "lead_s": LEAD_S}
    results["runs"] = {name: [] for name in daemons}
    for repeat in range(repeats):
        for name, repo in daemons.items():
            run = {
                "load_1min": os.getloadavg()[0],
                "served": served(model, home / f"{name}-{repeat}-served", repo, threads, bound_s, source),
                "stalled": stalled(model, home / f"{name}-{repeat}-stalled", repo, threads, bound_s, source),
            }
            log.info("%s %d: %s", name, repeat + 1, json.dumps(run))
            results["runs"][name].append(run)
    return results


def median_or_none(values: list[float | None]) -> float | None:
    """The median, a value that never came (None) counting as longer than any; None if that is the median."""
    ordered = sorted(float("inf") if value is None else value for value in values)
    median = statistics.median(ordered) if ordered else float("inf")
    return None if median == float("inf") else median


def _cell(value: float | None, bound_s: float, what: str) -> str:
    return f"{value:.2f}" if value is not None else f"not {what} within {bound_s:g} s"


def table(results: dict[str, Any]) -> list[str]:
    """Markdown, medians per daemon: first audio (s), the stalled request's cancellation, peak memory (with
    the stalled one, and against the same daemon's alone, run by run)."""
    bound = results["bound_s"]
    header = (
        "| daemon | short alone (s) | short behind a read long one (s) | the long one (s) | "
        "short behind a stalled one (s) | stalled one cancelled after (s) | peak RSS (MiB), against alone "
        "| load |"
    )
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, runs in results["runs"].items():
        first = {
            way: _cell(_median_at(runs, *keys, "first_audio_s"), bound, "served")
            for way, keys in (
                ("alone", ("served", "alone")),
                ("short", ("served", "short")),
                ("long", ("served", "long")),
                ("stalled", ("stalled", "short")),
            )
        }
        cancelled = _cell(_median_at(runs, "stalled", "cancelled_after_s"), bound, "cancelled")
        growth = median_or_none(
            [run["stalled"]["peak_rss_mib"] / run["served"]["alone_peak_rss_mib"] - 1 for run in runs]
        )
        peak = _median_at(runs, "stalled", "peak_rss_mib")
        memory = f"{peak:.0f} ({(growth or 0) * 100:+.1f} %)"
        lines.append(
            f"| {name} | {first['alone']} | {first['short']} | {first['long']} | {first['stalled']} | "
            f"{cancelled} | {memory} | {_median_at(runs, 'load_1min') or 0:.1f} |"
        )
    return lines


def _median_at(runs: list[dict[str, Any]], *keys: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in keys:
            value = value[key]
        values.append(value)
    return median_or_none(values)


def _named_repo(text: str) -> tuple[str, Path]:
    name, _, repo = text.partition("=")
    if not repo:
        raise argparse.ArgumentTypeError(f"--daemon NAME=REPO, not {text!r}")
    return name, Path(repo)


def main() -> None:
    """``python -m voice_daemon.bench.turns MODEL``: measure each daemon, print JSON and the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("model", type=Path)
    parser.add_argument(
        "--daemon",
        type=_named_repo,
        action="append",
        metavar="NAME=REPO",
        help="a checkout whose daemon is measured, in turn with the others (default: this one, as 'this')",
    )
    parser.add_argument(
        "--source", choices=("http", "wyoming"), default="http", help="how the callers connect"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bound", type=float, default=90.0, help="seconds after which a run stops waiting")
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    daemons = dict(arguments.daemon or [("this", Path(__file__).resolve().parents[2])])
    with tempfile.TemporaryDirectory(prefix="voice-daemon-bench-") as scratch:
        results = turns(
            arguments.model,
            Path(scratch),
            daemons,
            arguments.repeats,
            arguments.threads,
            arguments.bound,
            arguments.source,
        )
    text = json.dumps(results, indent=1) + "\n"
    if arguments.json:
        arguments.json.write_text(text)
    sys.stdout.write(text + "\n".join(table(results)) + "\n")


if __name__ == "__main__":
    main()
