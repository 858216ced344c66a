"""``voice-daemon run`` as a subprocess in a scratch folder, driven the way a client drives it.

Also the sd_notify listener that stands in for systemd here and in the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

VOICE = Path(__file__).resolve().parents[2] / "voices" / "default.flac"
_FOLDERS = ("voices", "inbox", "output", "cache", "spool")


class NotifySocket:
    """An AF_UNIX datagram socket collecting sd_notify messages, as systemd would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.2)
        self._closed = threading.Event()
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._socket.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def seen(self, key: str, value: str | None = None) -> list[float]:
        """Arrival times (``time.monotonic``) of the messages that set ``key`` (to ``value``)."""
        return [at for at, fields in list(self.messages) if key in fields and value in (None, fields[key])]

    def close(self) -> None:
        self._closed.set()
        self._socket.close()


class BenchDaemon:
    """The daemon with its own voices/, inbox/, cache/ and spool/ under ``home``.

    ``repo``: run the daemon's code from that checkout (its folder first on ``PYTHONPATH``) instead of
    the one this module was imported from, e.g. to measure an older commit side by side.
    """

    def __init__(
        self,
        home: Path,
        model: Path,
        config: str = "",
        env: dict[str, str] | None = None,
        threads: int = 0,
        repo: Path | None = None,
    ) -> None:
        self.home, self.repo = home, repo
        for folder in _FOLDERS:
            (home / folder).mkdir(parents=True, exist_ok=True)
        if not (home / "voices" / "default.flac").exists():
            shutil.copy(VOICE, home / "voices" / "default.flac")
        folders = "".join(f'{name} = "{name}"\n' for name in _FOLDERS)
        self.config = home / "config.toml"
        self.config.write_text(
            f'[model]\npath = "{model}"\ndevice = "cpu"\nthreads = {threads}\n'
            f'[paths]\nbase = "{home}"\n{folders}'
            f"[inbox]\nsettle_seconds = 0\nrescan_seconds = 5\n{config}\n",
            encoding="utf-8",
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_DAEMON_")} | (env or {})
        if repo is not None:
            self.env["PYTHONPATH"] = str(repo.resolve())
        self.process: subprocess.Popen[bytes] | None = None
        self._notify: NotifySocket | None = None

    def start(self, timeout: float = 600) -> float:
        """Start and wait for READY=1; returns the seconds from launch to READY=1."""
        self._notify = notify = NotifySocket(self.home / f"notify-{uuid.uuid4().hex[:8]}.sock")
        with (self.home / "daemon.log").open("ab") as log:
            started = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "voice_daemon", "--config", str(self.config), "run"],
                env={**self.env, "NOTIFY_SOCKET": str(notify.path)},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.repo,
            )
        while not notify.seen("READY", "1"):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"daemon exited with {self.process.returncode}; see {self.home / 'daemon.log'}"
                )
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"no READY=1 within {timeout} s")
            time.sleep(0.01)
        return notify.seen("READY", "1")[0] - started

    def submit(self, text: str, **fields: Any) -> str:
        """Drop a request into the inbox (temporary name, then rename); returns its id."""
        request_id = uuid.uuid4().hex
        temporary = self.home / "inbox" / f".{request_id}.part"
        temporary.write_text(json.dumps({"id": request_id, "text": text, **fields}), encoding="utf-8")
        temporary.rename(self.home / "inbox" / f"{request_id}.json")
        return request_id

    def outcome(self, request_id: str, timeout: float = 600) -> dict[str, Any]:
        """The recorded outcome of a request, once it is finished."""
        path = self.home / "spool" / "done" / f"{request_id}.json"
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"request {request_id} not finished within {timeout} s")
            time.sleep(0.02)
        outcome: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return outcome

    def rss_mib(self, peak: bool = False) -> float:
        """Resident memory of the daemon process (``peak``: the most it has had, VmHWM)."""
        assert self.process is not None
        status, key = Path(f"/proc/{self.process.pid}/status").read_text(), "VmHWM:" if peak else "VmRSS:"
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith(key))
        return kib / 1024

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(120)
        if self._notify is not None:
            self._notify.close()
            self._notify.path.unlink(missing_ok=True)
            self._notify = None
