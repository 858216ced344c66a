"""The code's own checks: ruff's formatter and linter (rules in pyproject.toml) and mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize(
    "command",
    [("ruff", "format", "--check", "--diff", "voice_daemon", "tests"), ("ruff", "check", "voice_daemon", "tests")],
    ids=["ruff-format", "ruff-check"],
)
def test_ruff(command: tuple[str, ...]) -> None:
    result = _run(*command)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_formatter_escapes() -> None:
    """Code is laid out by the formatter alone: no `# fmt: skip` / `# fmt: off` anywhere."""
    marker = "# fmt: " + "skip"
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in ("voice_daemon", "tests")
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marker in line or "# fmt: off" in line
    ]
    assert not offenders, f"formatter escapes: {offenders}"
