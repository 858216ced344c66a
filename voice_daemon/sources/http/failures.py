"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` with a fitting status.

Every refusal an endpoint makes is an :class:`ApiError`; the daemon's own errors map onto one
(:func:`api_error`); anything else becomes a 500 that names no internals (the traceback goes to
the log only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from voice_daemon.errors import (
    Busy,
    ReferenceRejected,
    RequestError,
    StorageError,
    UnknownVoice,
    VoiceDaemonError,
)

BUSY_RETRY_SECONDS = 2
STARTING_RETRY_SECONDS = 5


@dataclass
class ApiError(Exception):
    """A refusal: HTTP ``status`` and the fields of OpenAI's error object."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, self.status, headers=self.headers)


class StreamBroken(Exception):
    """A response already under way cannot go on: the connection is cut short, so the client sees
    an incomplete body rather than audio that merely ends early."""


def api_error(exc: VoiceDaemonError, param: str | None = None) -> ApiError:
    """The answer to one of the daemon's errors."""
    message = str(exc)
    if isinstance(exc, UnknownVoice):
        return ApiError(404, message, param="voice", code="voice_not_found")
    if isinstance(exc, Busy):
        return ApiError(429, message, "rate_limit_error", code="busy",
                        headers={"Retry-After": str(BUSY_RETRY_SECONDS)})  # fmt: skip
    if isinstance(exc, ReferenceRejected):
        return ApiError(400, message, param="audio_sample", code="voice_rejected")
    if isinstance(exc, RequestError):
        return ApiError(400, message, param=param or _param_of(message), code="invalid_value")
    if isinstance(exc, StorageError):
        return ApiError(507, message, "server_error", code="storage_error")
    if "stopping" in message:
        return ApiError(503, message, "server_error", code="stopping", headers={"Retry-After": "30"})
    return ApiError(500, message, "server_error", code="synthesis_failed")


def not_ready(state: str, message: str) -> ApiError:
    """The answer while the daemon is ``starting`` (loading the model) or ``stopping``."""
    headers = {"Retry-After": str(STARTING_RETRY_SECONDS)}
    return ApiError(503, message, "server_error", code=state, headers=headers)


async def on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (no such page, wrong method, a malformed form) in OpenAI's shape."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    return ApiError(exc.status_code, str(exc.detail), code=code, headers=dict(exc.headers or {})).response()


async def on_crash(_request: Request, _exc: Exception) -> JSONResponse:
    """A bug: the client learns nothing of the internals; the server logs the traceback."""
    return ApiError(
        500, "internal error (see the daemon's log)", "server_error", code="internal_error"
    ).response()


def _param_of(message: str) -> str | None:
    """The request field a RequestError message is about (its first word), in the API's names."""
    first = message.split(" ", 1)[0].split(":", 1)[0].strip("'")
    return {"text": "input", "voice": "voice", "language": "language", "speed": "speed"}.get(first)
