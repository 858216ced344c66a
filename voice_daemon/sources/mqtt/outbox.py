"""The MQTT bridge's outgoing messages: bounded in memory, published from one thread.

Events (``send``) keep their order in a queue of at most ``capacity`` messages; when it is full
(the broker is gone or slower than a flood of refusals) a new event is dropped and counted, and
the count is logged once the queue has room again.  Retained state (``retain``: status, queue
length, last error, voices, discovery) keeps only the latest value of each topic, so a flood of
failures publishes ``last_error`` a few times, not once per failure, and the latest value is
never dropped.  At most ``window`` messages are unacknowledged at a time: paho's own queue stays
small, and its network thread goes back to writing after a short read instead of reading a
whole flood first.  Nothing here blocks the caller, which may be paho's network thread.

Every message of the client but the final ``offline`` goes through here, so the number
unacknowledged is what was published minus what paho reported acknowledged (``on_publish``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

log = logging.getLogger(__name__)

Value = str | Callable[[], str]  # a callable is asked for the value when it is published


class Outbox:
    """Publishes for one paho client.

    :meth:`start` it after the client, :meth:`close` it before disconnecting.
    """

    def __init__(self, client: paho.Client, capacity: int, window: int = 100) -> None:
        self.capacity = capacity
        self.window = window
        self.dropped = 0  # events dropped since start
        self._client = client
        self._events: deque[tuple[str, str]] = deque()
        self._retained: dict[str, Value] = {}
        self._published = self._acknowledged = 0
        self._unreported = 0  # dropped events not logged yet
        self._closing = False
        self._deadline = float("inf")  # when closing: give up on what is left after this
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="mqtt-out", daemon=True)
        client.on_publish = self._on_publish

    def start(self) -> None:
        self._thread.start()

    def send(self, topic: str, payload: str) -> None:
        """Queue an event message (QoS 1, not retained); dropped and counted when the queue is full."""
        with self._changed:
            if self._closing:
                log.debug("not publishing on %s: the bridge is stopping", topic)
                return
            if len(self._events) >= self.capacity:
                self.dropped += 1
                self._unreported += 1
                if self._unreported == 1:
                    log.warning(
                        "MQTT outgoing queue full (%d events): dropping events until it has room",
                        self.capacity,
                    )
                return
            self._events.append((topic, payload))
            self._changed.notify()

    def retain(self, topic: str, value: Value) -> None:
        """Publish ``value`` as the retained state of ``topic``; a newer value replaces one not yet sent."""
        with self._changed:
            if not self._closing:
                self._retained[topic] = value
                self._changed.notify()

    def close(self, timeout: float) -> None:
        """Publish what is queued, for at most ``timeout`` seconds, then stop; later messages are ignored."""
        with self._changed:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout + 1)
        with self._changed:
            left = len(self._events) + len(self._retained)
        if left:
            log.info("stopping with %d MQTT message(s) not published", left)

    # -- the publishing thread ------------------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._next()) is not None:
            for topic, value, retain in batch:
                if not self._wait_for_room():
                    return
                try:
                    payload = value() if callable(value) else value
                    self._client.publish(topic, _wire(payload), qos=1, retain=retain)
                except Exception:  # a bug must cost one message, not every later one
                    log.exception("publishing on %s failed", topic)

    def _next(self) -> list[tuple[str, Value, bool]] | None:
        """The retained values waiting, else the next event; None once closing with nothing left."""
        with self._changed:
            self._changed.wait_for(lambda: self._events or self._retained or self._closing)
            if self._closing and time.monotonic() > self._deadline:
                return None
            if self._retained:
                batch = [(topic, value, True) for topic, value in self._retained.items()]
                self._retained.clear()
                return batch
            if self._events:
                topic, payload = self._events.popleft()
                self._report_drops()
                return [(topic, payload, False)]
            return None

    def _report_drops(self) -> None:
        if self._unreported and len(self._events) < self.capacity // 2:
            log.warning(
                "dropped %d MQTT event(s) while the outgoing queue was full (%d dropped since start)",
                self._unreported,
                self.dropped,
            )
            self._unreported = 0

    def _wait_for_room(self) -> bool:
        """Wait until fewer than ``window`` messages are unacknowledged, then count one more; False
        when the close deadline passed first."""
        with self._changed:
            while self._published - self._acknowledged >= self.window:
                if time.monotonic() > self._deadline:
                    return False
                self._changed.wait(0.5)
            self._published += 1
            return True

    def _on_publish(self, *_args: Any) -> None:
        with self._changed:
            self._acknowledged += 1
            self._changed.notify_all()


def _wire(payload: str) -> bytes:
    """UTF-8 bytes of ``payload``; a character that cannot be encoded is written as an escape."""
    return payload.encode("utf-8", "backslashreplace")
