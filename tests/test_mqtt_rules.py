"""The MQTT bridge's rules without a broker: topics, refusals, Hermes, Home Assistant discovery and
commands, in-process against the in-memory seam (``tests/support/fakeseam``).

Messages go in as paho's own ``MQTTMessage`` through the bridge's message callback (what paho's
network thread calls); what the bridge publishes is read from its outbox.  ``test_mqtt.py`` keeps
what needs the real broker: sessions, acknowledgements over the wire, the last will, reconnects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest

from tests.support.fakeseam import FakeSeam
from tests.support.hostile import NAMED, check_answers, random_payloads
from voice_daemon.core.request import Limits
from voice_daemon.settings import MqttSettings
from voice_daemon.sources.mqtt.bridge import MqttBridge


class Published:
    """Stands in for the bridge's outbox: records what it would publish."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.retained: dict[str, str] = {}

    def send(self, topic: str, payload: str) -> None:
        self.sent.append((topic, json.loads(payload)))

    def retain(self, topic: str, value: Any) -> None:
        self.retained[topic] = value() if callable(value) else value

    def on(self, topic: str) -> list[Any]:
        return [payload for sent_topic, payload in self.sent if sent_topic == topic]


class Harness:
    def __init__(self, bridge: MqttBridge, seam: FakeSeam, published: Published) -> None:
        self.bridge, self.seam, self.published = bridge, seam, published
        self.acked: list[int] = []
        bridge._client.ack = lambda mid, qos: self.acked.append(mid)  # type: ignore[method-assign]

    def publish(self, topic: str, payload: Any, qos: int = 1, dup: bool = False) -> None:
        message = paho.MQTTMessage(mid=len(self.acked) + 1, topic=topic.encode())
        message.payload = (
            payload
            if isinstance(payload, bytes)
            else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        )
        message.qos, message.dup = qos, dup
        self.bridge._on_message(self.bridge._client, None, message)

    def events(self, state: str | None = None) -> list[dict[str, Any]]:
        return [
            event for event in self.published.on("voice/event") if state is None or event["state"] == state
        ]


@pytest.fixture
def seam() -> FakeSeam:
    return FakeSeam(voices=("default", "anna"), default="default", limits=Limits(max_text_length=100))


def harness_for(seam: FakeSeam, **settings: Any) -> Harness:
    bridge = MqttBridge(MqttSettings(enabled=True, client_id="vd-test", **settings), seam)
    published = Published()
    bridge._outbox = published  # type: ignore[assignment]
    seam.subscribe(bridge._on_notice)  # what start() does, less the connection
    return Harness(bridge, seam, published)


@pytest.fixture
def mqtt(seam: FakeSeam) -> Iterator[Harness]:
    yield harness_for(seam, max_payload_bytes=2000)


def test_request_topics_json_plain_text_voice_by_topic_and_notify(mqtt: Harness, seam: FakeSeam) -> None:
    mqtt.publish("voice/say", {"id": "json-1", "text": "The laundry is done.", "language": "en-GB"})
    mqtt.publish("voice/say", "Plain text works too.")
    mqtt.publish("voice/say/anna", {"id": "by-topic", "text": "Voice chosen by topic."})
    mqtt.publish("voice/notify", '{"not": "json, just the text"}')
    mqtt.publish("voice/elsewhere", "ignored")
    texts = [(r.id, r.text, r.voice, r.language, r.source) for r in seam.submitted]
    assert texts[0] == ("json-1", "The laundry is done.", "default", "en", "mqtt")
    assert texts[1][1:3] == ("Plain text works too.", "default") and texts[1][0]  # a generated id
    assert texts[2][:3] == ("by-topic", "Voice chosen by topic.", "anna")
    assert texts[3][1] == '{"not": "json, just the text"}' and len(texts) == 4
    assert [e["state"] for e in mqtt.events()] == ["queued"] * 4 and mqtt.acked == [1, 2, 3, 4, 5]
    seam.end("json-1", audio_seconds=1.5)
    assert mqtt.events()[-1] | {"at": 0} == {
        "id": "json-1",
        "state": "done",
        "source": "mqtt",
        "at": 0,
        "audio_seconds": 1.5,
    }
    assert mqtt.published.retained["voice/queue"] == "3"


def test_bad_payloads_each_get_one_failed_event_with_their_id_and_the_last_error(mqtt: Harness) -> None:
    bad = {
        "bad-json": ('{"id": "bad-json", "text": ', "not valid JSON"),
        "empty": (json.dumps({"id": "empty", "text": "  "}), "text is empty"),
        "ghost": (json.dumps({"id": "ghost", "text": "hi", "voice": "ghost"}), "unknown voice 'ghost'"),
        "klingon": (
            json.dumps({"id": "klingon", "text": "hi", "language": "tlh"}),
            "unsupported language 'tlh'",
        ),
        "long": (json.dumps({"id": "long", "text": "word " * 30}), "the maximum is 100"),
        "huge": (json.dumps({"id": "huge", "text": "x", "pad": "y" * 3000}), "the maximum is 2000"),
        "path": (
            json.dumps({"id": "path", "text": "hi", "voice": "../../etc/passwd"}),
            "is not a voice name",
        ),
        "output": (json.dumps({"id": "output", "text": "hi", "output": "/tmp/x.wav"}), "output"),
        "topic": (json.dumps({"id": "topic", "text": "hi"}), "is not a voice name"),
    }
    for name, (payload, _) in bad.items():
        mqtt.publish("voice/say/..%2F" if name == "topic" else "voice/say", payload)
    failures = mqtt.events("failed")
    assert len(failures) == len(bad) == len(mqtt.acked) and not mqtt.events("queued")
    by_id = {event["id"]: event for event in failures}
    for request_id, (_, reason) in bad.items():
        if request_id == "bad-json":  # unparseable: the event carries a generated id
            assert any("not valid JSON" in event["error"] for event in failures)
            continue
        assert reason in by_id[request_id]["error"], (request_id, by_id[request_id])
    assert by_id["empty"]["code"] == "bad_request" and by_id["empty"]["field"] == "text"
    assert by_id["ghost"]["code"] == "unknown_voice"
    assert "is not a voice name" in mqtt.published.retained["voice/last_error"]


def test_second_deliveries_and_resends_are_dropped_and_a_clash_is_refused(
    mqtt: Harness, seam: FakeSeam
) -> None:
    for dup in (False, True, False):
        mqtt.publish("voice/say", {"id": "once", "text": "Only once."}, dup=dup)
    assert [e["state"] for e in mqtt.events()] == ["queued"] and len(mqtt.acked) == 3
    mqtt.publish("voice/say", {"id": "once", "text": "Another text with the same id."})
    assert "already queued for another text" in mqtt.events("failed")[0]["error"]
    seam.end("once")
    mqtt.publish("voice/say", {"id": "once", "text": "Only once."})  # a finished request's id: a new one
    assert [e["state"] for e in mqtt.events()] == ["queued", "failed", "done", "queued"]


def test_a_handler_that_crashes_answers_with_a_failed_event_then_acknowledges(
    mqtt: Harness, seam: FakeSeam
) -> None:
    """Found by issue 20: the crash was logged and the message acknowledged, with no answer."""

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    seam.submit = crash  # type: ignore[method-assign]
    mqtt.publish("voice/say", {"id": "lost", "text": "Am I lost?"})
    mqtt.publish("hermes/tts/say", {"text": "And me?", "siteId": "default", "id": "h-lost", "sessionId": "s"})
    [failed, hermes_failed] = mqtt.events("failed")
    assert (
        failed["id"] == "lost" and "internal error" in failed["error"] and "RuntimeError" in failed["error"]
    )
    assert hermes_failed["id"] == "h-lost" and mqtt.acked == [1, 2]
    assert mqtt.published.on("hermes/tts/sayFinished") == [
        {"id": "h-lost", "siteId": "default", "sessionId": "s"}
    ]


def test_hermes_round_trip_site_filter_and_an_error_then_say_finished_for_every_refusal(
    mqtt: Harness, seam: FakeSeam
) -> None:
    mqtt.publish(
        "hermes/tts/say",
        {
            "text": "Hello from Rhasspy.",
            "siteId": "default",
            "lang": "en-US",
            "id": "h-1",
            "sessionId": "s-9",
            "volume": 0.5,
        },
    )
    assert seam.submitted[0].volume == 0.5 and seam.submitted[0].language == "en"
    seam.end(seam.submitted[0].id)
    assert mqtt.published.on("hermes/tts/sayFinished") == [
        {"id": "h-1", "siteId": "default", "sessionId": "s-9"}
    ]
    mqtt.publish("hermes/tts/say", {"text": "Not for us.", "siteId": "garage", "id": "h-2"})
    assert len(seam.notices) == 2 and len(mqtt.acked) == 2  # ignored (queued, done only), yet acknowledged
    refused = {
        "h-empty": {"text": "", "siteId": "default", "id": "h-empty", "sessionId": "s-1"},
        "h-long": {"text": "word " * 40, "siteId": "default", "id": "h-long", "sessionId": "s-2"},
        "h-lang": {"text": "Hello.", "siteId": "default", "id": "h-lang", "lang": "xx"},
        "h-type": {"text": ["not", "text"], "siteId": "default", "id": "h-type"},
    }
    for payload in refused.values():
        mqtt.publish("hermes/tts/say", payload)
    mqtt.publish("hermes/tts/say", b'{"siteId": "default", "text": ')  # not JSON at all
    sent = [(topic, payload) for topic, payload in mqtt.published.sent if topic.startswith("hermes/")][1:]
    assert [topic for topic, _ in sent] == [
        "hermes/error/tts",
        "hermes/tts/sayFinished",
    ] * 5  # error, then finished
    finished = {payload["id"]: payload for topic, payload in sent if topic.endswith("sayFinished")}
    assert set(refused) <= set(finished)
    assert finished["h-empty"] == {"id": "h-empty", "siteId": "default", "sessionId": "s-1"}
    errors = {payload["context"]: payload["error"] for topic, payload in sent if topic.endswith("tts")}
    assert "text is empty" in errors["h-empty"] and "the maximum is 100" in errors["h-long"]
    assert "unsupported language 'xx'" in errors["h-lang"] and "text" in errors["h-type"] and len(errors) == 5


def test_home_assistant_discovery_is_retained_on_connect_and_when_home_assistant_comes_online(
    mqtt: Harness, seam: FakeSeam
) -> None:
    mqtt.bridge._publish_state()  # what connecting does
    retained = mqtt.published.retained
    configs = {topic: json.loads(value) for topic, value in retained.items() if topic.endswith("/config")}
    by_component = {topic.split("/")[1]: config for topic, config in configs.items()}
    assert (
        set(by_component) == {"notify", "select", "sensor", "binary_sensor", "button"} and len(configs) == 6
    )
    for config in configs.values():
        assert config["availability_topic"] == "voice/status" and config["unique_id"].startswith("vd-test_")
        assert config["device"]["identifiers"] == ["vd-test"]
    assert by_component["notify"]["command_topic"] == "voice/notify"
    assert by_component["select"]["options"] == ["anna", "default"]
    assert retained["voice/default_voice"] == "default" and retained["voice/speaking"] == "OFF"
    assert [voice["name"] for voice in json.loads(retained["voice/voices"])] == ["anna", "default"]
    retained.clear()
    mqtt.publish("homeassistant/status", "online")
    assert len([topic for topic in retained if topic.endswith("/config")]) == 6
    retained.clear()
    seam.add_voice("bert", [("bert.wav", b"")])  # the voices changed: the select's options follow
    select = next(json.loads(v) for t, v in retained.items() if t.startswith("homeassistant/select/"))
    assert select["options"] == ["anna", "bert", "default"]


def test_the_default_voice_select_and_the_stop_button(mqtt: Harness, seam: FakeSeam) -> None:
    mqtt.publish("voice/default_voice/set", "anna")
    assert seam.default_voice() == "anna" and mqtt.published.retained["voice/default_voice"] == "anna"
    mqtt.publish("voice/default_voice/set", "nobody")
    assert "unknown voice 'nobody'" in mqtt.published.retained["voice/last_error"]
    assert mqtt.published.retained["voice/default_voice"] == "anna"  # the select goes back
    seam.playing = True
    mqtt.publish("voice/stop", "PRESS")
    assert seam.commands == [("default_voice", "anna"), ("stop",)] and len(mqtt.acked) == 3


def test_a_prefix_a_share_group_and_topics_turned_off(seam: FakeSeam) -> None:
    mqtt = harness_for(
        seam,
        topic_prefix="home/speaker",
        share_group="speakers",
        voice_topics=False,
        hermes=False,
        discovery=False,
    )
    assert set(mqtt.bridge._routes) == {
        "$share/speakers/home/speaker/say",
        "home/speaker/notify",
        "home/speaker/stop",
        "home/speaker/default_voice/set",
    }
    mqtt.publish("home/speaker/say", "Shared work.")
    mqtt.publish("home/speaker/say/anna", "Not a topic any more.")
    mqtt.publish("hermes/tts/say", {"text": "Off.", "siteId": "default"})
    assert [r.text for r in seam.submitted] == ["Shared work."]
    assert mqtt.published.on("home/speaker/event")[0]["state"] == "queued"


def test_hostile_payloads_are_each_answered_once(seam: FakeSeam) -> None:
    seam.limits = Limits()  # the daemon's defaults, which the hostile payloads are made for
    mqtt = harness_for(seam)
    payloads = NAMED + random_payloads(2000)
    for n, payload in enumerate(payloads):
        mqtt.publish("voice/say", payload.payload, qos=n % 2)
    check_answers(payloads, mqtt.events())
    assert not seam.submitted


def test_the_payload_rule_plain_text_unless_it_starts_like_json(mqtt: Harness, seam: FakeSeam) -> None:
    """README: a payload starting with { or [ is JSON (and must be an object); anything else is text."""
    for text in ("null", "42", '"quoted"'):
        mqtt.publish("voice/say", text)
    assert [request.text for request in seam.submitted] == ["null", "42", '"quoted"']
    mqtt.publish("voice/say", "[1, 2]")
    [refused] = mqtt.events("failed")
    assert "must be an object" in refused["error"]
    mqtt.publish("voice/say", {"id": "after", "text": "Still serving."})
    assert seam.submitted[-1].id == "after"


def test_hostile_hermes_payloads_each_get_one_say_finished(caplog: pytest.LogCaptureFixture) -> None:
    """Rhasspy waits for sayFinished: every hermes/tts/say for our site gets exactly one.  (Texts of more
    than one character are refused here, so that nothing the corpus holds is queued for long.)"""
    seam = FakeSeam(voices=("default",), default="default", limits=Limits(max_text_length=1), capacity=10_000)
    mqtt = harness_for(seam)
    payloads = [payload.payload for payload in NAMED + random_payloads(300, seed=16)]
    for payload in payloads:
        mqtt.publish("hermes/tts/say", payload)
    for request in list(seam.submitted):  # a one-character text
        seam.end(request.id)
    finished = mqtt.published.on("hermes/tts/sayFinished")
    assert len(finished) == len(payloads) == len(mqtt.acked)
    errors = mqtt.published.on("hermes/error/tts")
    assert len(errors) == len(mqtt.events("failed")) == len(payloads) - len(mqtt.events("done"))
    assert not [record for record in caplog.records if record.levelno >= 40 or record.exc_info]
