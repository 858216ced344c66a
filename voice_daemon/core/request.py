"""The one request type: every source (drop folder, MQTT, Hermes, batch, CLI) produces these.

Parsing and validation live here, so every source rejects the same bad input with the same
message.  A voice is a registry name, never a path; output file names derive from the id.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voice_daemon.errors import RequestError
from voice_daemon.settings import OutputMode
from voice_daemon.synthesis.text import LANGUAGES, normalize_language
from voice_daemon.voices.names import VoiceName

__all__ = ["LANGUAGES", "Limits", "OutputMode", "SpeechRequest", "decode_fields", "make_request", "new_id",
           "parse_payload"]  # fmt: skip

RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


def new_id() -> str:
    return uuid.uuid4().hex


class SpeechRequest(BaseModel):
    """A validated request to speak ``text``; unset fields take the configured defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    id: RequestId = Field(default_factory=new_id)
    voice: VoiceName | None = None
    language: str | None = None
    output: OutputMode | None = None
    priority: Literal["normal", "urgent"] = "normal"
    volume: float | None = Field(None, ge=0, le=1, description="playback gain, 0 to 1")
    speed: float | None = Field(None, ge=0.25, le=4, description="speaking-rate factor on the voice's rate")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,120}$", description="output file stem")
    source: str = "api"
    context: dict[str, str] = Field(default_factory=dict, description="source-specific reply data")
    created: float = Field(default_factory=time.time)

    @field_validator("text")
    @classmethod
    def _has_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("text is empty")
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        return normalize_language(value) if value is not None else None

    @property
    def urgent(self) -> bool:
        return self.priority == "urgent"

    @property
    def file_stem(self) -> str:
        return self.name or self.id

    def to_json(self) -> str:
        return self.model_dump_json()

    def content(self) -> tuple[Any, ...]:
        """What the request asks for, without when and how it arrived: equal for two deliveries of it."""
        return (self.text, self.voice, self.language, self.output, self.priority, self.volume, self.speed,
                self.name, self.source)  # fmt: skip


class Limits(BaseModel):
    """Bounds every source enforces before a request is accepted."""

    max_text_length: int = 5000
    max_payload_bytes: int = 65536


def make_request(data: dict[str, Any], limits: Limits, **fixed: Any) -> SpeechRequest:
    """Validate ``data`` (user fields) plus ``fixed`` (source-set fields, which win) into a SpeechRequest."""
    unexpected = {"source", "context", "created", "name"} & data.keys()
    if unexpected:
        raise RequestError(f"field(s) {', '.join(sorted(unexpected))} may not be set in a request")
    try:
        request = SpeechRequest(**{**data, **fixed})
    except ValidationError as exc:
        raise RequestError(_describe(exc)) from None
    if len(request.text) > limits.max_text_length:
        raise RequestError(
            f"text is {len(request.text)} characters long, the maximum is {limits.max_text_length}"
        )
    return request


def decode_fields(raw: bytes, limits: Limits, what: str, is_json: bool | None = None) -> dict[str, Any]:
    """The user fields in ``raw``: a JSON object, or plain UTF-8 text meaning just the text.

    ``is_json`` says which it is; None decides by the first character.  ``what`` names the input
    in error messages ("payload", "file").
    """
    if len(raw) > limits.max_payload_bytes:
        raise RequestError(f"{what} is {len(raw)} bytes, the maximum is {limits.max_payload_bytes}")
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    if is_json is None:
        is_json = body.lstrip().startswith(("{", "["))
    if not is_json:
        return {"text": body}
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise RequestError(f"{what} must be an object with at least a 'text' field")
    return data


def parse_payload(payload: bytes, limits: Limits, **fixed: Any) -> SpeechRequest:
    """A JSON object with ``text`` and optional fields, or plain UTF-8 text meaning just the text."""
    return make_request(decode_fields(payload, limits, "payload"), limits, **fixed)


def _describe(exc: ValidationError) -> str:
    messages = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "request"
        if error["type"] == "missing":
            messages.append(f"{where} is required")
        elif error["type"] == "extra_forbidden":
            messages.append(f"unknown field {where!r}")
        elif error["type"] == "string_pattern_mismatch" and where == "voice":
            messages.append(f"voice {error['input']!r} is not a voice name (letters, digits, '-' and '_' only)")
        else:
            messages.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(messages)
