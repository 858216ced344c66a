"""The listening-test web page of ``voice-daemon eval``: blind MOS ratings and A/B preferences.

A small HTTP server (standard library) on loopback by default.  The page asks ``/api/task`` for
a task, plays ``/audio/<id>.wav`` and posts ratings to ``/api/mos`` or ``/api/ab``; the ids are
random, so neither the voice nor the settings of a take are ever shown.  With a speech recogniser
(``quality.asr``) the page also shows what each take was heard to say, from
``/api/transcript/<id>``: a take that says the wrong words is seen at once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from voice_daemon.audio import decode
from voice_daemon.errors import RequestError
from voice_daemon.quality.ratings import RatingStore

if TYPE_CHECKING:
    from voice_daemon.quality.asr import Recognizer

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("listening.html")
_AUDIO_PATH = re.compile(r"^/audio/([0-9a-f]{16})\.wav$")
_TRANSCRIPT_PATH = re.compile(r"^/api/transcript/([0-9a-f]{16})$")
_MAX_BODY = 4096


class ListeningServer:
    """Serves the listening test for ``store`` on ``host``:``port`` (0 picks a free port).

    ``recognizer`` (hearing ``language``) gives each take its transcript.
    """

    def __init__(
        self,
        store: RatingStore,
        host: str = "127.0.0.1",
        port: int = 0,
        recognizer: Recognizer | None = None,
        language: str = "en",
    ) -> None:
        facts = {
            "store": store,
            "page": PAGE.read_bytes(),
            "transcripts": Transcripts(store, recognizer, language),
        }
        handler = type("Handler", (_Handler,), facts)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        # typeshed's address type covers every socket family; this server's is (host, port)
        host, port = cast("tuple[str, int]", self._server.server_address[:2])
        return f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="listening", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Transcripts:
    """What ``recognizer`` hears in each take of ``store``, transcribed once per take."""

    def __init__(self, store: RatingStore, recognizer: Recognizer | None, language: str) -> None:
        self.store, self.recognizer, self.language = store, recognizer, language
        self._heard: dict[str, str] = {}

    def of(self, take_id: str) -> str | None:
        """The transcript of take ``take_id``; None without a recogniser or for an unknown take."""
        audio = self.store.audio_file(take_id)
        if self.recognizer is None or not self.recognizer.hears(self.language) or not audio.is_file():
            return None
        if take_id not in self._heard:
            self._heard[take_id] = self.recognizer.transcribe(decode(audio), self.language)
        return self._heard[take_id]


class _Handler(BaseHTTPRequestHandler):
    store: RatingStore
    page: bytes
    transcripts: Transcripts

    def do_GET(self) -> None:  # http.server's naming
        if self.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.page, "text/html; charset=utf-8")
        elif self.path == "/api/task":
            self._json(HTTPStatus.OK, self.store.next_task())
        elif match := _TRANSCRIPT_PATH.match(self.path):
            self._json(HTTPStatus.OK, {"transcript": self.transcripts.of(match.group(1))})
        elif match := _AUDIO_PATH.match(self.path):
            audio = self.store.audio_file(match.group(1))
            if audio.is_file():
                self._send(HTTPStatus.OK, audio.read_bytes(), "audio/wav")
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such take"})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}"})

    def do_POST(self) -> None:  # http.server's naming
        try:
            body = self._body()
            if self.path == "/api/mos":
                self.store.rate(str(body.get("take")), body.get("rating"))
            elif self.path == "/api/ab":
                self.store.prefer(str(body.get("a")), str(body.get("b")), body.get("preferred"))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}"})
                return
        except RequestError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, {"ok": True})

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise RequestError(f"request body of {length} bytes is too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise RequestError("request body is not JSON") from None
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        return body

    def _json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the base class's name
        log.debug("%s " + format, self.address_string(), *args)
