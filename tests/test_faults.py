"""Faults named plainly (``voice-daemon run``, tiny model): a full disk under the output or the queue
folder (small tmpfs mounts; root only), a broker that goes away during a flood of refusals, a
clean stop with MQTT."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from tests.conftest import mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon, drop, wait_filed, wait_until
from tests.support.hostile import assert_clean_log
from voice_daemon.sources.mqtt.bridge import paho_level


class SmallDisk:
    """A 1 MB tmpfs mounted over a folder of the daemon's home; :meth:`fill` leaves it without space."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.filler = folder / "filler"
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")

    def fill(self) -> None:
        with self.filler.open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    def free(self) -> None:
        self.filler.unlink()

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.folder)], check=False)


@pytest.fixture
def small_disk(home: Path) -> Iterator[Callable[[str], SmallDisk]]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted: list[SmallDisk] = []

    def mount(name: str) -> SmallDisk:
        disk = SmallDisk(home / name)
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        disk.unmount()


def test_a_full_output_folder_is_named_and_the_daemon_carries_on(
    start_daemon: StartDaemon, home: Path, small_disk: Callable[[str], SmallDisk]
) -> None:
    output = small_disk("output")
    daemon = start_daemon()
    output.fill()
    drop(home, "no-room.txt", "There is no room for this announcement.")
    assert wait_filed(home, "no-room.txt") == "failed"
    error = (home / "inbox" / "failed" / "no-room.error.txt").read_text()
    assert f"output folder {home / 'output'} is full (No space left on device)" in error
    output.free()
    drop(home, "room-again.txt", "Now there is room.")
    assert wait_filed(home, "room-again.txt") == "done"
    assert (home / "output" / "room-again.wav").exists() and not (home / "output" / "no-room.wav").exists()
    log = daemon.log()
    assert_clean_log(log)
    assert "internal error" not in log and "crashed" not in log


def test_a_full_queue_folder_is_named_for_every_source(
    start_daemon: StartDaemon,
    home: Path,
    small_disk: Callable[[str], SmallDisk],
    broker: Broker,
    listener: Listener,
) -> None:
    spool = small_disk("spool")
    daemon = start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    spool.fill()
    listener.publish("voice/say", {"id": "full-queue", "text": "Nowhere to keep this."})
    event = listener.wait_for(
        lambda: [e for e in listener.events("full-queue") if e["state"] == "failed"], 30
    )[0]
    assert f"queue folder {home / 'spool'} is full" in event["error"]
    drop(home, "full-queue.json", json.dumps({"text": "Nor this."}))
    assert wait_filed(home, "full-queue.json") == "failed"
    assert "is full" in (home / "inbox" / "failed" / "full-queue.error.txt").read_text()
    spool.free()
    listener.publish("voice/say", {"id": "room-again", "text": "Now there is room."})
    listener.wait_for(lambda: any(e["state"] == "done" for e in listener.events("room-again")), 60, "served")
    assert_clean_log(daemon.log())


def test_events_beyond_the_outgoing_bound_are_dropped_and_counted_while_the_broker_is_away(
    start_daemon: StartDaemon, home: Path, broker: Broker, listener: Listener
) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker, "max_queued_events = 20"))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    broker.stop()
    wait_until(lambda: "disconnected from MQTT broker" in daemon.log(), 30, "the daemon noticed")
    for n in range(300):  # refusals: each one an event the daemon cannot publish now
        drop(home, f"bad-{n}.json", "{not json")
    wait_until(
        lambda: len(list((home / "inbox" / "failed").glob("*.json"))) == 300, 120, "every file refused"
    )
    broker.start()
    wait_until(
        lambda: "dropped" in daemon.log() and "MQTT event(s)" in daemon.log(),
        60,
        lambda: f"no drop count logged:\n{daemon.log()[-2000:]}",
    )
    listener.wait_for(
        lambda: (
            listener.on("voice/last_error")
            and b"not valid JSON" in listener.on("voice/last_error")[-1].payload
        ),
        30,
        "the latest error, retained",
    )
    assert "MQTT outgoing queue full (20 events)" in daemon.log()
    assert not [line for line in daemon.log().splitlines() if " ERROR " in line]
    drop(home, "after.txt", "The broker is back.")
    assert wait_filed(home, "after.txt") == "done"
    assert_clean_log(daemon.log())


def test_a_clean_stop_with_mqtt_logs_no_reconnect_and_no_error(
    start_daemon: StartDaemon, broker: Broker, listener: Listener
) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    listener.publish("voice/say", {"id": "bad", "text": "hi", "voice": "ghost"})
    listener.wait_for(lambda: listener.events("bad"), 30, "the refusal")
    assert daemon.stop() == 0
    listener.wait_for(lambda: listener.on("voice/status")[-1].payload == b"offline", 10, "offline")
    log = daemon.log()
    assert "disconnected from MQTT broker" in log and "reconnecting" not in log
    assert not [line for line in log.splitlines() if " ERROR " in line], log
    assert_clean_log(log)


def test_paho_s_lines_about_a_lost_connection_are_warnings_and_its_stale_error_is_left_out() -> None:
    lost = "failed to receive on socket: [Errno 104] Connection reset by peer"
    assert paho_level(paho.MQTT_LOG_ERR, lost) == logging.WARNING  # the broker went away: not a bug
    assert paho_level(paho.MQTT_LOG_ERR, "Client is not connected") is None
    assert paho_level(paho.MQTT_LOG_ERR, "Caught exception in on_message: boom") == logging.ERROR
    assert paho_level(paho.MQTT_LOG_DEBUG, "Sending PINGREQ") == logging.DEBUG
