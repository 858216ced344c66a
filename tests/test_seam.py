"""The seam as a connection-bound caller meets it: a fake caller (as Wyoming and HTTP will be)
streams requests back through the interactive lane of a real in-process daemon (tiny model)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import clips_of, write_config
from tests.support.daemonproc import FAST, wait_until
from voice_daemon.app import Daemon, Running
from voice_daemon.core.events import Event
from voice_daemon.core.request import SpeechRequest
from voice_daemon.errors import Busy, ReferenceRejected, RequestError, UnknownVoice, VoiceDaemonError
from voice_daemon.settings import load_settings

LONG = " ".join(f"This is sentence number {i} of a long announcement." for i in range(6))


@pytest.fixture
def running(home: Path, tiny_model: Path) -> Iterator[Running]:
    daemon = Daemon(
        load_settings(write_config(home, tiny_model, FAST + "[queue]\ninteractive_max_size = 2\n"))
    )
    try:
        yield daemon.start()
    finally:
        daemon.stop()


def at(events: list[Event], request_id: str, state: str) -> int:
    """The position of an event in the order they were published."""
    return next(
        index for index, event in enumerate(events) if event.id == request_id and event.state == state
    )


def test_a_stream_goes_ahead_of_the_queue_and_between_the_pieces_of_an_announcement(
    running: Running, events: list[Event], home: Path
) -> None:
    seam = running.seam
    seam.submit(SpeechRequest(text=LONG, id="long", source="test"))
    seam.submit(SpeechRequest(text="Queued behind it.", id="queued", source="test"))
    wait_until(
        lambda: any(e.id == "long" and e.state == "started" for e in events), 60, "the announcement started"
    )
    stream = seam.stream(SpeechRequest(text="A reply for a waiting caller.", id="reply", source="caller"))
    chunks = list(stream)
    audio = np.concatenate(chunks)
    assert audio.dtype == np.float32 and len(chunks) >= 2 and len(audio) > 24_000 * 0.5
    assert stream.facts["audio_seconds"] == pytest.approx(len(audio) / 24_000, abs=1e-3)
    wait_until(lambda: any(e.id == "queued" and e.final for e in events), 300, "the queue drained")
    assert at(events, "long", "started") < at(events, "reply", "started") < at(events, "long", "done")
    assert at(events, "reply", "done") < at(events, "queued", "started")
    assert [e.state for e in events if e.id == "reply"] == ["queued", "started", "done"]
    assert not list((home / "spool").rglob("*reply*")), "a connection-bound request is never spooled"
    assert {e.state for e in events if e.id == "long"} == {"queued", "started", "done"}


def test_a_caller_that_goes_away_cancels_its_request_and_the_daemon_carries_on(
    running: Running, events: list[Event]
) -> None:
    seam = running.seam
    stream = seam.stream(SpeechRequest(text=LONG, id="gone", source="caller"))
    first = next(iter(stream))
    assert len(first) > 0
    stream.cancel()
    with pytest.raises(VoiceDaemonError, match="the caller went away"):  # at once: the rest is not sent
        list(stream)
    wait_until(lambda: any(e.id == "gone" and e.final for e in events), 30)
    failed = next(e for e in events if e.id == "gone" and e.final)
    assert failed.state == "failed" and "cancelled" in failed.data["error"]
    after = seam.stream(SpeechRequest(text="Next caller.", id="next", source="caller"))
    assert len(np.concatenate(list(after))) > 0


def test_bad_streams_are_refused_at_once(running: Running) -> None:
    seam = running.seam
    with pytest.raises(UnknownVoice, match="unknown voice 'ghost'"):
        seam.stream(SpeechRequest(text="Hi.", voice="ghost", source="caller"))
    seam.submit(
        SpeechRequest(text=LONG, id="busy-maker", source="test")
    )  # keeps the worker on an announcement
    waiting = [seam.stream(SpeechRequest(text=LONG, source="caller")) for _ in range(2)]
    with pytest.raises(Busy, match="2 interactive requests are waiting"):
        for _ in range(3):  # the worker may have taken one already
            waiting.append(seam.stream(SpeechRequest(text=LONG, source="caller")))
    for stream in waiting:
        stream.cancel()


def test_a_speed_factor_changes_the_rate_of_the_voice(running: Running, events: list[Event]) -> None:
    seam = running.seam
    normal = np.concatenate(
        list(seam.stream(SpeechRequest(text="Speed test.", id="normal", source="caller")))
    )
    fast = np.concatenate(list(seam.stream(SpeechRequest(text="Speed test.", speed=2.0, source="caller"))))
    assert len(fast) == pytest.approx(len(normal) / 2, rel=0.1)  # the tiny model always makes 40 tokens
    assert [e.state for e in events if e.id == "normal"] == ["queued", "started", "done"]  # idle worker too


def flac_bytes(path: Path, seconds: float | None = None) -> bytes:
    """The audio of ``path`` (its first ``seconds``) as FLAC bytes, as a client would upload it."""
    samples, rate = sf.read(str(path), dtype="float32")
    out = io.BytesIO()
    sf.write(out, samples[: int(rate * seconds)] if seconds else samples, rate, format="FLAC")
    return out.getvalue()


def test_voices_added_and_removed_through_the_seam(running: Running, home: Path, corpus: Path) -> None:
    seam, voices = running.seam, home / "voices"
    before = sorted(p.name for p in voices.iterdir())
    clips = [(path.name, flac_bytes(path)) for path in sorted((corpus / "1688").glob("*.flac"))[:2]]
    added = seam.add_voice("anna", clips)
    assert added.name == "anna" and added.status != "rejected" and len(added.files) == 2
    assert sorted(p.name for p in (voices / "anna").iterdir()) == ["clip01.flac", "clip02.flac"]
    assert (
        len(np.concatenate(list(seam.stream(SpeechRequest(text="Hello.", voice="anna", source="caller")))))
        > 0
    )
    single = seam.add_voice("bert", clips[:1])
    assert single.files == ("bert.flac",) and (voices / "bert.flac").is_file()

    short = ("short.flac", flac_bytes(clips_of(corpus, "367")[0], seconds=1.0))
    with pytest.raises(ReferenceRejected, match=r"short\.flac: .*speech.*\| notes\.txt: .*not a readable"):
        seam.add_voice("carl", [clips[0], short, ("notes.txt", b"not audio")])
    with pytest.raises(RequestError, match="exists already"):
        seam.add_voice("anna", clips)
    with pytest.raises(RequestError, match="is not a voice name"):
        seam.add_voice("../etc", clips)
    assert sorted(p.name for p in voices.iterdir()) == sorted([*before, "anna", "bert.flac"])

    seam.remove_voice("anna")
    seam.remove_voice("bert")
    assert sorted(p.name for p in voices.iterdir()) == before
    assert {voice.name for voice in seam.state().voices} == {"default"}
    with pytest.raises(UnknownVoice, match="unknown voice 'anna'"):
        seam.stream(SpeechRequest(text="Hello.", voice="anna", source="caller"))
    with pytest.raises(UnknownVoice, match="unknown voice 'anna'"):
        seam.remove_voice("anna")
