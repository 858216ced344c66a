"""``voice-daemon batch``: JSONL and CSV in, one file per request out, resumable."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import soundfile as sf

from tests.conftest import write_config
from tests.support.daemonproc import daemon_command, wait_until


def _batch(config: Path, *args: str, **popen: object) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_DAEMON_")}
    return subprocess.run(
        daemon_command("--config", str(config), "batch", *args),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        **popen,
    )


def test_jsonl_batch_reports_failures_and_resumes_without_redoing(home: Path, tiny_model: Path) -> None:
    config = write_config(home, tiny_model)
    rows = [
        {"text": "The post has arrived."},
        {"text": "Die Post ist da.", "language": "de"},
        {"text": "Dinner is ready.", "id": "dinner"},
        "this line is not JSON",
        {"text": "Who am I?", "voice": "stranger"},
        {"text": "Qapla", "language": "tlh"},
    ]
    source = home / "jobs.jsonl"
    source.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    first = _batch(config, str(source))
    assert first.returncode == 1, first.stderr
    assert "6 requests: 3 written, 0 already done, 3 failed" in first.stdout
    assert "row 4: not valid JSON" in first.stdout
    assert "row 5: unknown voice 'stranger'" in first.stdout
    assert "row 6: language: unsupported language 'tlh'" in first.stdout
    assert "request" in first.stderr  # the progress bar
    out = home / "output" / "jobs"
    files = sorted(out.glob("*.wav"))
    assert len(files) == 3 and (out / "dinner.wav") in files
    assert all(sf.info(str(f)).samplerate == 24_000 for f in files)
    stamps = {f: f.stat().st_mtime_ns for f in files}

    second = _batch(config, str(source), "--no-progress")
    assert "6 requests: 0 written, 3 already done, 3 failed" in second.stdout
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    assert "request" not in second.stderr


def test_csv_batch_and_resume_after_an_interruption(home: Path, tiny_model: Path) -> None:
    config = write_config(home, tiny_model)
    source = home / "jobs.csv"
    lines = ["id,text,voice,language"] + [
        f"job{i},Announcement number {i}. It is long enough.,default,en" for i in range(5)
    ]
    source.write_text("\n".join(lines) + "\n")
    out = home / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_DAEMON_")}
    process = subprocess.Popen(
        daemon_command("--config", str(config), "batch", str(source), "--out-dir", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    wait_until(lambda: len(list(out.glob("job*.wav"))) >= 2, 120)
    process.kill()
    process.wait()
    done_before = len(list(out.glob("job*.wav")))
    assert done_before < 5
    resumed = _batch(config, str(source), "--out-dir", str(out))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"5 requests: {5 - done_before} written, {done_before} already done, 0 failed" in resumed.stdout
    assert sorted(p.name for p in out.glob("*.wav")) == [f"job{i}.wav" for i in range(5)]
    assert not list(out.glob(".*.tmp")), "an interrupted write left its temporary file behind"
