"""Rhasspy Hermes TTS: ``hermes/tts/say`` in, ``hermes/tts/sayFinished`` and ``hermes/error/tts`` out.

Pure translation between Hermes JSON and our request type; the MQTT transport lives in
``bridge``.  Every ``say`` for our sites is answered with ``sayFinished`` (after
``hermes/error/tts`` when it failed, also when it never became a request), so a dialogue
manager never waits for its timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voice_daemon.core.request import Limits, SpeechRequest, decode_fields, decode_json, make_request, new_id
from voice_daemon.errors import RequestError

SAY = "hermes/tts/say"
SAY_FINISHED = "hermes/tts/sayFinished"
ERROR = "hermes/error/tts"
SOURCE = "hermes"


def context_of(payload: bytes) -> dict[str, str]:
    """The reply data of a ``say`` message (its id, siteId and sessionId), as far as it has them."""
    message = _object(payload)
    message = message if isinstance(message, dict) else {}
    return {
        "hermes_id": _text(message.get("id")) or new_id(),
        "site_id": _text(message.get("siteId")) or "default",
        "session_id": _text(message.get("sessionId")),
    }


def parse_say(payload: bytes, limits: Limits, context: Mapping[str, str]) -> SpeechRequest:
    """A ``hermes/tts/say`` message as a request that keeps ``context`` (from :func:`context_of`)."""
    message = decode_fields(payload, limits, "hermes/tts/say payload", is_json=True)
    data: dict[str, Any] = {"text": message.get("text") or "", "id": context["hermes_id"]}
    if message.get("lang"):
        data["language"] = message["lang"]
    if message.get("volume") is not None:
        data["volume"] = message["volume"]
    return make_request(data, limits, source=SOURCE, context=dict(context))


def finished(context: Mapping[str, str]) -> dict[str, Any]:
    """The ``hermes/tts/sayFinished`` payload answering the request of ``context``."""
    return {
        "id": context.get("hermes_id"),
        "siteId": context.get("site_id", "default"),
        "sessionId": context.get("session_id") or None,
    }


def error(context: Mapping[str, str], message: str) -> dict[str, Any]:
    """The ``hermes/error/tts`` payload."""
    return {
        "error": message,
        "context": context.get("hermes_id"),
        "siteId": context.get("site_id", "default"),
        "sessionId": context.get("session_id") or None,
    }


def _object(payload: bytes) -> Any:
    try:
        return decode_json(payload, "payload")
    except RequestError:
        return None


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
