"""The durable queue: ordering, bounds, duplicates and crash recovery, on real files."""

from pathlib import Path

import pytest

from daemon.errors import DuplicateRequest, QueueFull
from daemon.request import SpeechRequest
from daemon.spool import Outcome, Spool


def _spool(root: Path, size: int = 10) -> Spool:
    spool = Spool(root, size)
    spool.recover()
    return spool


def _request(rid: str, priority: str = "normal") -> SpeechRequest:
    return SpeechRequest(text=f"text of {rid}", id=rid, priority=priority)


def test_fifo_with_urgent_requests_first(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for rid, priority in [("a", "normal"), ("b", "normal"), ("u1", "urgent"), ("c", "normal"), ("u2", "urgent")]:
        spool.submit(_request(rid, priority))
    order = [spool.claim(0).request.id for _ in range(5)]
    assert order == ["u1", "u2", "a", "b", "c"]
    assert spool.claim(0.05) is None


def test_a_submitted_request_is_on_disk_before_submit_returns(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.submit(_request("durable"))
    files = list((tmp_path / "new").iterdir())
    assert len(files) == 1 and '"durable"' in files[0].read_text()
    assert not list((tmp_path / "tmp").iterdir())


def test_queue_full_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    spool = _spool(tmp_path, size=2)
    spool.submit(_request("a"))
    spool.submit(_request("b"))
    with pytest.raises(QueueFull, match=r"queue is full \(2 requests waiting\)"):
        spool.submit(_request("c"))
    assert not spool.has_room()
    spool.finish(spool.claim(0), Outcome("done", {}, _request("a")))
    spool.submit(_request("c"))


def test_duplicate_ids_are_refused_while_queued_and_after_finishing(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.submit(_request("x"))
    with pytest.raises(DuplicateRequest):
        spool.submit(_request("x"))
    claim = spool.claim(0)
    assert spool.status("x") == "active"
    spool.finish(claim, Outcome("failed", {"error": "boom"}, claim.request))
    with pytest.raises(DuplicateRequest):
        spool.submit(_request("x"))
    outcome = spool.status("x")
    assert isinstance(outcome, Outcome) and outcome.state == "failed" and outcome.data == {"error": "boom"}
    assert spool.status("unknown") is None


def test_crash_recovery_puts_claimed_requests_back_in_order(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for rid in ("first", "second", "third"):
        spool.submit(_request(rid))
    spool.claim(0)  # "first" is in progress when the process dies
    reborn = Spool(tmp_path, 10)
    assert reborn.recover() == 3
    assert [reborn.claim(0).request.id for _ in range(3)] == ["first", "second", "third"]


def test_release_puts_a_request_back_at_the_front(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.submit(_request("one"))
    spool.submit(_request("two"))
    claim = spool.claim(0)
    spool.release(claim)
    assert spool.claim(0).request.id == "one"


def test_a_corrupt_request_file_is_set_aside_and_the_queue_goes_on(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.submit(_request("good"))
    (tmp_path / "new" / "0000-broken.json").write_text("{not json")
    assert spool.recover() == 2
    assert spool.claim(0).request.id == "good"
    assert list((tmp_path / "cur").glob("*.corrupt"))


def test_old_outcomes_are_pruned(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10, keep_finished_seconds=0)
    spool.recover()
    spool.submit(_request("old"))
    claim = spool.claim(0)
    spool.finish(claim, Outcome("done", {}, claim.request))
    spool.prune()
    assert spool.status("old") is None
