"""The systemd notification protocol (sd_notify): READY, STATUS, WATCHDOG, STOPPING.

Messages are datagrams on the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (``@`` means the
abstract namespace).  Without the variable every call is a no-op, so the daemon runs the same
outside systemd.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages to systemd (or to whatever ``NOTIFY_SOCKET`` names)."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if self._address else None
        self._failing = False  # the last send failed: said once, quiet until it works again

    def send(self, **fields: str | int) -> None:
        """Send ``KEY=value`` lines, e.g. ``send(READY=1, STATUS="ready")``."""
        if self._socket is None or self._address is None:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            if not self._failing:
                log.warning(
                    "sd_notify to %s failed: %s (not repeated until it works again)", self._address, exc
                )
            self._failing = True
        else:
            if self._failing:
                log.info("sd_notify works again")
            self._failing = False

    def ready(self, status: str) -> None:
        self.send(READY=1, STATUS=status, MAINPID=os.getpid())

    def status(self, text: str) -> None:
        self.send(STATUS=text)

    def watchdog(self) -> None:
        self.send(WATCHDOG=1)

    def extend_start(self, seconds: float) -> None:
        """Ask for more start-up time (model download or load) before systemd gives up."""
        self.send(EXTEND_TIMEOUT_USEC=int(seconds * 1_000_000))

    def stopping(self) -> None:
        self.send(STOPPING=1, STATUS="stopping")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of ``$WATCHDOG_USEC``), or None when not asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2
