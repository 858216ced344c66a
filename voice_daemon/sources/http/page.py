"""The web page at ``/`` (static: plain HTML, CSS and JS, no CDN), its status feed and the health check.

The page holds no data; everything it shows comes from the API through its own ``fetch`` calls,
with the key (when one is set) typed once and kept in the browser's session storage.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from voice_daemon.core.request import LANGUAGES
from voice_daemon.version import __version__

PAGE = Path(__file__).with_name("page.html")
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "media-src 'self' blob:"
    ),
}
_EVENTS_SHOWN = 20


async def index(_request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.read_bytes(), headers=_HEADERS)


async def health(request: Request) -> JSONResponse:
    """200 once the daemon takes requests, 503 while it starts or stops (no key needed)."""
    state = request.app.state.source.state
    ready = state == "ready"
    return JSONResponse({"status": "ok" if ready else state, "version": __version__}, 200 if ready else 503)


async def status(request: Request) -> JSONResponse:
    """The queue, what is being spoken, the default voice, the languages and the last events
    (newest first)."""
    source = request.app.state.source
    state = source.ready_seam().state()
    return JSONResponse(
        {
            "queue_length": state.queue_length,
            "waiting": state.waiting,
            "capacity": state.capacity,
            "interactive_waiting": state.interactive_waiting,
            "speaking": state.speaking,
            "current": state.current,
            "default_voice": state.default_voice,
            "default_voice_note": state.default_voice_note,
            "languages": sorted(LANGUAGES),
            "events": list(source.events)[::-1][:_EVENTS_SHOWN],
        }
    )
