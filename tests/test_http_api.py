"""The HTTP API's rules, in-process in milliseconds: the official ``openai`` client and starlette's
TestClient against the app, over no socket, with an in-memory seam (``tests/support/fakeseam``).

Every refusal is answered twice, alike for every source: one ``failed`` event (with the error's
code and field) and the HTTP error OpenAI's clients expect, mapped from that code.  The audio is
the fake's tone, decoded by FFmpeg's decoders (PyAV) in every format.  ``test_http.py`` keeps what
needs the real daemon: streaming as synthesis goes, cancelling, stopping, real voice uploads.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import openai
import pytest
from starlette.testclient import TestClient

from tests.support.fakeseam import TONE, FakeSeam
from tests.support.hostile import NAMED, random_payloads
from tests.support.responses import decoded
from voice_daemon.errors import Busy, QueueFull, Stopping
from voice_daemon.settings import HttpSettings
from voice_daemon.sources.http.server import HttpSource

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEXT = "The washing machine has finished."
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SPEECH = "/v1/audio/speech"


@pytest.fixture
def seam() -> FakeSeam:
    return FakeSeam(voices=("default", "anna"), default="default")


@pytest.fixture
def source(seam: FakeSeam) -> Iterator[HttpSource]:
    source = HttpSource(HttpSettings(enabled=True, api_key=KEY, max_text_length=200))
    yield source.attach(seam)


@pytest.fixture
def client(source: HttpSource) -> TestClient:
    source.start()
    return TestClient(source.app, headers=AUTH)


@pytest.fixture
def api(client: TestClient) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=KEY, max_retries=0, http_client=client)


def test_starting_and_stopping_answer_503_with_retry_after_and_health_needs_no_key(
    source: HttpSource,
) -> None:
    client = TestClient(source.app)
    starting = client.get("/v1/models", headers=AUTH)
    assert starting.status_code == 503 and starting.headers["retry-after"] == "5", starting.text
    assert starting.json()["error"]["code"] == "starting"
    assert client.get("/health").json()["status"] == "starting"
    source.start()
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/v1/models").status_code == 401  # no key
    source.stop()
    stopping = client.get("/v1/models", headers=AUTH)
    assert stopping.status_code == 503 and stopping.json()["error"]["code"] == "stopping"


def test_the_openai_client_gets_every_format_decodable_at_24_khz(api: openai.OpenAI, seam: FakeSeam) -> None:
    assert [model.id for model in api.models.list()] == ["xtts-v2"]
    audio = {
        fmt: api.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt).read()
        for fmt in FORMATS
    }
    seconds = 2 * len(TONE) / 24_000
    assert len(audio["pcm"]) / 2 / 24_000 == seconds
    for fmt, data in audio.items():
        rate, channels, samples = decoded(data, fmt)
        assert channels == 1 and rate == (48_000 if fmt == "opus" else 24_000), fmt  # Opus decodes at 48 kHz
        assert len(samples) / rate == pytest.approx(seconds, abs=0.1), fmt  # codec padding only
    assert audio["wav"][:4] == b"RIFF" and audio["wav"][4:8] == b"\xff\xff\xff\xff"  # streamed: size unknown
    assert audio["wav"][44:] == audio["pcm"]
    assert [stream.request.voice for stream in seam.streams] == ["default"] * len(
        FORMATS
    )  # alloy: the default
    assert all(stream.request.source == "http" for stream in seam.streams)


def test_sse_sends_the_audio_as_deltas_then_done(api: openai.OpenAI) -> None:
    pcm = api.audio.speech.create(model="tts-1", voice="anna", input=TEXT, response_format="pcm").read()
    with api.audio.speech.with_streaming_response.create(
        model="tts-1", voice="anna", input=TEXT, response_format="pcm", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["audio_seconds"] == 0.4
    assert b"".join(base64.b64decode(e["audio"]) for e in events if e["type"].endswith("delta")) == pcm


@pytest.mark.parametrize(
    ("body", "status", "message", "param", "field"),
    [
        (b"{not json", 400, "the body is not valid JSON", None, None),
        (b'{"input": "hi", "pitch": 3}', 400, "unknown field 'pitch'", "pitch", "pitch"),
        (b'{"voice": "anna"}', 400, "input is required", "input", "input"),
        (b'{"input": "  "}', 400, "text is empty", "input", "text"),
        (
            b'{"input": "' + b"x" * 201 + b'"}',
            400,
            "text is 201 characters long, the maximum is 200",
            "input",
            "text",
        ),
        (
            b'{"input": "hi", "response_format": "ogg"}',
            400,
            "response_format",
            "response_format",
            "response_format",
        ),
        (b'{"input": "hi", "language": "tlh"}', 400, "unsupported language 'tlh'", "language", "language"),
        (b'{"input": "hi", "voice": "../etc"}', 400, "is not a voice name", "voice", "voice"),
        (b'{"input": "hi", "voice": "ghost"}', 404, "unknown voice 'ghost'", "voice", "voice"),
    ],
)
def test_every_refusal_gets_one_failed_event_and_an_openai_error_from_its_code(
    client: TestClient,
    seam: FakeSeam,
    body: bytes,
    status: int,
    message: str,
    param: str | None,
    field: str | None,
) -> None:
    answer = client.post(SPEECH, content=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error["message"] and error["param"] == param and "['" not in error["message"]
    assert error["code"] == ("voice_not_found" if status == 404 else "invalid_value")
    [failed] = seam.failures
    assert failed.source == "http" and message in failed.data["error"]
    assert failed.data.get("field") == field
    assert failed.data["code"] == ("unknown_voice" if status == 404 else "bad_request")
    assert not seam.streams


def test_the_openai_client_raises_its_own_error_classes(api: openai.OpenAI, seam: FakeSeam) -> None:
    with pytest.raises(openai.NotFoundError, match="unknown voice 'ghost'"):
        api.audio.speech.create(model="tts-1", voice="ghost", input=TEXT)
    with pytest.raises(openai.BadRequestError, match="text is empty"):
        api.audio.speech.create(model="tts-1", voice="alloy", input="  ")
    with pytest.raises(openai.BadRequestError, match="response_format"):
        api.audio.speech.create(
            model="tts-1",
            input=TEXT,
            voice="alloy",
            response_format="ogg",  # type: ignore[arg-type]
        )
    wrong = openai.OpenAI(
        base_url="http://testserver/v1",
        api_key="wrong",
        max_retries=0,
        http_client=TestClient(api._client._transport.app),
    )  # type: ignore[attr-defined]
    with pytest.raises(openai.AuthenticationError, match="valid API key"):
        wrong.models.list()
    seam.busy = True
    with pytest.raises(openai.RateLimitError, match="interactive requests are waiting") as busy:
        api.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    assert busy.value.response.headers["retry-after"] == "2"
    assert [event.data["code"] for event in seam.failures] == [
        "unknown_voice",
        "bad_request",
        "bad_request",
        "busy",
    ]


@pytest.mark.parametrize(
    ("error", "status", "code", "retry"),
    [
        (Busy("full"), 429, "busy", "2"),
        (QueueFull("full"), 429, "queue_full", "2"),
        (Stopping("the daemon is stopping"), 503, "stopping", "30"),
    ],
)
def test_an_error_before_the_first_audio_gets_the_status_of_its_code(
    client: TestClient, seam: FakeSeam, error: Exception, status: int, code: str, retry: str
) -> None:
    seam.failing(error)  # type: ignore[arg-type]
    answer = client.post(SPEECH, json={"input": TEXT})
    assert answer.status_code == status and answer.headers["retry-after"] == retry
    assert answer.json()["error"]["code"] == code
    assert len(seam.failures) == 1  # the worker's, not a second one


def test_a_failure_after_the_first_audio_cuts_the_body_short_or_ends_sse_with_an_error(
    client: TestClient, seam: FakeSeam
) -> None:
    seam.failing(Stopping("the daemon is stopping"), after=1)
    body = {"input": TEXT, "response_format": "pcm", "stream_format": "sse"}
    with client.stream("POST", SPEECH, json=body) as sse:
        events = [json.loads(line[6:]) for line in sse.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == ["speech.audio.delta", "error"]
    assert events[-1]["error"]["code"] == "stopping"
    answer = client.post(SPEECH, json={"input": TEXT, "response_format": "pcm"})
    assert len(answer.content) == 2 * len(TONE)  # the first chunk (2 bytes a sample), never ended as if whole


def test_bodies_over_the_limit_are_refused_from_their_length(client: TestClient) -> None:
    too_large = client.post(SPEECH, content=b" " * 70_000)
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "request_too_large"
    assert "Traceback" not in too_large.text


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


def test_hostile_bodies_each_get_an_openai_error_and_one_failed_event(
    client: TestClient, seam: FakeSeam
) -> None:
    bodies = [(p.payload, (413 if len(p.payload) > 65536 else 400), "") for p in NAMED + random_payloads(300)]
    refused = 0
    for body, status, reason in HTTP_BODIES + bodies:
        answer = client.post(SPEECH, content=body)
        assert answer.status_code == status, (body[:80], answer.status_code, answer.text[:300])
        assert reason in answer.json()["error"]["message"], (body[:80], answer.text[:300])
        refused += status != 413  # a body refused from its length never reaches the endpoint
        assert len(seam.failures) == refused, body[:80]
    assert (
        client.post(SPEECH, json={"input": "Still serving.", "response_format": "wav"}).content[:4] == b"RIFF"
    )
