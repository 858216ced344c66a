"""The systemd units pass ``systemd-analyze verify`` and match the daemon's configuration."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voice_daemon.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed"
)


def _verify(unit: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    # verify checks that ExecStart exists: point it at this checkout's real executable.
    text = unit.read_text().replace(
        "/opt/voice-daemon/.venv/bin/voice-daemon", str(Path(sys.executable).parent / "voice-daemon")
    )
    copy = tmp_path / unit.name
    copy.write_text(text)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return subprocess.run(
        ["systemd-analyze", *extra, "verify", str(copy)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
    )


@pytest.mark.parametrize(
    ("unit", "flags"), [("voice-daemon.service", ()), ("voice-daemon-user.service", ("--user",))]
)
def test_units_verify_cleanly(unit: str, flags: tuple[str, ...], tmp_path: Path) -> None:
    done = _verify(REPO / "systemd" / unit, tmp_path, *flags)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # unknown keys and bad values are only warnings


def _service(unit: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read(REPO / "systemd" / unit)
    return parser["Service"]


def test_system_unit_is_a_hardened_notify_service() -> None:
    service = _service("voice-daemon.service")
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes"}.items():
        assert service[key] == value
    assert service["User"] == "voice-daemon" and "audio" in service["SupplementaryGroups"]
    assert "MemoryDenyWriteExecute" not in service


def test_every_path_the_daemon_writes_is_writable_under_the_unit() -> None:
    settings = load_settings(REPO / "systemd" / "config.toml")
    writable = [Path(p) for p in _service("voice-daemon.service")["ReadWritePaths"].split()]
    for path in (
        settings.paths.voices,
        settings.paths.inbox,
        settings.paths.output,
        settings.paths.cache,
        settings.paths.spool,
        settings.model.path,
    ):
        assert any(path.is_relative_to(root) for root in writable), path
