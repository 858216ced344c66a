"""``voice-daemon run`` as a real subprocess: systemd protocol, voices, drop folder, crashes.

The drop folder's rules (what is refused and why, reused ids, a full queue) are tested in-process
in ``test_dropfolder.py``; here the real queue, worker and files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import clip_longer_than
from tests.support.daemonproc import FAST, StartDaemon, daemon_command, drop, wait_filed, wait_until


def test_leftovers_removed_then_ready_status_watchdog_and_clean_stop(
    start_daemon: StartDaemon, home: Path
) -> None:
    hour_ago = time.time() - 3600
    leftovers = {  # what writes interrupted by a crash leave; the caches may be written by others now
        home / "output" / ".a.wav.x1.tmp": (time.time(), False),
        home / "cache" / "latents" / ".b.pt.x2.tmp": (hour_ago, False),
        home / "cache" / "audio" / ".c.npy.x3.tmp": (hour_ago, False),
        home / "cache" / "audio" / ".d.npy.x4.tmp": (time.time(), True),  # may be another process's write
    }
    for path, (mtime, _) in leftovers.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
        os.utime(path, (mtime, mtime))
    daemon = start_daemon(env={"WATCHDOG_USEC": "1000000"})
    left = {path.name: path.exists() for path in leftovers}
    assert left == {path.name: kept for path, (_, kept) in leftovers.items()}
    time.sleep(2.5)
    assert len(daemon.notify.seen("WATCHDOG", "1")) >= 3
    statuses = [fields["STATUS"] for _, fields in daemon.notify.messages if "STATUS" in fields]
    assert any(status.startswith("starting") for status in statuses)
    assert any("queued" in status and "voice(s)" in status for status in statuses)
    assert daemon.stop() == 0
    assert daemon.notify.seen("STOPPING", "1")
    assert "stopped" in daemon.log()


def test_voices_and_voice_folders_appear_change_and_disappear_while_running(
    start_daemon: StartDaemon, home: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    start_daemon()
    voices = home / "voices"
    shutil.copy(clip_longer_than(corpus, "3080", 8), voices / ".anna.tmp")
    (voices / ".anna.tmp").rename(voices / "anna.flac")
    time.sleep(1.5)
    drop(home, "hello-anna.json", json.dumps({"text": "Hello, I am Anna.", "voice": "anna"}))
    assert wait_filed(home, "hello-anna.json") == "done"

    (voices / "broken.wav").write_bytes(b"RIFF-not-really")
    wait_until(lambda: (voices / "broken.error.txt").exists(), 10)
    assert "not a readable" in (voices / "broken.error.txt").read_text()
    outside = tmp_path_factory.mktemp("elsewhere") / "real.flac"
    shutil.copy(clip_longer_than(corpus, "1688", 8), outside)
    (voices / "sneaky.flac").symlink_to(outside)
    wait_until(lambda: (voices / "sneaky.error.txt").exists(), 10)
    assert "outside the voices folder" in (voices / "sneaky.error.txt").read_text()

    shutil.copy(clip_longer_than(corpus, "2033", 8), voices / "broken.wav.tmp")
    os.replace(voices / "broken.wav.tmp", voices / "broken.wav")  # fixed: a real recording now
    wait_until(lambda: not (voices / "broken.error.txt").exists(), 10)

    (voices / "anna.flac").unlink()
    time.sleep(1.5)
    drop(home, "gone.json", json.dumps({"text": "Anyone there?", "voice": "anna"}))
    assert wait_filed(home, "gone.json") == "failed"
    assert "unknown voice 'anna'" in (home / "inbox" / "failed" / "gone.error.txt").read_text()

    staging = home / ".staging"  # a voice folder of several clips
    staging.mkdir()
    for clip in sorted((corpus / "2609").glob("*.flac"))[:3]:
        shutil.copy(clip, staging)
    staging.rename(home / "voices" / "grandpa")
    time.sleep(1.5)
    drop(home, "g.json", json.dumps({"text": "Good morning.", "voice": "grandpa"}))
    assert wait_filed(home, "g.json") == "done"


def test_latents_are_reused_after_restart(start_daemon: StartDaemon, home: Path) -> None:
    first = start_daemon()
    cached = list((home / "cache" / "latents").glob("*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert "computing latents of voice default" in first.log()
    assert first.stop() == 0
    second = start_daemon()
    assert "computing latents" not in second.log()
    assert cached[0].stat().st_mtime_ns == stamp
    drop(home, "after.txt", "Still the same voice.")
    assert wait_filed(home, "after.txt") == "done"
    assert "computing latents" not in second.log()


def test_a_slow_writer_is_processed_once_and_whole(start_daemon: StartDaemon, home: Path) -> None:
    start_daemon()
    drop(home, "one.txt", "One sentence only.")
    assert wait_filed(home, "one.txt") == "done"
    with (home / "inbox" / "slow.txt").open("w") as handle:
        for sentence in ("First sentence here. ", "Second sentence there. ", "Third and last one."):
            handle.write(sentence)
            handle.flush()
            time.sleep(1.2)
    assert wait_filed(home, "slow.txt") == "done"
    assert sf.info(str(home / "output" / "one.wav")).samplerate == 24_000
    one = sf.info(str(home / "output" / "one.wav")).frames
    slow = sf.info(str(home / "output" / "slow.wav")).frames
    assert slow == 3 * one  # random weights: every sentence yields the same length
    assert len(list((home / "spool" / "done").glob("inbox-slow-*.json"))) == 1


def test_kill_9_loses_nothing_and_repeats_nothing(start_daemon: StartDaemon, home: Path) -> None:
    names = [f"job{i}.txt" for i in range(6)]
    first = start_daemon()
    for name in names:
        drop(home, name, f"This is request {name}. It has two sentences.")
    wait_until(lambda: (home / "inbox" / "done" / names[0]).exists(), 60)
    first.kill()
    assert len(list((home / "inbox" / "done").iterdir())) < len(names), "killed too late to prove anything"
    second = start_daemon()
    for name in names:
        assert wait_filed(home, name, 120) == "done"
    logs = first.log() + second.log()
    for name in names:
        request_id = json.loads(
            next((home / "spool" / "done").glob(f"inbox-{Path(name).stem}-*.json")).read_text()
        )["request"]["id"]
        assert logs.count(f"request {request_id} done") == 1, name
        assert logs.count(f"request {request_id} queued") == 1, name
    assert sorted(p.name for p in (home / "output").glob("*.wav")) == sorted(
        n.replace(".txt", ".wav") for n in names
    )
    assert not list((home / "inbox" / "processing").iterdir())


def test_sigterm_puts_the_request_in_progress_back(start_daemon: StartDaemon, home: Path) -> None:
    first = start_daemon()
    drop(home, "long.txt", " ".join(f"Sentence number {i} of a long announcement." for i in range(5)))
    wait_until(lambda: " started" in first.log(), 30)
    assert first.stop(timeout=30) == 0
    assert "goes back into the queue" in first.log()
    assert (home / "inbox" / "processing" / "long.txt").exists()
    start_daemon()
    assert wait_filed(home, "long.txt", 120) == "done"


@pytest.mark.timeout(900)
def test_a_burst_of_300_files_plus_50_at_start_up_are_all_processed(
    start_daemon: StartDaemon, home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from voice_daemon.synthesis.devmodel import build_checkpoint

    quick = build_checkpoint(tmp_path_factory.mktemp("quick-model"), "tiny", max_audio_tokens=4)
    for i in range(50):
        drop(home, f"early{i:03}.txt", f"Early request {i}.")
    start_daemon(FAST, model=quick)
    inbox = home / "inbox"
    for i in range(300):  # three times queue.max_size (100): the rest waits in the inbox
        (inbox / f"burst{i:04}.txt").write_text(f"Burst request {i}.")
    wait_until(
        lambda: len(os.listdir(inbox / "done")) == 350,
        600,
        lambda: f"{len(os.listdir(inbox / 'done'))} of 350 done",
    )
    assert not os.listdir(inbox / "failed")
    assert len(os.listdir(home / "output")) == 350
    assert len(os.listdir(home / "spool" / "done")) == 350


def test_a_missing_default_voice_falls_back_to_the_first_usable_one(
    start_daemon: StartDaemon, home: Path
) -> None:
    """The system service as README sets it up: only guest.flac, synthesis.voice stays 'default'."""
    (home / "voices" / "default.flac").rename(home / "voices" / "guest.flac")
    daemon = start_daemon()
    drop(home, "plain.txt", "A plain text drop.")
    drop(home, "second.txt", "Another one.")
    drop(home, "named.json", json.dumps({"text": "Asking for it by name.", "voice": "default"}))
    assert wait_filed(home, "plain.txt") == "done" and wait_filed(home, "second.txt") == "done"
    assert wait_filed(home, "named.json") == "failed"
    assert (
        "unknown voice 'default' (available: guest)"
        in (home / "inbox" / "failed" / "named.error.txt").read_text()
    )
    spoken = {
        json.loads(path.read_text())["request"]["voice"] for path in (home / "spool" / "done").glob("*.json")
    }
    assert spoken == {"guest"}
    note = "the default voice 'default' is missing; requests naming no voice use 'guest'"
    warnings = [line for line in daemon.log().splitlines() if "WARNING" in line and note in line]
    assert len(warnings) == 1, warnings  # once, though every request and status line asked
    wait_until(
        lambda: any(note in fields.get("STATUS", "") for _, fields in daemon.notify.messages), 10, "status"
    )
    listing = subprocess.run(
        daemon_command("--config", str(daemon.config), "voices"), capture_output=True, text=True, timeout=120
    )
    assert note in listing.stdout


def test_a_vanished_notify_socket_is_reported_once(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    daemon.notify.close()
    daemon.notify.path.unlink()
    time.sleep(4)  # the daemon reports its status every second
    assert daemon.log().count("sd_notify to") == 1, daemon.log()
    assert daemon.stop() == 0
