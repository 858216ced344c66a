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

from voice_daemon.errors import ReferenceRejected, RequestError, VoiceDaemonError

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


# error code -> (HTTP status, OpenAI error type, OpenAI error code, retry after seconds)
_ANSWERS: dict[str, tuple[int, str, str, int | None]] = {
    "bad_request": (400, "invalid_request_error", "invalid_value", None),
    "id_in_use": (400, "invalid_request_error", "invalid_value", None),
    "unknown_voice": (404, "invalid_request_error", "voice_not_found", None),
    "reference_rejected": (400, "invalid_request_error", "voice_rejected", None),
    "busy": (429, "rate_limit_error", "busy", BUSY_RETRY_SECONDS),
    "queue_full": (429, "rate_limit_error", "queue_full", BUSY_RETRY_SECONDS),
    "starting": (503, "server_error", "starting", STARTING_RETRY_SECONDS),
    "stopping": (503, "server_error", "stopping", 30),
    "storage_failed": (507, "server_error", "storage_error", None),
}
_SERVER_ERROR = (500, "server_error", "synthesis_failed", None)
_PARAMS = {"text": "input", "file": "audio_sample"}  # request fields under the API's names


def api_error(exc: VoiceDaemonError, param: str | None = None) -> ApiError:
    """The answer to one of the daemon's errors, from its ``code`` (and a RequestError's ``field``).

    ``param`` names the API parameter at fault, where the endpoint knows better than the error.
    """
    status, kind, code, retry = _ANSWERS.get(exc.code, _SERVER_ERROR)
    if param is None and isinstance(exc, RequestError) and exc.field is not None:
        param = _PARAMS.get(exc.field, exc.field)
    elif isinstance(exc, ReferenceRejected):
        param = "audio_sample"
    headers = {"Retry-After": str(retry)} if retry is not None else {}
    return ApiError(status, str(exc), kind, param=param, code=code, headers=headers)


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
