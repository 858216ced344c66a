"""Real playback into a PulseAudio null sink, recorded from its monitor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.support.daemonproc import FAST, StartDaemon, drop, outcome, wait_filed
from tests.support.pulse import PulseServer, active_seconds
from voice_daemon.sinks.files import output_path, save
from voice_daemon.sinks.player import PlaybackResult, Player

RATE = 24_000


def _tone(seconds: float, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _play(player: Player, chunks: Iterator[np.ndarray]) -> PlaybackResult:
    """Play ``chunks`` as one announcement and wait until it has been heard."""
    announcement = player.announce()
    for chunk in chunks:
        announcement.feed(chunk)
    announcement.finish()
    return announcement.wait()


def test_player_output_really_comes_out_of_the_sink(pulse: PulseServer, tmp_path: Path) -> None:
    recorder = pulse.record(tmp_path / "rec.raw")
    player = Player("pulse")
    result = _play(player, iter([_tone(0.5), _tone(0.5, 660)]))
    player.close()
    recorded = recorder.stop()
    assert result.error is None and abs(result.seconds - 1.0) < 1e-6
    assert 0.9 <= active_seconds(recorded) <= 1.3
    loud = recorded[np.abs(recorded) > 0.01]
    assert 0.25 < np.abs(loud).max() < 0.35  # the tone's amplitude, not noise


def test_announcements_play_one_after_another_never_overlapping(pulse: PulseServer, tmp_path: Path) -> None:
    recorder = pulse.record(tmp_path / "rec.raw")
    player = Player("pulse")
    first, second = player.announce(), player.announce()
    second.feed(_tone(0.8, 880))  # fed first, but queued second: must wait its turn
    second.finish()
    first.feed(_tone(0.8))
    first.finish()
    assert first.wait(10).error is None and second.wait(10).error is None
    player.close()
    recorded = recorder.stop()
    assert second.result.first_audio_at > first.result.first_audio_at + 0.7
    # Two 0.8 s tones back to back give 1.6 s of sound, on top of each other 0.8 s; parec may
    # connect a little late on a busy machine and miss the start (1.49 s seen), hence 1.3 s.
    assert active_seconds(recorded) >= 1.3


def test_a_missing_device_is_reported_not_fatal(pulse: PulseServer) -> None:
    player = Player("no-such-device")
    result = _play(player, iter([_tone(0.2)]))
    assert result.error is not None and "no-such-device" in str(result.error)
    assert _play(player, iter([_tone(0.1)])).error is not None  # the player thread survived
    player.close()


def test_files_are_written_atomically_inside_the_output_folder(tmp_path: Path) -> None:
    for hostile in ("../../etc/passwd", "/etc/passwd", "..", "a/b\\c", "~root"):
        path = output_path(tmp_path, hostile)
        assert path.parent == tmp_path.resolve(), hostile
    written = save(tmp_path, "../escape", _tone(0.1), RATE)
    assert written.parent == tmp_path.resolve() and sf.info(str(written)).samplerate == RATE
    assert not list(tmp_path.glob(".*.tmp"))


PLAY = FAST.replace('mode = "file"', 'mode = "play"\ndevice = "pulse"')


def test_the_daemon_speaks_requests_in_order_without_overlap(
    start_daemon: StartDaemon, home: Path, pulse: PulseServer
) -> None:
    start_daemon(PLAY)
    recorder = pulse.record(home / "rec.raw")
    drop(
        home,
        "a.json",
        json.dumps({"id": "first", "text": "The first announcement has two sentences. Here is two."}),
    )
    drop(home, "b.json", json.dumps({"id": "second", "text": "The second announcement."}))
    assert wait_filed(home, "a.json") == "done" and wait_filed(home, "b.json") == "done"
    recorded = recorder.stop()
    first, second = outcome(home, "first")["data"], outcome(home, "second")["data"]
    spoken = first["audio_seconds"] + second["audio_seconds"]
    assert active_seconds(recorded) >= 0.85 * spoken
    # Streaming: the first audio reached the device long before synthesis of both sentences ended.
    assert first["first_audio_seconds"] < 0.7 * first["synthesis_seconds"]
    assert "file" not in first


def test_a_missing_audio_device_falls_back_to_a_file(start_daemon: StartDaemon, home: Path) -> None:
    start_daemon(FAST.replace('mode = "file"', 'mode = "play"\ndevice = "no-such-device"'))
    drop(home, "x.json", json.dumps({"id": "nodev", "text": "Is anybody listening?"}))
    assert wait_filed(home, "x.json") == "done"
    data = outcome(home, "nodev")["data"]
    assert "no-such-device" in data["playback_error"] and "saved to a file instead" in data["playback_error"]
    assert (home / "output" / data["file"]).exists()
    drop(home, "y.json", json.dumps({"id": "still-alive", "text": "Still here.", "output": "file"}))
    assert wait_filed(home, "y.json") == "done"
