"""The life of a connection-bound source (HTTP, Wyoming): open early, attach the seam, start, stop.

Such a source listens before the model loads, so a client is told "starting, try again" rather
than refused a connection; it takes requests only once started, and says "stopping" once
stopped.  :class:`ConnectionSource` keeps that state; a subclass only listens, and closes.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Literal, Self

from voice_daemon.core.port import SourcePort

log = logging.getLogger(__name__)

Phase = Literal["starting", "ready", "stopping"]


class ConnectionSource(ABC):
    """:meth:`open` it early, :meth:`attach` the seam, then :meth:`start` it with the other sources."""

    name = "source"  # in log messages

    def __init__(self) -> None:
        self.seam: SourcePort | None = None  # None until started, and again once stopping
        self.state: Phase = "starting"
        self._attached: SourcePort | None = None

    @property
    def address(self) -> str:
        """Where it listens (once open)."""
        return ""

    def open(self) -> None:
        """Listen now (ConfigError when the address cannot be had); answers "starting" until started."""
        self._listen()
        log.info("%s on %s; starting", self.name, self.address)

    def attach(self, seam: SourcePort) -> Self:
        """The seam requests will go to (once started)."""
        self._attached = seam
        self._attaching(seam)
        return self

    def start(self) -> None:
        """Take requests."""
        if self._attached is None:
            raise RuntimeError(f"{self.name}: attach the seam before starting")
        self._starting(self._attached)
        self.seam, self.state = self._attached, "ready"
        log.info("%s ready on %s", self.name, self.address)

    def stop(self) -> None:
        """Refuse new requests ("stopping") and close."""
        self.seam, self.state = None, "stopping"
        self._close()

    def not_ready_reason(self) -> str:
        """Why requests are refused now, in words (while there is no seam)."""
        why = "starting (loading the model)" if self.state == "starting" else self.state
        return f"the daemon is {why}; try again shortly"

    # -- what a subclass provides

    @abstractmethod
    def _listen(self) -> None:
        """Start listening (ConfigError when the address cannot be had)."""

    @abstractmethod
    def _close(self) -> None:
        """Stop listening and end the connections."""

    def _attaching(self, seam: SourcePort) -> None:  # noqa: B027 -- an optional hook: overridden where needed
        """Take what is needed from ``seam`` (its limits)."""

    def _starting(self, seam: SourcePort) -> None:  # noqa: B027 -- an optional hook: overridden where needed
        """Anything to do just before requests are taken (subscribe, announce)."""
