"""``POST /v1/audio/speech`` (OpenAI's text to speech, streamed as it is synthesised) and ``GET /v1/models``.

A speech request is connection-bound: it goes through the seam's interactive lane (ahead of
queued announcements, never spooled), and is cancelled when the client goes away, while it
waits as well as while it streams.  The response starts once the first chunk is synthesised
and encoded, so a request that fails before any audio still gets a proper error status; after
that a failure cuts the connection short (an SSE stream ends with an ``error`` event instead).
The audio comes onto the event loop with ``Stream.audio``, which is also told what the client
has actually received: a client that takes nothing for ``http.timeout_seconds`` is let go (its
request cancelled, its connection closed).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from voice_daemon.core.port import SourcePort, Stream
from voice_daemon.core.request import (
    SpeechRequest,
    decode_json,
    describe_problems,
    make_request,
    problem_field,
)
from voice_daemon.errors import Cancelled, RequestError, Stopping, VoiceDaemonError
from voice_daemon.sources.http.encoding import FORMATS, Encoder
from voice_daemon.sources.http.failures import ApiError, StreamBroken, api_error
from voice_daemon.sources.received import Received

log = logging.getLogger(__name__)

SOURCE = "http"
MODEL = "xtts-v2"
# OpenAI's built-in voices: each means the default voice, unless a voice of that name exists.
OPENAI_VOICES = frozenset(
    {
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "fable",
        "onyx",
        "nova",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    }
)
_DISCONNECT_POLL_SECONDS = 0.25
TRANSPORT = "voice_daemon.transport"  # the scope's key for the connection's transport (server.Protocol)
_SLICE_SAMPLES = 12_000  # encode at most 0.5 s at a time, so the first bytes leave soon


class VoiceId(BaseModel):
    """OpenAI's custom-voice form: ``{"id": "NAME"}``."""

    model_config = ConfigDict(extra="forbid")
    id: str


class SpeechBody(BaseModel):
    """OpenAI's request body, plus ``language``; ``instructions`` is accepted and ignored
    (XTTS takes none)."""

    model_config = ConfigDict(extra="forbid")

    model: str = MODEL  # any name is accepted
    input: str
    voice: str | VoiceId | None = None
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    language: str | None = None
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None


async def models(_request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [model_entry()]})


def model_entry() -> dict[str, Any]:
    return {"id": MODEL, "object": "model", "created": 0, "owned_by": "voice-daemon"}


async def speech(request: Request) -> Response:
    source = request.app.state.source
    seam: SourcePort = source.ready_seam()
    try:
        body = parse_body(await request.body())
        speech_request = make_request(_fields(body, seam), source.limits, source=SOURCE)
    except RequestError as exc:
        raise _refused(seam, exc) from None
    try:
        stream = seam.stream(speech_request)
    except VoiceDaemonError as exc:
        raise _refused(seam, exc, speech_request) from None
    sending = Sending(stream, request.scope.get(TRANSPORT), source.settings.timeout_seconds)
    pieces = _encoded(sending, Encoder(body.response_format, stream.sample_rate))
    source.responses.add(sending)
    try:
        first = await _first(request, stream, pieces)
    except VoiceDaemonError as exc:  # the worker published its 'failed' event
        source.responses.discard(sending)
        raise api_error(exc) from None
    headers = {"X-Request-Id": speech_request.id}
    if body.stream_format == "sse":
        events = _sse(first, pieces, sending, source.responses)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    audio = _audio(first, pieces, sending, source.responses)
    return StreamingResponse(audio, media_type=FORMATS[body.response_format].media_type, headers=headers)


def parse_body(raw: bytes) -> SpeechBody:
    """The validated body; RequestError naming the field otherwise.

    JSON is decoded, and problems are described, by the rules every source shares (core.request),
    so a body is refused for the same reasons, in the same words, as an MQTT payload.  The
    request's own rules (empty or too long text, lone surrogates) apply once it becomes a request.
    """
    data = decode_json(raw or b"{}", "the body")
    try:
        return SpeechBody.model_validate(data)
    except ValidationError as exc:
        raise RequestError("; ".join(describe_problems(exc)), field=problem_field(exc)) from None


def _refused(seam: SourcePort, error: VoiceDaemonError, request: SpeechRequest | None = None) -> ApiError:
    """Answer the refusal with its 'failed' event, and the client with the matching HTTP error."""
    seam.refuse(error, request=request, source=SOURCE)
    return api_error(error)


def _fields(body: SpeechBody, seam: SourcePort) -> dict[str, Any]:
    """The request fields the body asks for (unset ones left out: the configured defaults)."""
    speed = body.speed if body.speed != 1.0 else None
    fields = {
        "text": body.input,
        "voice": _voice_name(body.voice, seam),
        "language": body.language,
        "speed": speed,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _voice_name(voice: str | VoiceId | None, seam: SourcePort) -> str | None:
    """The registry voice asked for; None (the default voice) for an OpenAI name that is no voice here."""
    name = voice.id if isinstance(voice, VoiceId) else voice
    if name in OPENAI_VOICES and name not in {info.name for info in seam.voices()}:
        return None
    return name


class Sending:
    """A speech response under way: its stream, and its connection (what the client has received of it)."""

    def __init__(self, stream: Stream, transport: asyncio.Transport | None, stall_seconds: float) -> None:
        self.stream, self.stall_seconds = stream, stall_seconds
        self.received = Received(transport) if transport is not None else None
        self._transport, self._loop = transport, asyncio.get_running_loop()

    def audio(self) -> AsyncIterator[np.ndarray]:
        """The stream's audio (see ``Stream.audio``: a client that takes nothing for the timeout
        is let go)."""
        received = self.received.samples if self.received is not None else None
        return self.stream.audio(received, stall_seconds=self.stall_seconds, on_stall=self.abort)

    def wrote(self, size: int, samples: int) -> None:
        if self.received is not None:
            self.received.wrote(size, samples)

    def abort(self) -> None:
        """Close the connection at once (from any thread)."""
        if self._transport is not None:
            self._loop.call_soon_threadsafe(self._transport.abort)

    async def cut(self) -> None:
        """Close the connection at once, the response unfinished (the client sees it incomplete)."""
        if self._transport is not None:
            self._transport.abort()
            await asyncio.sleep(0)  # uvicorn learns that the connection is lost: nothing more to send


async def _encoded(sending: Sending, encoder: Encoder) -> AsyncIterator[tuple[bytes, int]]:
    """The audio in the encoder's format as it is made: (bytes, samples of audio whose encoding
    ends there)."""
    try:
        async for chunk in sending.audio():
            data = b"".join(  # a long chunk (from the cache) in slices, so no one encoding is long
                encoder.encode(chunk[start : start + _SLICE_SAMPLES])
                for start in range(0, len(chunk), _SLICE_SAMPLES)
            )
            yield data, len(chunk)
        yield encoder.finish(), 0
    finally:
        encoder.close()


async def _first(
    request: Request, stream: Stream, pieces: AsyncIterator[tuple[bytes, int]]
) -> tuple[bytes, int]:
    """The first encoded piece; cancels the stream if the client goes away while it waits."""
    waiting = asyncio.ensure_future(anext(pieces, (b"", 0)))
    while not waiting.done():
        await asyncio.wait({waiting}, timeout=_DISCONNECT_POLL_SECONDS)
        if not waiting.done() and await request.is_disconnected():
            stream.cancel()
    return waiting.result()


async def _audio(
    first: tuple[bytes, int],
    pieces: AsyncIterator[tuple[bytes, int]],
    sending: Sending,
    responses: set[Sending],
) -> AsyncIterator[bytes]:
    try:
        yield first[0]
        sending.wrote(len(first[0]), first[1])
        async for data, samples in pieces:
            yield data
            sending.wrote(len(data), samples)
    except Cancelled:
        pass  # the client went away or stopped reading (said so): no one to tell
    except VoiceDaemonError as exc:
        await sending.cut()
        if not isinstance(exc, Stopping):  # the daemon said that it stops them
            raise StreamBroken(f"request {sending.stream.request.id} failed while streaming: {exc}") from None
    finally:
        responses.discard(sending)
        sending.stream.cancel()  # the client went away (a no-op once the stream has ended)


async def _sse(
    first: tuple[bytes, int],
    pieces: AsyncIterator[tuple[bytes, int]],
    sending: Sending,
    responses: set[Sending],
) -> AsyncIterator[str]:
    """OpenAI's speech events: ``speech.audio.delta`` (base64 audio) and ``speech.audio.done``."""
    try:
        data, samples = first
        while True:
            if data:
                event = _event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
                yield event
                sending.wrote(len(event), samples)
            if (piece := await anext(pieces, None)) is None:
                break
            data, samples = piece
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        seconds = sending.stream.facts.get("audio_seconds")
        yield _event({"type": "speech.audio.done", "usage": usage, "audio_seconds": seconds})
    except Cancelled:
        pass
    except VoiceDaemonError as exc:
        error = api_error(exc)
        yield _event(
            {"type": "error", "error": {"message": error.message, "type": error.type, "code": error.code}}
        )
    finally:
        responses.discard(sending)
        sending.stream.cancel()


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"
