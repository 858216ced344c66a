"""Complete-file detection: slow writers, renames, deletions and rescans, on a real folder."""

import os
import time
from pathlib import Path

from tests.support.daemonproc import wait_until
from voice_daemon.watching import SettledFiles, open_for_writing


class Collector:
    def __init__(self) -> None:
        self.ready: list[tuple[Path, bytes]] = []
        self.gone: list[Path] = []

    def on_ready(self, path: Path) -> None:
        self.ready.append((path, path.read_bytes()))

    def on_gone(self, path: Path) -> None:
        self.gone.append(path)


def _watch(folder: Path, collector: Collector, rescan: float = 30) -> SettledFiles:
    watcher = SettledFiles(
        folder,
        collector.on_ready,
        collector.on_gone,
        accept=lambda p: p.suffix == ".txt",
        settle=0.3,
        rescan=rescan,
    )
    watcher.start()
    return watcher


def test_a_slow_writer_is_read_once_and_whole(tmp_path: Path) -> None:
    collector = Collector()
    watcher = _watch(tmp_path, collector)
    try:
        with (tmp_path / "slow.txt").open("w") as handle:
            for part in range(6):
                handle.write(f"part {part}. ")
                handle.flush()
                time.sleep(0.5)  # pauses longer than the settle time, file still open
        wait_until(lambda: collector.ready, 5)
        time.sleep(1)
        assert collector.ready == [
            (tmp_path / "slow.txt", b"".join(f"part {i}. ".encode() for i in range(6)))
        ]
    finally:
        watcher.stop()


def test_a_file_renamed_in_is_seen_and_hidden_temporaries_are_not(tmp_path: Path) -> None:
    collector = Collector()
    watcher = _watch(tmp_path, collector)
    try:
        (tmp_path / ".incoming").write_text("whole text")
        os.rename(tmp_path / ".incoming", tmp_path / "renamed.txt")
        wait_until(lambda: collector.ready, 5)
        assert collector.ready == [(tmp_path / "renamed.txt", b"whole text")]
        (tmp_path / "renamed.txt").unlink()
        wait_until(lambda: collector.gone, 5)
        assert collector.gone == [tmp_path / "renamed.txt"]
    finally:
        watcher.stop()


def test_files_present_at_start_and_missed_events_are_found_by_scans(tmp_path: Path) -> None:
    (tmp_path / "early.txt").write_text("before start")
    collector = Collector()
    watcher = _watch(tmp_path, collector, rescan=0.5)
    try:
        wait_until(lambda: len(collector.ready) == 1, 5)
        watcher._observer.stop()  # from now on no inotify event arrives, as after an overflow
        watcher._observer.join()
        (tmp_path / "missed.txt").write_text("no event for me")
        wait_until(lambda: any(path.name == "missed.txt" for path, _ in collector.ready), 5)
        assert (
            collector.ready[0][0].name == "early.txt"
        )  # rescans report present files again: callers are idempotent
    finally:
        watcher.stop()


def test_open_for_writing_sees_our_own_open_file(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    with path.open("w"):
        assert open_for_writing(path)
    assert not open_for_writing(path)
    with path.open("r"):
        assert not open_for_writing(path)
