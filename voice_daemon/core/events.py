"""What the core tells the sources: request life-cycle events and state changes, and their bus.

An :class:`Event` is one step of one request (``queued``, ``started``, ``done``, ``failed``), or
the refusal (``failed``) of a payload that never became a request.  A :class:`Changed` says
that part of the daemon's state changed (the voices, the default voice).  Subscribers run on
the publisher's thread and must be quick; an exception in one is logged and never reaches the
publisher or the other subscribers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from voice_daemon.core.request import SpeechRequest, new_id, usable_id
from voice_daemon.errors import RequestError, VoiceDaemonError

log = logging.getLogger(__name__)

State = Literal["queued", "started", "done", "failed"]


@dataclass(frozen=True)
class Event:
    """One step of one request; ``data`` holds the file name, durations or the error.

    ``request`` is None for a refused payload; ``context`` is the source's reply data either way
    (the drop-folder file, Hermes ids).
    """

    state: State
    id: str
    source: str
    data: dict[str, Any] = field(default_factory=dict)
    request: SpeechRequest | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, state: State, request: SpeechRequest, data: dict[str, Any] | None = None) -> Event:
        """An event of ``request``."""
        return cls(state, request.id, request.source, data or {}, request, request.context)

    @classmethod
    def refusal(
        cls,
        error: VoiceDaemonError | str,
        *,
        request: SpeechRequest | None = None,
        source: str = "",
        request_id: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Event:
        """The one 'failed' event that answers a refused request, or a payload that never became one.

        Its data: ``error`` (the message), ``code`` (the error class's stable code) and, for a
        RequestError naming one, ``field``.  Without ``request`` the event's id is ``request_id``,
        else the id a RequestError found in the payload, when either is well formed; else a new one.
        """
        data: dict[str, Any] = {"error": str(error), "code": getattr(error, "code", VoiceDaemonError.code)}
        if isinstance(error, RequestError) and error.field is not None:
            data["field"] = error.field
        if request is not None:
            return cls.of("failed", request, data)
        own = usable_id(request_id) or usable_id(getattr(error, "request_id", None))
        return cls("failed", own or new_id(), source, data, context=context or {})

    @property
    def speaks(self) -> bool:
        """The request plays on the speakers."""
        return self.request is not None and self.request.output in ("play", "both")

    @property
    def final(self) -> bool:
        return self.state in ("done", "failed")

    def payload(self) -> dict[str, Any]:
        """The JSON-ready form used by MQTT and logs."""
        return {
            "id": self.id,
            "state": self.state,
            "source": self.source,
            "at": round(self.at, 3),
            **self.data,
        }


@dataclass(frozen=True)
class Changed:
    """Part of the daemon's state changed; ask the seam for the new state."""

    what: Literal["voices", "default_voice"]


Notice = Event | Changed
Subscriber = Callable[[Notice], None]


class EventBus:
    """Synchronous publish/subscribe for :data:`Notice`."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def publish(self, notice: Notice) -> None:
        if isinstance(notice, Event):
            error = notice.data.get("error")
            log.log(
                logging.WARNING if notice.state == "failed" else logging.INFO,
                "request %s %s%s",
                notice.id,
                notice.state,
                f": {error}" if error else "",
            )
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(notice)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, notice)
