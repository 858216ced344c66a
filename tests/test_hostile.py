"""Hostile input against ``voice-daemon run`` (tiny model, real mosquitto, real files): every payload
of ``tests/support/hostile.py`` is answered by exactly one ``failed`` event, the log holds no
traceback, and memory stays bounded; huge and lying reference files are refused from their header.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import soundfile as sf

from tests.conftest import mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon, wait_until
from tests.support.hostile import (
    NAMED,
    Hostile,
    assert_clean_log,
    check_answers,
    lying_flac,
    memory_mb,
    random_payloads,
    sparse_wav,
)
from voice_daemon.core.request import Limits, parse_payload
from voice_daemon.errors import RequestError

RANDOM = 2000


def failed_events(listener: Listener) -> list[dict]:
    return [event for event in (m.json() for m in listener.on("voice/event")) if event["state"] == "failed"]


def wait_answers(listener: Listener, count: int, timeout: float = 120) -> list[dict]:
    """The failed events once ``count`` have come, and a second more for any extra."""
    listener.wait_for(lambda: len(failed_events(listener)) >= count, timeout, f"{count} failed events")
    time.sleep(1)
    return failed_events(listener)


def publish_all(listener: Listener, topic: str, payloads: list[bytes]) -> None:
    """Publish without waiting for each acknowledgement, QoS 0 and 1 alternating; wait for the last."""
    infos = [listener.client.publish(topic, payload, qos=n % 2) for n, payload in enumerate(payloads)]
    infos[-1].wait_for_publish(60)


def ghost_requests(prefix: str, count: int) -> list[Hostile]:
    """Well-formed requests for a voice that does not exist: refused at the queue."""
    return [
        Hostile(
            f"{prefix}{n}",
            json.dumps({"id": f"{prefix}{n}", "text": "Hello.", "voice": "ghost"}).encode(),
            f"{prefix}{n}",
            "unknown voice",
        )
        for n in range(count)
    ]


def test_every_hostile_payload_is_refused_by_the_one_decoding_rule() -> None:
    """The rule in core.request refuses the whole corpus (a voice that does not exist is refused later,
    by the queue) with the payload's own id when it had one."""
    for payload in NAMED + random_payloads(RANDOM):
        try:
            request = parse_payload(payload.payload, Limits(), source="test")
        except RequestError as exc:
            assert exc.request_id == payload.id, (payload.name, exc.request_id)
            assert payload.reason in str(exc), (payload.name, str(exc))
            request = None
        if request is not None:
            assert request.voice == "ghost" and request.id == (payload.id or request.id), payload.name
            request.to_json()  # what passed validation can be stored


def test_hostile_mqtt_payloads_are_each_answered_once_with_bounded_memory(
    start_daemon: StartDaemon, broker: Broker, listener: Listener
) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    warm = ghost_requests("warm-", 300)  # the first refusals import and build what later ones reuse
    publish_all(listener, "voice/say", [payload.payload for payload in warm])
    wait_answers(listener, len(warm))
    before = memory_mb(daemon.process.pid)

    payloads = NAMED + random_payloads(RANDOM)
    publish_all(listener, "voice/say", [payload.payload for payload in payloads])
    events = wait_answers(listener, len(warm) + len(payloads))
    check_answers(warm + payloads, events)
    after = memory_mb(daemon.process.pid)
    assert after["VmRSS"] <= before["VmRSS"] * 1.10, (before, after)

    listener.publish("voice/say/..", "hi")  # a voice that is a path, in the topic
    listener.publish("voice/say", {"id": "after", "text": "Still serving."})
    listener.wait_for(
        lambda: any(e["state"] == "done" for e in listener.events("after")), 60, "a request served"
    )
    assert "is not a voice name" in failed_events(listener)[-1]["error"]
    assert listener.on("voice/last_error")[-1].payload  # the retained error: the latest one
    assert_clean_log(daemon.log())


def test_huge_and_lying_references_are_refused_from_the_header(start_daemon: StartDaemon, home: Path) -> None:
    daemon = start_daemon()
    time.sleep(1)
    before = memory_mb(daemon.process.pid)
    voices = home / "voices"
    staging = home / "staging"
    staging.mkdir()
    sparse_wav(staging / "huge.wav", 200 * 2**20)  # over the size cap
    sparse_wav(staging / "long.wav", 100 * 2**20)  # under it, but 36 minutes long
    lying_flac(voices / "default.flac", staging / "liar.flac")
    assert sf.info(str(staging / "liar.flac")).frames == 2**31
    shutil.copy(voices / "default.flac", staging / "anna.flac")
    for name in ("huge.wav", "long.wav", "liar.flac", "anna.flac"):
        (staging / name).rename(voices / name)
    rejected = [voices / f"{name}.error.txt" for name in ("huge", "long", "liar")]
    wait_until(
        lambda: all(path.exists() for path in rejected),
        60,
        lambda: f"all three rejected; log:\n{daemon.log()[-3000:]}",
    )
    wait_until(lambda: "voice anna ready" in daemon.log(), 60, "the good voice beside them")
    huge, long, liar = (path.read_text() for path in rejected)
    assert "file is 200 MB, the maximum for a reference is 128 MB" in huge
    assert "the header says 36.4 min of audio, the maximum for a reference is 10.0 min" in long
    assert "the header says 37.3 h of audio" in liar
    growth = memory_mb(daemon.process.pid)["VmHWM"] - before["VmHWM"]
    assert growth < 300, f"peak memory grew by {growth:.0f} MB"
    assert_clean_log(daemon.log())
