"""Request life-cycle events (queued, started, done, failed) and the bus that delivers them.

Sources subscribe to learn how their requests ended (the drop folder moves files, MQTT
publishes them).  Subscribers run on the publisher's thread and must be quick; an exception in
one is logged and never reaches the publisher or the other subscribers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .request import SpeechRequest

log = logging.getLogger(__name__)

State = Literal["queued", "started", "done", "failed"]


@dataclass(frozen=True)
class Event:
    """One step of one request; ``data`` holds the file name, durations or the error."""

    state: State
    request: SpeechRequest
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    @property
    def id(self) -> str:
        return self.request.id

    def payload(self) -> dict[str, Any]:
        """The JSON-ready form used by MQTT and logs."""
        return {"id": self.id, "state": self.state, "source": self.request.source, "at": round(self.at, 3), **self.data}


Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe for :class:`Event`."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        log.log(logging.WARNING if event.state == "failed" else logging.INFO, "request %s %s%s", event.id,
                event.state, f": {event.data['error']}" if "error" in event.data else "")  # fmt: skip
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, event.state)
