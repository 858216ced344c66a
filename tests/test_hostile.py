"""Hostile input against ``voice-daemon run`` (tiny model, real mosquitto, real files): every payload
of ``tests/support/hostile.py`` is answered by exactly one ``failed`` event, the log holds no
traceback, and memory stays bounded; huge and lying reference files are refused from their header.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from tests.conftest import mqtt_config
from tests.support.broker import Broker, Listener
from tests.support.daemonproc import FAST, StartDaemon, drop, http_url, outcome, wait_until
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
    return [Hostile(f"{prefix}{n}", json.dumps({"id": f"{prefix}{n}", "text": "Hello.", "voice": "ghost"}).encode(),
                    f"{prefix}{n}", "unknown voice") for n in range(count)]  # fmt: skip


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


def test_hostile_hermes_payloads_each_get_say_finished(
    start_daemon: StartDaemon, broker: Broker, listener: Listener
) -> None:
    """Rhasspy waits for sayFinished: every hermes/tts/say for our site gets exactly one.  (Texts of more
    than one character are refused here, so that nothing the corpus holds is spoken.)"""
    daemon = start_daemon(FAST + "[synthesis]\nmax_text_length = 1\n" + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    payloads = [payload.payload for payload in NAMED + random_payloads(300, seed=16)]
    publish_all(listener, "hermes/tts/say", payloads)
    listener.wait_for(
        lambda: len(listener.on("hermes/tts/sayFinished")) >= len(payloads), 120, "every sayFinished"
    )
    time.sleep(1)
    assert len(listener.on("hermes/tts/sayFinished")) == len(payloads)
    served = [m for m in listener.on("voice/event") if m.json()["state"] == "done"]  # a one-character text
    assert len(listener.on("hermes/error/tts")) == len(failed_events(listener)) == len(payloads) - len(served)
    assert_clean_log(daemon.log())


def test_hostile_drop_folder_files_are_each_answered_once(
    start_daemon: StartDaemon,
    broker: Broker,
    listener: Listener,
    home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    daemon = start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    payloads = [payload.unread_when_oversized() for payload in NAMED + random_payloads(300, seed=17)]
    inbox = home / "inbox"
    for payload in payloads:  # the suffix says what a file is; JSON-looking ones are .json
        temporary = inbox / f".{payload.name}.part"
        temporary.write_bytes(payload.payload)
        temporary.rename(inbox / f"{payload.name}.{'json' if payload.is_json else 'txt'}")
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("Nobody may read this aloud.")
    specials = {  # not regular files, or not UTF-8 names: refused without being read
        "link.txt": lambda path: path.symlink_to(outside),
        "pipe.txt": lambda path: os.mkfifo(path),
        "big.txt": lambda path: path.open("wb").truncate(100 * 2**20),  # sparse: 100 MB of nothing
    }
    for name, make in specials.items():
        make(inbox / name)
    os.close(os.open(os.fsencode(inbox) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    count = len(payloads) + len(specials) + 1
    events = wait_answers(listener, count, 300)
    check_answers(payloads + [Hostile(name, b"", None) for name in [*specials, "latin-1 name"]], events)
    errors = {path.name: path.read_text(errors="replace") for path in (inbox / "failed").glob("*.error.txt")}
    assert (
        len(errors) == count
        and not list((inbox / "done").iterdir())
        and not list((inbox / "processing").iterdir())
    )
    assert "symbolic link" in errors["link.error.txt"] and "not a regular file" in errors["pipe.error.txt"]
    assert "the maximum is 65536" in errors["big.error.txt"]
    assert "not UTF-8" in errors[os.fsdecode(b"caf\xe9.error.txt")]
    assert not [path for path in inbox.iterdir() if path.is_file() or path.is_symlink()], (
        "the inbox root is empty"
    )
    drop(home, "after.txt", "Still serving.")
    wait_until(lambda: (inbox / "done" / "after.txt").exists(), 60, "a request served")
    assert_clean_log(daemon.log())


def test_the_payload_rule_plain_text_unless_it_starts_like_json(
    start_daemon: StartDaemon, broker: Broker, listener: Listener, home: Path
) -> None:
    """README: a payload starting with { or [ is JSON (and must be an object); anything else is text."""
    start_daemon(FAST + mqtt_config(broker))
    listener.wait_for(lambda: listener.on("voice/status"), 30, "online status")
    for text in ("null", "42", '"quoted"'):
        listener.publish("voice/say", text)
    done = listener.wait_for(lambda: [e for e in (m.json() for m in listener.on("voice/event")) if e["state"] == "done"]
                             if len(listener.on("voice/event")) >= 9 else None, 120, "three done")  # fmt: skip
    assert {outcome(home, event["id"])["request"]["text"] for event in done} == {"null", "42", '"quoted"'}
    listener.publish("voice/say", "[1, 2]")
    refused = listener.wait_for(lambda: failed_events(listener), 30, "the array refused")
    assert "must be an object" in refused[0]["error"]


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
    wait_until(lambda: all(path.exists() for path in rejected), 60,
               lambda: f"all three rejected; log:\n{daemon.log()[-3000:]}")  # fmt: skip
    wait_until(lambda: "voice anna ready" in daemon.log(), 60, "the good voice beside them")
    huge, long, liar = (path.read_text() for path in rejected)
    assert "file is 200 MB, the maximum for a reference is 128 MB" in huge
    assert "the header says 36.4 min of audio, the maximum for a reference is 10.0 min" in long
    assert "the header says 37.3 h of audio" in liar
    growth = memory_mb(daemon.process.pid)["VmHWM"] - before["VmHWM"]
    assert growth < 300, f"peak memory grew by {growth:.0f} MB"
    assert_clean_log(daemon.log())


# Bodies only HTTP sees: OpenAI's fields, each hostile in its own way.
HTTP_BODIES: list[tuple[bytes, int, str]] = [
    (b'{"input": "hello \\ud800 there"}', 400, "surrogate"),
    (b'{"input": "hi", "voice": "../../etc/passwd"}', 400, "is not a voice name"),
    (b'{"input": "hi", "voice": {"id": "' + b"v" * 50_000 + b'"}}', 400, "is not a voice name"),
    (b'{"input": "hi", "speed": NaN}', 400, "speed"),
    (b'{"input": "hi", "speed": 1e999}', 400, "speed"),
    (b'{"input": "hi", "language": "tlh"}', 400, "unsupported language"),
    (b'{"input": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400, "not valid JSON"),
    (b'{"input": {"text": "hi"}}', 400, "input"),
    (b'{"input": "hi", "voice": "ghost"}', 404, "unknown voice 'ghost'"),
]


def test_hostile_http_bodies_each_get_an_openai_error_and_the_daemon_speaks_on(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon(FAST + "[http]\nenabled = true\nport = 0\n")
    url = http_url(daemon) + "v1/audio/speech"
    with httpx.Client(timeout=60) as client:
        client.post(url, content=b"[]")  # the first refusal imports what later ones reuse
        before = memory_mb(daemon.process.pid)
        bodies = [
            (p.payload, (413 if len(p.payload) > 65536 else 400), "") for p in NAMED + random_payloads(300)
        ]
        for body, status, reason in HTTP_BODIES + bodies:
            answer = client.post(url, content=body)
            assert answer.status_code == status, (body[:80], answer.status_code, answer.text[:300])
            assert reason in answer.json()["error"]["message"], (body[:80], answer.text[:300])
        after = memory_mb(daemon.process.pid)
        spoken = client.post(url, json={"input": "Still serving.", "response_format": "wav"})
    assert spoken.status_code == 200 and spoken.content[:4] == b"RIFF"
    assert after["VmRSS"] <= before["VmRSS"] * 1.10, (before, after)
    assert_clean_log(daemon.log())
