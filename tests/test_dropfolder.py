"""The drop folder's rules on a temporary folder, in-process, against the in-memory seam.

The watcher and the files are real (inotify, renames, links, pipes); the queue behind the seam is
the fake (``tests/support/fakeseam``).  ``test_daemon.py`` keeps what needs the real daemon:
a crash losing nothing, a restart filing what finished, 350 files through the real queue.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fakeseam import FakeSeam
from tests.support.hostile import NAMED, Hostile, check_answers, random_payloads
from voice_daemon.core.request import Limits
from voice_daemon.sources.dropfolder import DropFolder

TIMEOUT = 20


def wait_until(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def seam() -> FakeSeam:
    return FakeSeam(voices=("default",), default="default", limits=Limits(max_text_length=200), capacity=500)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return tmp_path / "inbox"


@pytest.fixture
def folder(inbox: Path, seam: FakeSeam) -> Iterator[DropFolder]:
    inbox.mkdir()
    folder = DropFolder(inbox, seam, settle=0.05, rescan=0.5)
    yield folder
    folder.stop()


def drop(inbox: Path, name: str, content: str | bytes) -> None:
    """Write a request file the way a careful client does: temporary name, then rename."""
    temporary = inbox / f".{name}.part"
    temporary.write_bytes(content.encode() if isinstance(content, str) else content)
    temporary.rename(inbox / name)


def sparse(path: Path, size: int) -> None:
    """A file of ``size`` bytes that takes no disk space."""
    with path.open("wb") as handle:
        handle.truncate(size)


def filed(inbox: Path, name: str) -> str | None:
    return next((where for where in ("done", "failed") if (inbox / where / name).exists()), None)


def wait_filed(inbox: Path, name: str) -> str:
    wait_until(lambda: filed(inbox, name), f"{name} filed")
    return filed(inbox, name) or ""


def test_good_files_become_requests_named_after_them_and_are_filed_when_done(
    folder: DropFolder, inbox: Path, seam: FakeSeam
) -> None:
    folder.start()
    drop(inbox, "plain.txt", "The front door is open.")
    drop(inbox, "full.json", json.dumps({"text": "Die Tür ist offen.", "language": "de", "id": "door-1"}))
    wait_until(lambda: len(seam.submitted) == 2, "two requests")
    requests = {request.name: request for request in seam.submitted}
    assert requests["plain"].text == "The front door is open." and requests["plain"].source == "inbox"
    assert requests["full"].id == "door-1" and requests["full"].language == "de"
    assert requests["full"].context == {"file": "full.json"}
    assert not list(inbox.glob("*.*")) and {p.name for p in (inbox / "processing").iterdir()} == {
        "plain.txt",
        "full.json",
    }
    seam.end("door-1")
    seam.end(requests["plain"].id, "failed", error="the speakers are gone")
    assert (filed(inbox, "full.json"), filed(inbox, "plain.txt")) == ("done", "failed")
    assert (inbox / "failed" / "plain.error.txt").read_text() == "the speakers are gone\n"


BAD = {
    "broken.json": ("{not json", "not valid JSON"),
    "empty.txt": ("   \n", "text is empty"),
    "klingon.json": (json.dumps({"text": "Qapla", "language": "tlh"}), "unsupported language 'tlh'"),
    "path.json": (json.dumps({"text": "hi", "voice": "../../etc/passwd"}), "is not a voice name"),
    "ghost.json": (json.dumps({"text": "hi", "voice": "ghost"}), "unknown voice 'ghost'"),
    "long.txt": ("word " * 100, "the maximum is 200"),
    "array.json": ("[1, 2]", "must be an object"),
    "extra.json": (json.dumps({"text": "hi", "pitch": 3}), "unknown field 'pitch'"),
    "loud.json": (json.dumps({"text": "hi", "volume": 3}), "volume: Input should be less than or equal to 1"),
}


def test_bad_files_are_filed_to_failed_with_the_reason_and_one_failed_event_each(
    folder: DropFolder, inbox: Path, seam: FakeSeam, tmp_path: Path
) -> None:
    folder.start()
    for name, (content, _) in BAD.items():
        drop(inbox, name, content)
    for name, (_, reason) in BAD.items():
        assert wait_filed(inbox, name) == "failed", name
        assert reason in (inbox / "failed" / f"{Path(name).stem}.error.txt").read_text(), name
    assert sorted(event.context["file"] for event in seam.failures) == sorted(BAD)
    assert not seam.submitted and not list(inbox.glob("*.*")), "the inbox root must be empty"
    assert not (tmp_path / "etc").exists()


def test_an_id_reused_by_another_file_after_a_crash_is_refused_with_a_failed_event(
    folder: DropFolder, inbox: Path, seam: FakeSeam
) -> None:
    """Found by issue 20: it was filed to failed/ and no event said so."""
    folder.start()
    drop(inbox, "first.json", json.dumps({"text": "The first time.", "id": "again"}))
    wait_until(lambda: seam.submitted, "the first request")
    seam.end("again")
    folder.stop()
    (inbox / "processing" / "second.json").write_text(json.dumps({"text": "The second time.", "id": "again"}))
    restarted = DropFolder(inbox, seam, settle=0.05, rescan=0.5)
    restarted.start()  # recovers what it had claimed
    restarted.stop()
    assert filed(inbox, "second.json") == "failed"
    [refused] = seam.failures
    assert (refused.id, refused.context, refused.data["code"]) == (
        "again",
        {"file": "second.json"},
        "id_in_use",
    )
    assert "already used by another request" in (inbox / "failed" / "second.error.txt").read_text()


def test_a_reused_id_is_a_new_request_and_a_recovered_finished_file_is_filed(
    folder: DropFolder, inbox: Path, seam: FakeSeam
) -> None:
    folder.start()
    drop(inbox, "first.json", json.dumps({"text": "The first time.", "id": "again"}))
    wait_until(lambda: seam.submitted, "the first request")
    seam.end("again")
    drop(inbox, "second.json", json.dumps({"text": "The second time.", "id": "again"}))
    wait_until(lambda: seam.submitted, "the second request")
    assert seam.submitted[0].text == "The second time."
    folder.stop()
    seam.end("again")
    (inbox / "done" / "second.json").rename(
        inbox / "processing" / "second.json"
    )  # as if filing was cut short
    restarted = DropFolder(inbox, seam, settle=0.05, rescan=0.5)
    restarted.start()
    restarted.stop()
    assert filed(inbox, "second.json") == "done" and not seam.failures


def test_a_full_queue_leaves_files_waiting_until_half_of_it_is_free(inbox: Path) -> None:
    seam = FakeSeam(voices=("default",), default="default", capacity=2)
    inbox.mkdir()
    folder = DropFolder(inbox, seam, settle=0.05, rescan=60)
    folder.start()
    try:
        for n in range(4):
            drop(inbox, f"n{n}.txt", f"Number {n}.")
        wait_until(lambda: len(seam.submitted) == 2, "the queue full")
        time.sleep(0.3)
        assert len(list(inbox.glob("*.txt"))) == 2  # waiting in the folder, not refused
        seam.end(seam.submitted[0].id)  # one left of two: half free, scanned at once, not at the rescan
        wait_until(
            lambda: (
                (len(seam.submitted) == 2 and not list(inbox.glob("*.txt")))
                or (len(seam.outcomes) == 1 and len(list(inbox.glob("*.txt"))) == 1)
            ),
            "one more taken",
        )
        assert not seam.failures
    finally:
        folder.stop()


def test_hostile_files_are_each_answered_once(
    folder: DropFolder,
    inbox: Path,
    seam: FakeSeam,
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seam.limits = Limits()  # the daemon's defaults, which the hostile payloads are made for
    folder.start()
    payloads = [payload.unread_when_oversized() for payload in NAMED + random_payloads(300, seed=17)]
    for payload in payloads:  # the suffix says what a file is; JSON-looking ones are .json
        drop(inbox, f"{payload.name}.{'json' if payload.is_json else 'txt'}", payload.payload)
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("Nobody may read this aloud.")
    specials = {  # not regular files, or not UTF-8 names: refused without being read
        "link.txt": lambda path: path.symlink_to(outside),
        "pipe.txt": lambda path: os.mkfifo(path),
        "big.txt": lambda path: sparse(path, 100 * 2**20),  # 100 MB of nothing
    }
    for name, make in specials.items():
        make(inbox / name)
    os.close(os.open(os.fsencode(inbox) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    count = len(payloads) + len(specials) + 1
    wait_until(lambda: len(seam.failures) >= count, f"{count} failed events", 120)
    time.sleep(0.5)
    events = [event.payload() for event in seam.failures]
    check_answers(payloads + [Hostile(name, b"", None) for name in [*specials, "latin-1 name"]], events)
    errors = {path.name: path.read_text(errors="replace") for path in (inbox / "failed").glob("*.error.txt")}
    assert len(errors) == count and not seam.submitted
    assert not list((inbox / "done").iterdir()) and not list((inbox / "processing").iterdir())
    assert "symbolic link" in errors["link.error.txt"] and "not a regular file" in errors["pipe.error.txt"]
    assert "the maximum is 65536" in errors["big.error.txt"]
    assert "not UTF-8" in errors[os.fsdecode(b"caf\xe9.error.txt")]
    assert not [path for path in inbox.iterdir() if path.is_file() or path.is_symlink()], (
        "the inbox root is empty"
    )
    drop(inbox, "after.txt", "Still serving.")
    wait_until(lambda: seam.submitted, "a request taken")
    assert not [record for record in caplog.records if record.exc_info or "Traceback" in record.getMessage()]


def test_prune_removes_only_files_in_done_older_than_the_age(folder: DropFolder, inbox: Path) -> None:
    folder.start()
    old, new, failed = inbox / "done" / "old.txt", inbox / "done" / "new.txt", inbox / "failed" / "kept.txt"
    for path in (old, new, failed):
        path.write_text("x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(failed, (time.time() - 7200, time.time() - 7200))
    folder.prune(3600)
    assert (old.exists(), new.exists(), failed.exists()) == (False, True, True)
