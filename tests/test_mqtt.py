"""MQTT end to end: ``voice-daemon run`` as a subprocess against a real mosquitto.

What needs the real broker and daemon: sessions and redelivery, the last will, reconnects, shared
subscriptions, the speakers.  The bridge's rules (topics, refusals, Hermes, discovery, commands)
are tested without a broker in ``test_mqtt_rules.py``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon, drop, outcome, wait_filed, wait_until
from tests.support.pulse import PulseServer


def states(listener: Listener, request_id: str) -> list[str]:
    return [event["state"] for event in listener.events(request_id)]


def wait_final(listener: Listener, request_id: str, timeout: float = 60) -> dict:
    return listener.wait_for(
        lambda: next((e for e in listener.events(request_id) if e["state"] in ("done", "failed")), None),
        timeout,
        f"final event of {request_id}",
    )


def test_request_kinds_the_event_sequence_and_a_clean_stop(
    start_daemon: StartDaemon, broker: Broker, listener: Listener
) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    listener.publish("voice/say", {"id": "json-1", "text": "The laundry is done.", "language": "en-GB"})
    done = wait_final(listener, "json-1")
    assert states(listener, "json-1") == ["queued", "started", "done"]
    assert done["file"] == "json-1.wav" and done["audio_seconds"] > 0 and done["synthesis_seconds"] > 0

    listener.publish("voice/say", "Plain text works too.")
    plain = listener.wait_for(
        lambda: [
            m.json()
            for m in listener.on("voice/event")
            if m.json()["state"] == "done" and m.json()["id"] != "json-1"
        ],
        60,
    )
    assert plain[0]["id"]  # generated

    listener.publish("voice/say/default", {"id": "by-topic", "text": "Voice chosen by topic."})
    assert wait_final(listener, "by-topic")["state"] == "done"
    listener.publish("voice/notify", "Message from a Home Assistant notify entity.")
    listener.wait_for(
        lambda: len([m for m in listener.on("voice/event") if m.json()["state"] == "done"]) == 4, 60
    )
    assert daemon.stop() == 0
    listener.wait_for(lambda: listener.on("voice/status")[-1].payload == b"offline", 10, "offline")


def test_retained_status_voices_and_last_will(start_daemon: StartDaemon, broker: Broker) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker))
    late = Listener(broker, ["voice/status", "voice/voices", "voice/default_voice", "voice/queue"])
    late.wait_for(lambda: late.on("voice/voices"), 20, "retained voices")
    assert late.on("voice/status")[-1].payload == b"online" and late.on("voice/status")[-1].retain
    voices = late.on("voice/voices")[-1].json()
    assert [voice["name"] for voice in voices] == ["default"] and voices[0]["status"] in ("ok", "warning")
    assert late.on("voice/default_voice")[-1].payload == b"default"
    late.close()
    daemon.kill()  # no clean disconnect: the broker publishes the last will
    after = Listener(broker, ["voice/status"])
    after.wait_for(
        lambda: after.on("voice/status") and after.on("voice/status")[-1].payload == b"offline",
        20,
        "last will",
    )
    after.close()


def test_broker_restart_mid_queue_loses_nothing(
    start_daemon: StartDaemon, broker: Broker, listener: Listener, home: Path
) -> None:
    start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    ids = [f"r{i}" for i in range(6)]
    for request_id in ids:
        listener.publish("voice/say", {"id": request_id, "text": f"Request {request_id}. Two sentences."})
    listener.wait_for(lambda: listener.events("r0"), 30, "first event")
    broker.stop()
    time.sleep(2)
    broker.start()
    for request_id in ids:
        wait_until(lambda rid=request_id: (home / "spool" / "done" / f"{rid}.json").exists(), 120)
        assert outcome(home, request_id)["state"] == "done"
    listener.wait_for(lambda: all("done" in states(listener, rid) for rid in ids), 60, "every done event")


def test_a_request_published_while_the_daemon_is_down_is_served(
    start_daemon: StartDaemon, broker: Broker, listener: Listener
) -> None:
    first = start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    assert first.stop() == 0
    listener.publish("voice/say", {"id": "while-away", "text": "Published while nobody listened."}, qos=1)
    start_daemon(FAST + mqtt_config(broker))
    assert wait_final(listener, "while-away")["state"] == "done"


def test_broker_unreachable_at_start_the_drop_folder_still_works(
    start_daemon: StartDaemon, home: Path
) -> None:
    start_daemon(FAST + '\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = 9\n')
    drop(home, "offline-broker.txt", "The broker is down but I still speak.")
    assert wait_filed(home, "offline-broker.txt") == "done"


@pytest.mark.timeout(300)
def test_two_daemons_share_one_subscription(
    start_daemon: StartDaemon,
    broker: Broker,
    listener: Listener,
    home: Path,
    tiny_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.conftest import write_config
    from tests.support.daemonproc import DaemonProcess

    start_daemon(FAST + mqtt_config(broker, 'share_group = "speakers"').replace('"vd-test"', '"vd-one"'))
    other_home = tmp_path_factory.mktemp("second-daemon")
    shutil.copytree(home / "voices", other_home / "voices")
    config = write_config(
        other_home,
        tiny_model,
        FAST + mqtt_config(broker, 'share_group = "speakers"').replace('"vd-test"', '"vd-two"'),
    )
    second = DaemonProcess(config, other_home)
    try:
        second.wait_ready()
        listener.wait_for(lambda: len(listener.on("voice/status")) >= 1, 30, "status")
        time.sleep(1)
        ids = [f"shared{i}" for i in range(10)]
        for request_id in ids:
            listener.publish("voice/say", {"id": request_id, "text": "Shared work."})
        for request_id in ids:
            wait_final(listener, request_id, 120)
        time.sleep(1)
        for request_id in ids:
            assert states(listener, request_id) == ["queued", "started", "done"], request_id
        served_here = {p.stem for p in (home / "spool" / "done").glob("shared*.json")}
        served_there = {p.stem for p in (other_home / "spool" / "done").glob("shared*.json")}
        assert served_here | served_there == set(ids) and not served_here & served_there
        assert served_here and served_there, "one daemon did all the work"
    finally:
        second.stop()


def test_stop_button_cuts_the_announcement_short(
    start_daemon: StartDaemon, broker: Broker, listener: Listener, pulse: PulseServer
) -> None:
    config = FAST.replace('mode = "file"', 'mode = "play"\ndevice = "pulse"') + mqtt_config(broker)
    start_daemon(config, env=pulse.env)
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    text = " ".join(f"This is sentence number {i} of a very long announcement." for i in range(15))
    listener.publish("voice/say", {"id": "long-one", "text": text})
    listener.wait_for(
        lambda: listener.on("voice/speaking") and listener.on("voice/speaking")[-1].payload == b"ON",
        60,
        "speaking ON",
    )
    time.sleep(1)
    listener.publish("voice/stop", "PRESS")
    done = wait_final(listener, "long-one", 30)
    assert done["state"] == "done" and done["stopped"] is True
    assert done["audio_seconds"] < 15 * 1.5  # far less than fifteen sentences were made
    listener.wait_for(lambda: listener.on("voice/speaking")[-1].payload == b"OFF", 10, "speaking OFF")
