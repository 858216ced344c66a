"""The durable queue: ordering, bounds, duplicates and crash recovery, on real files."""

from pathlib import Path

import pytest

from voice_daemon.core.request import SpeechRequest
from voice_daemon.core.spool import Outcome, Spool
from voice_daemon.errors import DuplicateRequest, IdInUse, QueueFull


def _spool(root: Path, size: int = 10) -> Spool:
    spool = Spool(root, size)
    spool.recover()
    return spool


def _request(rid: str, priority: str = "normal") -> SpeechRequest:
    return SpeechRequest(text=f"text of {rid}", id=rid, priority=priority)


def test_fifo_with_urgent_requests_first(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for rid, priority in [
        ("a", "normal"),
        ("b", "normal"),
        ("u1", "urgent"),
        ("c", "normal"),
        ("u2", "urgent"),
    ]:
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


def test_second_deliveries_are_refused_and_a_reused_id_of_a_finished_request_is_a_new_one(
    tmp_path: Path,
) -> None:
    spool = _spool(tmp_path)
    spool.submit(_request("x"))
    with pytest.raises(DuplicateRequest) as queued:  # the same request again while it is queued
        spool.submit(_request("x"))
    assert queued.value.outcome is None
    with pytest.raises(IdInUse, match="'x' is already queued for another text"):
        spool.submit(SpeechRequest(text="something else", id="x"))
    claim = spool.claim(0)
    with pytest.raises(DuplicateRequest):  # a redelivery while it is being spoken
        spool.submit(SpeechRequest(text="something else", id="x"), redelivered=True)
    spool.finish(claim, Outcome("failed", {"error": "boom"}, claim.request))
    with pytest.raises(DuplicateRequest) as finished:  # the broker delivers it once more
        spool.submit(_request("x"), redelivered=True)
    outcome = finished.value.outcome
    assert isinstance(outcome, Outcome) and outcome.state == "failed" and outcome.data == {"error": "boom"}
    assert spool.outcome("x") == outcome and spool.outcome("unknown") is None
    spool.submit(_request("x"))  # a new publish reusing the id: a new announcement
    assert spool.claim(0).request.id == "x"


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
    assert spool.outcome("old") is None
