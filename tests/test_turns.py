"""The worker's turns, in a real in-process daemon (tiny model): streams served a text piece each in
turn, announcements yielding to them, streams whose caller is not ready parked without holding the
worker, cancelled ones dropped with one 'failed' event, and every stream ended when the daemon stops."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_config
from tests.support.daemonproc import FAST, wait_until
from voice_daemon.app import Daemon, Running
from voice_daemon.core.events import Event
from voice_daemon.core.lane import Stream
from voice_daemon.core.request import SpeechRequest
from voice_daemon.errors import Cancelled, Stopping, VoiceDaemonError
from voice_daemon.settings import Settings, load_settings

SENTENCE = "This is sentence number {} of a long reply."


def text(pieces: int) -> str:
    return " ".join(SENTENCE.format(i) for i in range(pieces))


@pytest.fixture
def daemon(home: Path, tiny_model: Path) -> Iterator[Daemon]:
    daemon = Daemon(load(home, tiny_model))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def load(home: Path, tiny_model: Path) -> Settings:
    return load_settings(write_config(home, tiny_model, FAST + "[cache]\naudio_enabled = false\n"))


@pytest.fixture
def running(daemon: Daemon) -> Running:
    assert daemon.running is not None
    return daemon.running


class Fed:
    """The order in which the worker fed audio to streams: (request id, samples) per chunk."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def watch(self, stream: Stream) -> Stream:
        feed = stream.feed

        def recorded(chunk: np.ndarray) -> None:
            with self._lock:
                self.log.append((stream.request.id, len(chunk)))
            feed(chunk)

        stream.feed = recorded  # type: ignore[method-assign]
        return stream

    def samples(self, request_id: str) -> int:
        with self._lock:
            return sum(n for rid, n in self.log if rid == request_id)

    def runs(self) -> list[tuple[str, int]]:
        """Consecutive chunks of one stream joined: (id, samples) per run."""
        runs: list[tuple[str, int]] = []
        for rid, n in self.log:
            if runs and runs[-1][0] == rid:
                runs[-1] = (rid, runs[-1][1] + n)
            else:
                runs.append((rid, n))
        return runs


def consume(stream: Stream) -> threading.Thread:
    thread = threading.Thread(target=lambda: list_quietly(stream), daemon=True)
    thread.start()
    return thread


def list_quietly(stream: Stream) -> None:
    with contextlib.suppress(VoiceDaemonError):
        list(stream)


def one_piece(running: Running) -> int:
    """Samples in one text piece (random weights always make the same number of tokens)."""
    return len(np.concatenate(list(running.seam.stream(SpeechRequest(text="One piece.", source="caller")))))


def test_a_short_request_behind_a_long_one_waits_at_most_one_piece(
    running: Running, events: list[Event]
) -> None:
    piece, fed, seam = one_piece(running), Fed(), running.seam
    long = fed.watch(seam.stream(SpeechRequest(text=text(8), id="long", source="caller")))
    reading = consume(long)
    wait_until(lambda: fed.samples("long") > 0, 60, "the long request began")
    before = fed.samples("long")
    short = fed.watch(seam.stream(SpeechRequest(text="A short question?", id="short", source="caller")))
    assert len(np.concatenate(list(short))) == piece
    reading.join(120)
    assert fed.samples("long") - before >= piece  # the long one went on: the check below can fail
    at_first = sum(
        n
        for rid, n in fed.log[: next(i for i, (rid, _) in enumerate(fed.log) if rid == "short")]
        if rid == "long"
    )
    assert at_first - before <= piece, "the short request waited more than one piece of the long one"
    order = [e.id for e in events if e.final]
    assert order.index("short") < order.index("long")


def test_several_streams_take_turns_a_piece_each(running: Running, events: list[Event]) -> None:
    piece, fed, seam = one_piece(running), Fed(), running.seam
    streams = [
        fed.watch(seam.stream(SpeechRequest(text=text(4), id=name, source="caller"))) for name in "abc"
    ]
    readers = [consume(stream) for stream in streams]
    for reader in readers:
        reader.join(120)
    runs = fed.runs()
    assert all(n <= piece for _, n in runs), runs
    assert [rid for rid, _ in runs] == list("abc") * 4
    assert [e.state for e in events if e.id == "b"] == ["queued", "started", "done"]


def test_an_announcement_yields_a_piece_at_a_time_and_goes_on_while_a_stream_is_parked(
    running: Running, events: list[Event]
) -> None:
    seam, fed, ready = running.seam, Fed(), threading.Event()
    parked = fed.watch(seam.stream(SpeechRequest(text=text(4), id="parked", source="caller")))
    parked.ready = lambda: ready.is_set() or fed.samples("parked") == 0  # type: ignore[method-assign]
    reading = consume(parked)
    wait_until(lambda: fed.samples("parked") > 0, 60, "the parked stream had its first turn")
    seam.submit(SpeechRequest(text=text(2), id="announcement", source="test"))
    other = fed.watch(seam.stream(SpeechRequest(text="Another caller.", id="other", source="caller")))
    assert len(np.concatenate(list(other))) > 0
    wait_until(lambda: any(e.id == "announcement" and e.final for e in events), 60, "the announcement ended")
    assert next(e for e in events if e.id == "announcement" and e.final).state == "done"
    assert not any(e.id == "parked" and e.final for e in events), "a parked stream must wait, not end"
    piece = fed.samples("parked")
    ready.set()  # the caller reads again: the stream goes on where it was
    reading.join(120)
    assert fed.samples("parked") == 4 * piece
    assert [e.state for e in events if e.id == "parked"] == ["queued", "started", "done"]


def test_a_parked_stream_that_is_cancelled_gets_one_failed_event_with_the_reason(
    running: Running, events: list[Event]
) -> None:
    seam, fed = running.seam, Fed()
    stalled = fed.watch(seam.stream(SpeechRequest(text=text(4), id="stalled", source="caller")))
    stalled.ready = lambda: fed.samples("stalled") == 0  # type: ignore[method-assign]
    wait_until(lambda: fed.samples("stalled") > 0, 60, "the stream had its first turn")
    made = fed.samples("stalled")
    stalled.cancel(Cancelled("cancelled: the caller stopped reading"))
    stalled.cancel()  # a second cancel keeps the first reason
    with pytest.raises(Cancelled, match="the caller stopped reading"):
        list(stalled)
    wait_until(lambda: any(e.id == "stalled" and e.final for e in events), 30, "the stream ended")
    after = seam.stream(SpeechRequest(text="Next.", id="after", source="caller"))
    assert len(np.concatenate(list(after))) > 0
    finals = [e for e in events if e.id == "stalled" and e.final]
    assert len(finals) == 1 and finals[0].state == "failed"
    assert finals[0].data["error"] == "cancelled: the caller stopped reading"
    assert fed.samples("stalled") == made, "no piece is made for a stream that is not ready"
    assert len(running.seam._lane) == 0


def test_stop_ends_every_stream_in_the_lane_with_one_failed_event(
    daemon: Daemon, running: Running, events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    seam, fed = running.seam, Fed()
    busy = fed.watch(seam.stream(SpeechRequest(text=text(30), id="busy", source="caller")))
    parked = fed.watch(seam.stream(SpeechRequest(text=text(3), id="parked", source="caller")))
    parked.ready = lambda: fed.samples("parked") == 0  # type: ignore[method-assign]
    waiting = fed.watch(seam.stream(SpeechRequest(text=text(3), id="waiting", source="caller")))
    waiting.ready = lambda: False  # type: ignore[method-assign]
    errors: dict[str, VoiceDaemonError] = {}

    def read(stream: Stream) -> None:
        try:
            list(stream)
        except VoiceDaemonError as exc:
            errors[stream.request.id] = exc

    readers = [threading.Thread(target=read, args=(s,)) for s in (busy, parked, waiting)]
    for reader in readers:
        reader.start()
    wait_until(lambda: fed.samples("parked") > 0 and fed.samples("busy") > 0, 60, "two streams began")
    with caplog.at_level("INFO"):
        daemon.stop()
    daemon.running = None  # stopped: the fixture has nothing left to stop
    for reader in readers:
        reader.join(30)
    for name in ("busy", "parked", "waiting"):
        finals = [e for e in events if e.id == name and e.final]
        assert [e.state for e in finals] == ["failed"], name
        assert finals[0].data["error"] == "the daemon is stopping", name
        assert isinstance(errors[name], Stopping), name
    assert not any(e.id == "waiting" and e.state == "started" for e in events)
    assert "the daemon stopped 3 interactive request(s)" in caplog.text or (
        "the daemon stopped 2 interactive request(s)" in caplog.text  # 'busy' ended in its own turn
    )


def test_with_the_quality_guard_an_announcement_still_yields_between_its_pieces(
    home: Path, tiny_model: Path
) -> None:
    guarded = FAST + "[cache]\naudio_enabled = false\n[quality]\nenabled = true\nmin_score = 0.0\n"
    daemon = Daemon(load_settings(write_config(home, tiny_model, guarded)))
    running = daemon.start()
    try:
        seen: list[Event] = []
        running.seam.subscribe(lambda notice: seen.append(notice) if isinstance(notice, Event) else None)
        running.seam.submit(SpeechRequest(text=text(6), id="guarded", source="test"))
        wait_until(lambda: any(e.id == "guarded" and e.state == "started" for e in seen), 60, "it started")
        reply = running.seam.stream(SpeechRequest(text="A caller meanwhile.", id="reply", source="caller"))
        assert len(np.concatenate(list(reply))) > 0
        wait_until(lambda: any(e.id == "guarded" and e.final for e in seen), 120, "the announcement ended")
    finally:
        daemon.stop()
    order = [(e.id, e.state) for e in seen]
    assert order.index(("reply", "done")) < order.index(("guarded", "done"))
    assert next(e for e in seen if e.id == "guarded" and e.final).data["quality"]["takes"] == 1
