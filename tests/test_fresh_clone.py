"""A fresh clone, with nothing of ours beside it, finds all its test data inside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(not (REPO / ".git").exists() or not shutil.which("git"), reason="not a git checkout")
def test_a_clone_in_an_empty_folder_passes_a_corpus_test(tmp_path: Path) -> None:
    """Clone the committed tree into an empty folder and run corpus-using tests there.

    A test that reads data from outside the repository (``../shared``, a home folder) or data
    that was never committed fails here, where nothing of ours exists beside the clone.
    """
    clone = tmp_path / "empty" / "voice-daemon"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True, timeout=120)
    assert not (clone.parent.parent / "shared").exists() and sorted(os.listdir(clone.parent)) == [
        "voice-daemon"
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_DAEMON_")}
    env["PYTHONPATH"] = str(clone)  # the clone's package, not the checkout the venv points at
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            "tests/test_validation.py",
            "tests/test_similarity.py",
            "-k",
            "every_corpus_clip or encoder_separates_the_corpus_speakers",
        ],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout, result.stdout[-2000:]
