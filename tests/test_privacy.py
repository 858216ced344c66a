"""Nothing leaves the machine: no network connection besides the configured MQTT broker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemonproc import FAST, StartDaemon, drop, wait_filed

AUDITED = """
import os, runpy, socket, sys
log = open(os.environ["NET_AUDIT_LOG"], "a", buffering=1)
INET = (socket.AF_INET, socket.AF_INET6)
def hook(event, args):
    if event in ("socket.connect", "socket.sendto") and args[0].family in INET:
        log.write(f"{event} {args[1]!r}\\n")
    elif event == "socket.bind" and args[0].family in INET and args[1][0] not in ("127.0.0.1", "::1"):
        log.write(f"{event} {args[1]!r}\\n")  # urllib3 probes IPv6 by binding ::1 port 0: local only
    elif event == "socket.getaddrinfo":
        log.write(f"{event} {args[0]!r}\\n")
sys.addaudithook(hook)
sys.argv = ["voice-daemon", *sys.argv[1:]]
runpy.run_module("voice_daemon", run_name="__main__", alter_sys=True)
"""


def test_no_network_activity_while_serving(start_daemon: StartDaemon, home: Path) -> None:
    audit = home / "network.log"
    audit.touch()
    daemon = start_daemon(env={"NET_AUDIT_LOG": str(audit)}, program=[sys.executable, "-c", AUDITED])
    drop(home, "private.json", json.dumps({"text": "This stays at home.", "output": "both"}))
    assert wait_filed(home, "private.json") == "done"
    assert daemon.stop() == 0
    assert audit.read_text() == "", f"network activity: {audit.read_text()}"


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare to cut the network off")
def test_works_with_networking_cut_off(start_daemon: StartDaemon, home: Path) -> None:
    daemon = start_daemon(FAST, program=["unshare", "-n", sys.executable, "-m", "voice_daemon"])
    drop(home, "offline.txt", "No network, no problem.")
    assert wait_filed(home, "offline.txt") == "done"
    assert daemon.stop() == 0
