"""The one request type: every source (drop folder, MQTT, Hermes, batch, CLI) produces these.

Parsing and validation live here, so every source rejects the same bad input with the same
message.  A voice is a registry name, never a path; output file names derive from the id.
Whatever passes validation can be stored: text that JSON escapes made undecodable (a lone
UTF-16 surrogate) is refused here, not when the queue writes it.

The payload rule: input whose first non-blank character is ``{`` or ``[`` is JSON and must be
a request object; anything else (``null``, ``42`` and ``"quoted"`` included) is plain text,
spoken as written.

``LANGUAGES`` and ``complete_sentences`` (for text that arrives in pieces) are the text rules
sources need, passed on from ``synthesis.text``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voice_daemon.errors import RequestError, clipped, describe_problems, problem_field
from voice_daemon.settings import OutputMode, Settings
from voice_daemon.synthesis.text import LANGUAGES, complete_sentences, normalize_language
from voice_daemon.voices.names import VoiceName

__all__ = [
    "LANGUAGES",
    "Limits",
    "OutputMode",
    "SpeechRequest",
    "complete_sentences",
    "decode_fields",
    "decode_json",
    "describe_problems",
    "make_request",
    "new_id",
    "parse_payload",
    "payload_id",
    "problem_field",
    "usable_id",
]

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
RequestId = Annotated[str, Field(pattern=_ID.pattern)]


def new_id() -> str:
    return uuid.uuid4().hex


class SpeechRequest(BaseModel):
    """A validated request to speak ``text``; unset fields take the configured defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    id: RequestId = Field(default_factory=new_id)
    voice: VoiceName | None = None
    language: str | None = Field(None, max_length=32)
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

    @model_validator(mode="after")
    def _storable(self) -> SpeechRequest:
        """Every string must be writable as UTF-8; JSON escapes can make lone surrogates, which are not."""
        for where, text in _strings(self):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"{where} holds a lone UTF-16 surrogate (\\u{ord(text[exc.start]):04x} at "
                    f"character {exc.start + 1}), which is not text"
                ) from None
        return self

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
        return (
            self.text,
            self.voice,
            self.language,
            self.output,
            self.priority,
            self.volume,
            self.speed,
            self.name,
            self.source,
        )


class Limits(BaseModel):
    """Bounds every source enforces before a request is accepted: the configured ones
    (:meth:`configured`), narrowed by a source's own (:meth:`for_source`)."""

    max_text_length: int = 5000
    max_payload_bytes: int = 65536

    @classmethod
    def configured(cls, settings: Settings) -> Limits:
        """The daemon's bounds: ``synthesis.max_text_length``."""
        return cls(max_text_length=settings.synthesis.max_text_length)

    def for_source(self, max_text_length: int | None = None, max_payload_bytes: int | None = None) -> Limits:
        """These bounds as a source applies them: its own text bound when shorter, its own payload bound."""
        text = min(self.max_text_length, max_text_length or self.max_text_length)
        return Limits(max_text_length=text, max_payload_bytes=max_payload_bytes or self.max_payload_bytes)


def make_request(data: dict[str, Any], limits: Limits, **fixed: Any) -> SpeechRequest:
    """Validate ``data`` (user fields) plus ``fixed`` (source-set fields, which win) into a SpeechRequest.

    The RequestError carries the request's id (``request_id``) when it had a usable one.
    """
    try:
        return _validated(data, limits, fixed)
    except RequestError as exc:
        exc.request_id = usable_id(fixed.get("id", data.get("id")))
        raise


def usable_id(value: Any) -> str | None:
    """``value`` if it is a well-formed request id, else None."""
    return value if isinstance(value, str) and _ID.match(value) else None


def decode_fields(raw: bytes, limits: Limits, what: str, is_json: bool | None = None) -> dict[str, Any]:
    """The user fields in ``raw``: a JSON object, or plain UTF-8 text meaning just the text.

    ``is_json`` says which it is; None decides by the first character (module docstring).
    ``what`` names the input in error messages ("payload", "file").
    """
    if len(raw) > limits.max_payload_bytes:
        error = RequestError(f"{what} is {len(raw)} bytes, the maximum is {limits.max_payload_bytes}")
        error.request_id = payload_id(raw)
        raise error
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    sniffed = is_json is None
    if sniffed:
        is_json = body.lstrip().startswith(("{", "["))
    if not is_json:
        return {"text": body}
    try:
        data = decode_json(body, what)
    except RequestError as exc:
        if sniffed:
            raise RequestError(
                f"{exc} (a {what} starting with {{ or [ is read as JSON; send other text as "
                f'plain text or as {{"text": ...}})'
            ) from None
        raise
    if not isinstance(data, dict):
        raise RequestError(f"{what} must be an object with at least a 'text' field")
    return data


def decode_json(body: str | bytes, what: str) -> Any:
    """``body`` parsed as JSON; RequestError naming ``what`` when it is not JSON or too deeply nested."""
    try:
        return json.loads(body)
    except RecursionError:
        raise RequestError(f"{what} is not valid JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:
        where = f"at line {exc.lineno} column {exc.colno}"
        raise RequestError(f"{what} is not valid JSON: {exc.msg} {where}") from None
    except ValueError as exc:  # a number too long to convert, bytes that are not UTF-8
        raise RequestError(f"{what} is not valid JSON: {clipped(str(exc))}") from None


def parse_payload(payload: bytes, limits: Limits, **fixed: Any) -> SpeechRequest:
    """A JSON object with ``text`` and optional fields, or plain UTF-8 text meaning just the text."""
    return make_request(decode_fields(payload, limits, "payload"), limits, **fixed)


def payload_id(raw: bytes) -> str | None:
    """The usable id in ``raw`` when it is a JSON object: to answer a payload that never became a request."""
    try:
        data = decode_json(raw, "payload")
    except RequestError:
        return None
    return usable_id(data.get("id")) if isinstance(data, dict) else None


def _validated(data: dict[str, Any], limits: Limits, fixed: dict[str, Any]) -> SpeechRequest:
    unexpected = sorted({"source", "context", "created", "name"} & data.keys())
    if unexpected:
        message = f"field(s) {', '.join(unexpected)} may not be set in a request"
        raise RequestError(message, field=unexpected[0])
    try:
        request = SpeechRequest(**{**data, **fixed})
    except ValidationError as exc:
        raise RequestError("; ".join(describe_problems(exc)), field=problem_field(exc)) from None
    if len(request.text) > limits.max_text_length:
        message = f"text is {len(request.text)} characters long, the maximum is {limits.max_text_length}"
        raise RequestError(message, field="text")
    return request


def _strings(request: SpeechRequest) -> Iterator[tuple[str, str]]:
    """Every string in ``request`` with where it is: field values, and keys and values of dicts."""
    for name, value in request:
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield f"a key of {name}", key
                if isinstance(item, str):
                    yield f"a value of {name}", item
