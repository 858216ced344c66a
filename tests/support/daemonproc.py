"""Running ``voice-daemon run`` as a real subprocess, with a notify socket standing in for systemd."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from voice_daemon.bench.daemonrun import NotifySocket


def daemon_command(*args: str) -> list[str]:
    """The command line of ``voice-daemon`` run from this checkout's interpreter."""
    return [sys.executable, "-m", "voice_daemon", *args]


class DaemonProcess:
    """``voice-daemon --config CONFIG run`` with its log in ``log_path``."""

    def __init__(
        self, config: Path, workdir: Path, env: dict[str, str] | None = None, program: list[str] | None = None
    ) -> None:
        self.config = config
        self.log_path = workdir / f"daemon-{time.monotonic_ns()}.log"
        self.notify = NotifySocket(workdir / f"notify-{time.monotonic_ns()}.sock")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_DAEMON_")}
        environment.update({"NOTIFY_SOCKET": str(self.notify.path), "PYTHONUNBUFFERED": "1", **(env or {})})
        self._log = self.log_path.open("w")
        # ``program`` replaces ``python -m voice_daemon``: e.g. with an audit hook, or under unshare.
        command = [*(program or daemon_command()), "--config", str(config), "run"]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=environment)

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds until READY=1 arrived; fails if the process died first."""
        started = time.monotonic()
        wait_until(
            lambda: self.notify.seen("READY", "1") or self.process.poll() is not None,
            timeout,
            lambda: f"no READY=1 within {timeout} s; log:\n{self.log()}",
        )
        assert self.process.poll() is None, f"daemon exited with {self.process.returncode}:\n{self.log()}"
        return self.notify.seen("READY", "1")[0] - started

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)
        self._close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _close(self) -> None:
        self._log.close()
        self.notify.close()


def wait_until(
    condition: Callable[[], object], timeout: float, message: Callable[[], str] | str = "timed out"
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(0.05)


FAST = """
[output]
mode = "file"
[inbox]
settle_seconds = 0.2
rescan_seconds = 2
"""

StartDaemon = Callable[..., DaemonProcess]


def drop(home: Path, name: str, content: str) -> Path:
    """Write a request file the way a careful client does: temporary name, then rename."""
    temporary = home / "inbox" / f".{name}.part"
    temporary.write_text(content, encoding="utf-8")
    return temporary.rename(home / "inbox" / name)


def wait_filed(home: Path, name: str, timeout: float = 60) -> str:
    """Wait until ``name`` reached inbox/done or inbox/failed; returns which."""

    def where() -> str | None:
        for folder in ("done", "failed"):
            if (home / "inbox" / folder / name).exists():
                return folder
        return None

    wait_until(where, timeout, f"{name} was not processed within {timeout} s")
    return where() or ""


def outcome(home: Path, request_id: str) -> dict:
    return json.loads((home / "spool" / "done" / f"{request_id}.json").read_text())


def http_url(daemon: DaemonProcess) -> str:
    """The daemon's HTTP address, from its log (``port = 0`` picks a free one)."""
    wait_until(
        lambda: "HTTP API on http://" in daemon.log(), 60, lambda: f"no HTTP API in the log:\n{daemon.log()}"
    )
    found = re.search(r"HTTP API on (http://\S+/) ", daemon.log())
    assert found is not None
    return found.group(1)
