"""Rhasspy Hermes TTS: ``hermes/tts/say`` in, ``hermes/tts/sayFinished`` and ``hermes/error/tts`` out.

Pure translation between Hermes JSON and our request type; the MQTT transport lives in mqtt.py.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import RequestError
from .request import Limits, SpeechRequest, make_request, new_id

SAY = "hermes/tts/say"
SAY_FINISHED = "hermes/tts/sayFinished"
ERROR = "hermes/error/tts"
SOURCE = "hermes"


def parse_say(payload: bytes, limits: Limits) -> SpeechRequest:
    """A ``hermes/tts/say`` message as a request; the reply context keeps id, siteId and sessionId."""
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"hermes/tts/say payload is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise RequestError("hermes/tts/say payload must be a JSON object")
    context = {
        "hermes_id": str(message.get("id") or new_id()),
        "site_id": str(message.get("siteId") or "default"),
        "session_id": str(message.get("sessionId") or ""),
    }
    data: dict[str, Any] = {"text": message.get("text") or "", "id": context["hermes_id"]}
    if message.get("lang"):
        data["language"] = message["lang"]
    if message.get("volume") is not None:
        data["volume"] = message["volume"]
    return make_request(data, limits, source=SOURCE, context=context)


def site_of(payload: bytes) -> str:
    """The siteId of a Hermes message ('default' when absent or unreadable)."""
    try:
        message = json.loads(payload.decode("utf-8"))
        return str(message.get("siteId") or "default") if isinstance(message, dict) else "default"
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "default"


def finished(request: SpeechRequest) -> dict[str, Any]:
    """The ``hermes/tts/sayFinished`` payload answering ``request``."""
    context = request.context
    return {"id": context["hermes_id"], "siteId": context["site_id"], "sessionId": context["session_id"] or None}


def error(request: SpeechRequest | None, message: str, site_id: str = "default") -> dict[str, Any]:
    """The ``hermes/error/tts`` payload."""
    context = request.context if request is not None else {}
    return {
        "error": message,
        "context": context.get("hermes_id"),
        "siteId": context.get("site_id", site_id),
        "sessionId": context.get("session_id") or None,
    }
