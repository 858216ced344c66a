"""The HTTP source: uvicorn serving a Starlette app on a thread (and event loop) of its own.

It is opened before the model loads, so clients get ``503`` with ``Retry-After`` instead of a
refused connection while the daemon starts; every endpoint but ``/health`` and the static page
answers so until :meth:`HttpSource.start`.  Synthesis never runs on the event loop: a speech
request's audio comes onto it from its Stream (``Stream.audio``), and the app is told each
connection's transport (:class:`Protocol`) so that what a client has actually received is known.
On stop, speech responses under way end within :data:`STOP_SECONDS`, before uvicorn's grace.
With ``http.api_key`` set, every request but those two needs ``Authorization: Bearer <key>``;
request bodies are bounded.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections import deque
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from voice_daemon.core.events import Event, Notice
from voice_daemon.core.port import SourcePort
from voice_daemon.core.request import Limits
from voice_daemon.errors import ConfigError, Stopping
from voice_daemon.settings import HttpSettings
from voice_daemon.sources.http import page, speech, voices
from voice_daemon.sources.http.failures import (
    ApiError,
    StreamBroken,
    not_ready,
    on_api_error,
    on_crash,
    on_http_exception,
)
from voice_daemon.sources.lifecycle import ConnectionSource

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/"})  # no key needed: the health check, and the page (static, no data)
UPLOAD_PATH = "/v1/audio/voices"
_EVENTS_KEPT = 50
_START_TIMEOUT = 10
STOP_SECONDS = 1.0  # the most a speech response under way gets to end when the daemon stops


class HttpSource(ConnectionSource):
    """The HTTP API: :meth:`open` it early, :meth:`attach` the seam, :meth:`start` it with the sources."""

    name = "HTTP API"

    def __init__(self, settings: HttpSettings) -> None:
        super().__init__()
        self.settings = settings
        self.key = _read_key(settings)
        self.limits = Limits()  # the seam's, narrowed by the API's own, once attached
        self.events: deque[dict[str, Any]] = deque(maxlen=_EVENTS_KEPT)
        self.url = ""
        self.app = _application(self)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.responses: set[speech.Sending] = set()  # speech responses under way (touched on the loop)

    @property
    def address(self) -> str:
        return f"{self.url} (OpenAI base URL {self.url}v1)"

    def _listen(self) -> None:
        """Serve on a thread of its own (ConfigError when the address cannot be had)."""
        listener = _listener(self.settings)
        self.url = _url(self.settings.host, listener)
        # limit_concurrency: beyond 64 connections at once, uvicorn answers 503 itself.
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
            limit_concurrency=64,
            http=Protocol,
        )
        self._server = server = uvicorn.Server(config)
        sockets = {"sockets": [listener]}
        self._thread = threading.Thread(target=server.run, kwargs=sockets, name="http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise ConfigError(f"http: the server on {self.url} did not start")
        if not _is_loopback(self.settings.host) and self.key is None:
            log.warning(
                "http.host is %s, not loopback, and no http.api_key is set: anyone who can reach %s "
                "can use the speech API and add or delete voices",
                self.settings.host,
                self.url,
            )

    def _attaching(self, seam: SourcePort) -> None:
        self.limits = seam.limits.for_source(self.settings.max_text_length, self.settings.max_body_bytes)

    def _starting(self, seam: SourcePort) -> None:
        seam.subscribe(self._on_notice)

    def ready_seam(self) -> SourcePort:
        """The seam; ApiError 503 while the daemon starts (or stops)."""
        if self.seam is None:
            raise not_ready(self.state, self.not_ready_reason())
        return self.seam

    def _close(self) -> None:
        """Stop listening; speech responses under way end now (their requests cancelled: ``stopping``).

        A response whose client does not take its end within STOP_SECONDS is cut, so every one
        has ended before uvicorn's own grace (which would log an error and a traceback).
        """
        if self._server is None or self._thread is None:
            return
        self._end_responses()
        self._server.should_exit = True
        self._thread.join(15)

    def _end_responses(self) -> None:
        if not (responses := list(self.responses)):
            return
        log.info("http: the daemon is stopping; %d speech response(s) under way end now", len(responses))
        for sending in responses:
            sending.stream.cancel(Stopping("the daemon is stopping"))
        deadline = time.monotonic() + STOP_SECONDS
        while self.responses and time.monotonic() < deadline:
            time.sleep(0.02)
        for sending in list(self.responses):
            sending.abort()

    def authorised(self, header: str | None) -> bool:
        if self.key is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.key.encode())

    def body_limit(self, method: str, path: str) -> int:
        if method == "POST" and path == UPLOAD_PATH:
            return int(self.settings.max_upload_mb * 2**20)
        return self.settings.max_body_bytes

    def _on_notice(self, notice: Notice) -> None:
        if isinstance(notice, Event):
            text = notice.request.text[:100] if notice.request is not None else None
            self.events.append({**notice.payload(), "text": text})


class Guard:
    """ASGI middleware: the key, 503 while starting, bounded bodies (413), and cut-short streams."""

    def __init__(self, app: ASGIApp, source: HttpSource) -> None:
        self.app, self.source = app, source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal.response()(scope, receive, send)
            return
        limit, received = self.source.body_limit(scope["method"], scope["path"]), 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
            return message

        try:
            await self.app(scope, bounded, send)
        except StreamBroken as exc:
            log.warning("%s; connection cut short", exc)

    def _refusal(self, scope: Scope) -> ApiError | None:
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        path, source = scope["path"], self.source
        if path in OPEN_PATHS:
            return None
        if not source.authorised(headers.get("authorization")):
            return ApiError(
                401,
                "a valid API key is needed: send 'Authorization: Bearer <key>' (http.api_key)",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if source.seam is None:
            return not_ready(source.state, source.not_ready_reason())
        limit = source.body_limit(scope["method"], path)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            return _too_large(limit)
        return None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit} bytes", code="request_too_large")


def _application(source: HttpSource) -> Starlette:
    routes = [
        Route("/health", page.health),
        Route("/", page.index),
        Route("/v1/status", page.status),
        Route("/v1/models", speech.models),
        Route("/v1/audio/speech", speech.speech, methods=["POST"]),
        Route("/v1/audio/voices", voices.list_voices),
        Route("/v1/audio/voices", voices.add_voice, methods=["POST"]),
        Route("/v1/audio/voices/{name}", voices.delete_voice, methods=["DELETE"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, source=source)],
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_exception,
            Exception: on_crash,
        },
    )
    app.state.source = source
    return app


class Protocol(H11Protocol):
    """uvicorn's HTTP/1.1, telling the app each connection's transport (what a client has received)."""

    # uvicorn's H11Protocol narrows asyncio.Protocol's BaseTransport to Transport; this follows it.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope[speech.TRANSPORT] = transport
            await app(scope, receive, send)

        self.app = with_transport


def _listener(settings: HttpSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        return socket.create_server((settings.host, settings.port), family=family)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        raise ConfigError(f"http: cannot listen on {where}: {exc.strerror or exc}") from None


def _url(host: str, listener: socket.socket) -> str:
    shown = f"[{host}]" if listener.family == socket.AF_INET6 else host
    return f"http://{shown}:{listener.getsockname()[1]}/"


def _read_key(settings: HttpSettings) -> str | None:
    if settings.api_key_file is None:
        return settings.api_key or None
    try:
        key = settings.api_key_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"http.api_key_file {settings.api_key_file}: {exc.strerror}") from None
    if not key:
        raise ConfigError(f"http.api_key_file {settings.api_key_file} is empty")
    return key


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
