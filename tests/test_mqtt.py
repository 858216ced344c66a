"""MQTT end to end: ``voice-daemon run`` as a subprocess against a real mosquitto."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import clip_longer_than, mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon, drop, outcome, wait_filed, wait_until


def states(listener: Listener, request_id: str) -> list[str]:
    return [event["state"] for event in listener.events(request_id)]


def wait_final(listener: Listener, request_id: str, timeout: float = 60) -> dict:
    return listener.wait_for(
        lambda: next((e for e in listener.events(request_id) if e["state"] in ("done", "failed")), None),
        timeout, f"final event of {request_id}",
    )  # fmt: skip


def test_request_kinds_and_the_event_sequence(start_daemon: StartDaemon, broker: Broker, listener: Listener) -> None:
    start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    listener.publish("voice/say", {"id": "json-1", "text": "The laundry is done.", "language": "en-GB"})
    done = wait_final(listener, "json-1")
    assert states(listener, "json-1") == ["queued", "started", "done"]
    assert done["file"] == "json-1.wav" and done["audio_seconds"] > 0 and done["synthesis_seconds"] > 0

    listener.publish("voice/say", "Plain text works too.")
    plain = listener.wait_for(lambda: [m.json() for m in listener.on("voice/event")
                                       if m.json()["state"] == "done" and m.json()["id"] != "json-1"], 60)  # fmt: skip
    assert plain[0]["id"]  # generated

    listener.publish("voice/say/default", {"id": "by-topic", "text": "Voice chosen by topic."})
    assert wait_final(listener, "by-topic")["state"] == "done"
    listener.publish("voice/notify", "Message from a Home Assistant notify entity.")
    listener.wait_for(lambda: len([m for m in listener.on("voice/event") if m.json()["state"] == "done"]) == 4, 60)


def test_bad_payloads_get_failed_events_and_the_daemon_carries_on(
    start_daemon: StartDaemon, broker: Broker, listener: Listener, home: Path
) -> None:
    start_daemon(FAST + "[synthesis]\nmax_text_length = 100\n" + mqtt_config(broker, "max_payload_bytes = 2000"))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    bad = {
        "bad-json": ('{"id": "bad-json", "text": ', "not valid JSON"),
        "empty": (json.dumps({"id": "empty", "text": "  "}), "text is empty"),
        "ghost": (json.dumps({"id": "ghost", "text": "hi", "voice": "ghost"}), "unknown voice 'ghost'"),
        "klingon": (json.dumps({"id": "klingon", "text": "hi", "language": "tlh"}), "unsupported language 'tlh'"),
        "long": (json.dumps({"id": "long", "text": "word " * 30}), "the maximum is 100"),
        "huge": (json.dumps({"id": "huge", "text": "x", "pad": "y" * 3000}), "the maximum is 2000"),
        "path": (json.dumps({"id": "path", "text": "hi", "voice": "../../etc/passwd"}), "is not a voice name"),
        "output": (json.dumps({"id": "output", "text": "hi", "output": "/tmp/x.wav"}), "output"),
    }
    for payload, _ in bad.values():
        listener.publish("voice/say", payload)
    for request_id, (_, reason) in bad.items():
        if request_id == "bad-json":  # unparseable: the event carries a generated id
            continue
        event = wait_final(listener, request_id, 30)
        assert event["state"] == "failed" and reason in event["error"], (request_id, event)
    failures = listener.wait_for(lambda: [m.json() for m in listener.on("voice/event") if m.json()["state"] == "failed"]
                                 if len(listener.on("voice/event")) >= len(bad) else None, 30, "all failures")  # fmt: skip
    assert len(failures) == len(bad)
    assert any("not valid JSON" in failure["error"] for failure in failures)
    assert listener.on("voice/last_error")[-1].payload
    listener.publish("voice/say", {"id": "after", "text": "Still serving."})
    assert wait_final(listener, "after")["state"] == "done"
    assert not (home / "etc").exists()


def test_duplicate_deliveries_are_dropped(start_daemon: StartDaemon, broker: Broker, listener: Listener) -> None:
    start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    for _ in range(3):
        listener.publish("voice/say", {"id": "once", "text": "Only once."})
    wait_final(listener, "once")
    time.sleep(1)
    assert states(listener, "once") == ["queued", "started", "done"]


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
    after.wait_for(lambda: after.on("voice/status") and after.on("voice/status")[-1].payload == b"offline", 20,
                   "last will")  # fmt: skip
    after.close()


def test_clean_stop_publishes_offline(start_daemon: StartDaemon, broker: Broker, listener: Listener) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    assert daemon.stop() == 0
    listener.wait_for(lambda: listener.on("voice/status")[-1].payload == b"offline", 10, "offline")


def test_hermes_round_trip_and_site_filter(start_daemon: StartDaemon, broker: Broker, listener: Listener) -> None:
    start_daemon(FAST + mqtt_config(broker, 'hermes_site_ids = ["kitchen"]'))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    listener.publish("hermes/tts/say", {"text": "Hello from Rhasspy.", "siteId": "kitchen", "lang": "en-US",
                                        "id": "h-1", "sessionId": "s-9", "volume": 0.5})  # fmt: skip
    finished = listener.wait_for(lambda: listener.on("hermes/tts/sayFinished"), 60, "sayFinished")
    assert finished[0].json() == {"id": "h-1", "siteId": "kitchen", "sessionId": "s-9"}
    listener.publish("hermes/tts/say", {"text": "Not for us.", "siteId": "garage", "id": "h-2"})
    listener.publish("hermes/tts/say", {"text": "Bad language.", "siteId": "kitchen", "id": "h-3", "lang": "xx"})
    error = listener.wait_for(lambda: listener.on("hermes/error/tts"), 30, "hermes error")[0].json()
    assert error["siteId"] == "kitchen" and "unsupported language 'xx'" in error["error"]
    time.sleep(2)
    assert not listener.events("h-2"), "a request for another site was served"


def test_home_assistant_discovery(start_daemon: StartDaemon, broker: Broker, listener: Listener) -> None:
    start_daemon(FAST + mqtt_config(broker))
    configs = listener.wait_for(lambda: [m for m in listener.on_prefix("homeassistant/") if m.topic.endswith("/config")]
                                if len(listener.on_prefix("homeassistant/")) >= 6 else None, 30, "discovery")  # fmt: skip
    by_component = {m.topic.split("/")[1]: m.json() for m in configs}
    assert set(by_component) == {"notify", "select", "sensor", "binary_sensor", "button"}
    for message in configs:
        config = message.json()
        assert config["availability_topic"] == "voice/status" and config["unique_id"].startswith("vd-test_")
        assert config["device"]["identifiers"] == ["vd-test"]
    assert by_component["notify"]["command_topic"] == "voice/notify"
    assert by_component["select"]["options"] == ["default"]
    late = Listener(broker, ["homeassistant/#"])  # a Home Assistant that starts later gets them retained
    retained = late.wait_for(lambda: late.messages if len(late.messages) >= 6 else None, 10, "retained discovery")
    assert all(message.retain for message in retained)
    late.close()
    count = len(configs)
    listener.publish("homeassistant/status", "online")
    listener.wait_for(lambda: len([m for m in listener.on_prefix("homeassistant/") if m.topic.endswith("/config")])
                      >= 2 * count, 20, "re-published discovery")  # fmt: skip


def test_default_voice_select(start_daemon: StartDaemon, broker: Broker, listener: Listener, home: Path, corpus: Path) -> None:
    shutil.copy(clip_longer_than(corpus, "3080", 8), home / "voices" / "anna.flac")
    start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    listener.publish("voice/default_voice/set", "anna")
    listener.wait_for(lambda: listener.on("voice/default_voice")[-1].payload == b"anna", 10, "new default voice")
    listener.publish("voice/say", {"id": "with-anna", "text": "Which voice is this?"})
    wait_final(listener, "with-anna")
    assert outcome(home, "with-anna")["request"]["voice"] == "anna"
    listener.publish("voice/default_voice/set", "nobody")
    listener.wait_for(lambda: b"unknown voice 'nobody'" in (listener.on("voice/last_error") or [None])[-1].payload
                      if listener.on("voice/last_error") else False, 10, "error")  # fmt: skip
    assert (home / "cache" / "default_voice").read_text().strip() == "anna"


def test_broker_restart_mid_queue_loses_nothing(start_daemon: StartDaemon, broker: Broker, listener: Listener, home: Path) -> None:
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


def test_broker_unreachable_at_start_the_drop_folder_still_works(start_daemon: StartDaemon, home: Path) -> None:
    start_daemon(FAST + '\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = 9\n')
    drop(home, "offline-broker.txt", "The broker is down but I still speak.")
    assert wait_filed(home, "offline-broker.txt") == "done"


@pytest.mark.timeout(300)
def test_two_daemons_share_one_subscription(
    start_daemon: StartDaemon, broker: Broker, listener: Listener, home: Path, tiny_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.conftest import write_config
    from tests.support.daemonproc import DaemonProcess

    start_daemon(FAST + mqtt_config(broker, 'share_group = "speakers"').replace('"vd-test"', '"vd-one"'))
    other_home = tmp_path_factory.mktemp("second-daemon")
    shutil.copytree(home / "voices", other_home / "voices")
    config = write_config(other_home, tiny_model,
                          FAST + mqtt_config(broker, 'share_group = "speakers"').replace('"vd-test"', '"vd-two"'))
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
    start_daemon: StartDaemon, broker: Broker, listener: Listener, pulse
) -> None:  # noqa: ANN001
    config = FAST.replace('mode = "file"', 'mode = "play"\ndevice = "pulse"') + mqtt_config(broker)
    start_daemon(config, env=pulse.env)
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    text = " ".join(f"This is sentence number {i} of a very long announcement." for i in range(15))
    listener.publish("voice/say", {"id": "long-one", "text": text})
    listener.wait_for(lambda: listener.on("voice/speaking") and listener.on("voice/speaking")[-1].payload == b"ON", 60,
                      "speaking ON")  # fmt: skip
    time.sleep(1)
    listener.publish("voice/stop", "PRESS")
    done = wait_final(listener, "long-one", 30)
    assert done["state"] == "done" and done["stopped"] is True
    assert done["audio_seconds"] < 15 * 1.5  # far less than fifteen sentences were made
    listener.wait_for(lambda: listener.on("voice/speaking")[-1].payload == b"OFF", 10, "speaking OFF")


def test_every_hermes_refusal_is_followed_by_say_finished(
    start_daemon: StartDaemon, broker: Broker, listener: Listener
) -> None:
    """A dialogue manager waits for sayFinished: it comes after every error, also for unusable payloads."""
    start_daemon(FAST + "[synthesis]\nmax_text_length = 100\n" + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    refused = {
        "h-empty": {"text": "", "siteId": "default", "id": "h-empty", "sessionId": "s-1"},
        "h-long": {"text": "word " * 40, "siteId": "default", "id": "h-long", "sessionId": "s-2"},
        "h-lang": {"text": "Hello.", "siteId": "default", "id": "h-lang", "lang": "xx"},
        "h-type": {"text": ["not", "text"], "siteId": "default", "id": "h-type"},
    }
    for payload in refused.values():
        listener.publish("hermes/tts/say", payload)
    listener.publish("hermes/tts/say", b'{"siteId": "default", "text": ')  # not JSON at all
    finished = listener.wait_for(lambda: listener.on("hermes/tts/sayFinished")
                                 if len(listener.on("hermes/tts/sayFinished")) >= 5 else None, 30, "sayFinished")  # fmt: skip
    answered = {message.json()["id"]: message.json() for message in finished}
    assert set(refused) <= set(answered)
    assert answered["h-empty"] == {"id": "h-empty", "siteId": "default", "sessionId": "s-1"}
    errors = {message.json()["context"]: message.json()["error"] for message in listener.on("hermes/error/tts")}
    assert "text is empty" in errors["h-empty"] and "the maximum is 100" in errors["h-long"]
    assert "unsupported language 'xx'" in errors["h-lang"] and "text" in errors["h-type"] and len(errors) == 5
    for name in refused:  # each error came before its sayFinished
        error_at = next(m.at for m in listener.on("hermes/error/tts") if m.json()["context"] == name)
        assert error_at <= next(m.at for m in finished if m.json()["id"] == name)


def test_a_reused_id_is_a_new_announcement(start_daemon: StartDaemon, broker: Broker, listener: Listener) -> None:
    """README's own example with a fixed id, published twice: spoken twice; a clash is answered."""
    start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    for round_ in (1, 2):
        listener.publish("voice/say", {"text": "Dinner is ready.", "id": "dinner-1"})
        listener.wait_for(lambda: states(listener, "dinner-1").count("done") == round_, 60, f"spoken {round_} time(s)")
    assert states(listener, "dinner-1") == ["queued", "started", "done"] * 2
    long_text = " ".join(f"Sentence {i} of something long." for i in range(8))
    listener.publish("voice/say", {"text": long_text, "id": "clash"})
    listener.publish("voice/say", {"text": "Another text with the same id.", "id": "clash"})
    refused = listener.wait_for(lambda: [e for e in listener.events("clash") if e["state"] == "failed"], 30, "refusal")
    assert "already queued for another text" in refused[0]["error"]
    listener.wait_for(lambda: "done" in states(listener, "clash"), 120, "the first request spoken")
