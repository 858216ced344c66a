"""The HTTP API end to end: the official ``openai`` client against a running daemon (tiny model),
audio decoded by FFmpeg's decoders (PyAV), voices uploaded over HTTP.  The API's rules are tested
in-process, in milliseconds, in ``test_http_api.py``."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import clips_of
from tests.support.daemonproc import FAST, StartDaemon, http_url, wait_until
from tests.support.hostile import NAMED, assert_clean_log, memory_mb, random_payloads
from tests.support.responses import decoded
from voice_daemon.errors import ConfigError
from voice_daemon.settings import HttpSettings
from voice_daemon.sources.http.server import HttpSource

KEY = "test-key"
HTTP = f"""
[http]
enabled = true
port = 0
api_key = "{KEY}"
max_text_length = 200
[queue]
interactive_max_size = 1
"""
TEXT = "The washing machine has finished."
LONG = "First sentence of the reply. Second sentence of the reply. Third sentence of the reply."


def test_audio_streams_as_it_is_made_a_full_lane_answers_429_and_going_away_or_stopping_cuts_it_short(
    start_daemon: StartDaemon,
) -> None:
    """The real parts: the model's audio leaving as it is made, the lane, cancelling, SIGTERM, memory.

    The rules (formats, errors, statuses, refusals) are tested in-process in test_http_api.py.
    """
    daemon = start_daemon(FAST + HTTP, ready=False)
    url, headers = http_url(daemon), {"Authorization": f"Bearer {KEY}"}
    starting = httpx.get(url + "v1/models", headers=headers)
    assert starting.status_code == 503 and starting.json()["error"]["code"] == "starting", starting.text
    daemon.wait_ready()
    client = openai.OpenAI(base_url=url + "v1", api_key=KEY, max_retries=0)
    pcm = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="pcm").read()
    assert 1.5 < len(pcm) / 2 / 24_000 < 2.5  # one text piece of the tiny model: 40 tokens
    for fmt in ("mp3", "opus"):  # audio leaves as it is made: the first bytes before synthesis ends
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="default", input=f"Streamed as {fmt}.", response_format=fmt
        ) as response:
            request_id = response.headers["x-request-id"]
            pieces = response.iter_bytes()
            first = next(pieces)
            log_at_first = daemon.log()
            rest = b"".join(pieces)
        assert first and f"request {request_id} started" in log_at_first, fmt
        assert f"request {request_id} done" not in log_at_first, fmt
        rate, _, samples = decoded(first + rest, fmt)
        assert len(samples) / rate > 1.5, fmt  # all of it: the first chunk is 8 of the piece's 40 tokens

    with httpx.Client(timeout=60, headers=headers) as refusing:  # refusals leave memory as it was
        bodies = [payload.payload for payload in NAMED + random_payloads(300)]
        refusing.post(url + "v1/audio/speech", content=b"[]")  # the first imports what later ones reuse
        before = memory_mb(daemon.process.pid)
        for body in bodies:
            assert refusing.post(url + "v1/audio/speech", content=body).status_code in (400, 404, 413)
        assert memory_mb(daemon.process.pid)["VmRSS"] <= before["VmRSS"] * 1.10
    assert_clean_log(daemon.log())

    long_text = " ".join([LONG] * 2)
    with httpx.stream(
        "POST",
        url + "v1/audio/speech",
        json={"input": long_text, "response_format": "pcm"},
        headers=headers,
        timeout=120,
    ) as streaming:
        first_id = streaming.headers["x-request-id"]
        next(streaming.iter_bytes())  # being served now
        waiting = threading.Thread(
            target=lambda: httpx.post(
                url + "v1/audio/speech", json={"input": TEXT}, headers=headers, timeout=120
            )
        )
        waiting.start()
        wait_until(
            lambda: httpx.get(url + "v1/status", headers=headers).json()["interactive_waiting"] == 1, 30
        )
        with pytest.raises(openai.RateLimitError, match="interactive requests are waiting") as busy:
            client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
        assert busy.value.response.headers["retry-after"] == "2"
    # the connection closed mid-stream: the worker stops that request and serves the waiting one
    wait_until(
        lambda: f"request {first_id} failed: cancelled: the caller went away" in daemon.log(),
        60,
        lambda: daemon.log(),
    )
    waiting.join(120)
    events = httpx.get(url + "v1/status", headers=headers).json()["events"]
    assert next(e["state"] for e in events if e["id"] == first_id) == "failed"
    assert (
        sum(e["state"] == "done" for e in events) == 1
    )  # the waiting one (the refusals pushed out the rest)

    # SIGTERM mid-stream: after a grace period the response is cut short, never ended as if whole
    with httpx.stream(
        "POST",
        url + "v1/audio/speech",
        json={"input": long_text + " Again.", "response_format": "wav"},
        headers=headers,
        timeout=120,
    ) as streaming:
        pieces = streaming.iter_bytes()
        next(pieces)
        stopping = threading.Thread(target=daemon.stop)
        stopping.start()
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            b"".join(pieces)
    stopping.join(120)
    assert daemon.process.returncode == 0, daemon.log()


def test_voices_uploaded_over_http_are_usable_at_once_and_bad_ones_leave_nothing(
    start_daemon: StartDaemon, home: Path, corpus: Path
) -> None:
    daemon = start_daemon(
        FAST + "[http]\nenabled = true\nport = 0\nmax_upload_mb = 2\nmax_upload_files = 2\n"
    )
    url = http_url(daemon)
    client = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0)
    before = sorted(p.name for p in (home / "voices").iterdir())
    anna = clips_of(corpus, "1688")[:2]
    added = client.audio.voices.create(name="anna", audio_sample=anna[0].open("rb"), consent="none")
    assert added.name == "anna" and added.id == "anna"
    assert client.audio.speech.create(model="tts-1", voice="anna", input=TEXT).read()[:3] == b"ID3"  # mp3
    files = [("audio_sample", (path.name, path.read_bytes(), "audio/flac")) for path in anna]
    pair = httpx.post(url + "v1/audio/voices", data={"name": "bert"}, files=files, timeout=60)
    assert pair.status_code == 201 and pair.json()["files"] == ["clip01.flac", "clip02.flac"], pair.text

    files = [("audio_sample", ("good.flac", anna[0].read_bytes())), ("audio_sample", ("notes.txt", b"hello"))]
    refused = httpx.post(url + "v1/audio/voices", data={"name": "carl"}, files=files, timeout=60)
    assert refused.status_code == 400, refused.text
    assert re.search(r"notes\.txt: not a readable", refused.json()["error"]["message"])
    assert httpx.post(url + "v1/audio/voices", data={"name": "anna"}, files=files[:1]).status_code == 409
    three = httpx.post(url + "v1/audio/voices", data={"name": "dora"}, files=files + files[:1])
    assert three.status_code == 400 and "Too many files" in three.json()["error"]["message"]
    huge = httpx.post(
        url + "v1/audio/voices", data={"name": "dora"}, files=[("audio_sample", ("a.wav", b"0" * 3 * 2**20))]
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    assert sorted(p.name for p in (home / "voices").iterdir()) == sorted([*before, "anna.flac", "bert"])

    (home / "voices" / "broken.wav").write_bytes(b"RIFF not really")  # a voice dropped into the folder
    wait_until(
        lambda: any(v["name"] == "broken" for v in httpx.get(url + "v1/audio/voices").json()["data"]), 30
    )
    listed = {voice["name"]: voice for voice in httpx.get(url + "v1/audio/voices").json()["data"]}
    assert listed["broken"]["status"] == "rejected" and "not a readable" in listed["broken"]["problems"][0]
    assert listed["default"]["default"] and listed["anna"]["status"] in ("ok", "warning")

    assert client.audio.voices.delete("anna").deleted
    with pytest.raises(openai.NotFoundError, match="unknown voice 'anna'"):
        client.audio.speech.create(model="tts-1", voice="anna", input=TEXT)
    assert httpx.delete(url + "v1/audio/voices/..%2Fvoices").status_code in (400, 404)
    assert not (home / "voices" / "anna.flac").exists()


def test_the_source_refuses_a_taken_port_and_warns_off_loopback_without_a_key(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    first = HttpSource(HttpSettings(enabled=True, port=0))
    first.open()
    try:
        port = int(first.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            HttpSource(HttpSettings(enabled=True, port=port)).open()
        assert httpx.get(first.url + "health").status_code == 503  # open, not started: starting
    finally:
        first.stop()
    with caplog.at_level(logging.WARNING):
        exposed = HttpSource(HttpSettings(enabled=True, host="0.0.0.0", port=0))
        exposed.open()
        exposed.stop()
    assert "not loopback, and no http.api_key is set" in caplog.text
    with pytest.raises(ConfigError, match=r"http\.api_key_file .* is empty"):
        (tmp_path / "key").write_text("\n")
        HttpSource(HttpSettings(api_key_file=tmp_path / "key"))
