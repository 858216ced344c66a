"""``voice-daemon say`` end to end, as a subprocess, with the tiny model from VOICE_DAEMON_MODEL__PATH."""

import os
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import write_config
from tests.support.daemonproc import daemon_command
from tests.support.pulse import PulseServer, active_seconds


def _say(
    *args: str, model: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_DAEMON_", "COQUI_TOS"))}
    if model is not None:
        environment["VOICE_DAEMON_MODEL__PATH"] = str(model)
    environment.update(env or {})
    return subprocess.run(
        daemon_command("say", *args), capture_output=True, text=True, env=environment, timeout=300
    )


def test_say_writes_24khz_speech_from_a_reference_file(
    tiny_model: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "hello.wav"
    done = _say(
        "Hello from the kitchen. The oven is ready.",
        "--voice",
        str(reference),
        "--language",
        "en",
        "--out",
        str(out),
        model=tiny_model,
        env={"VOICE_DAEMON_PATHS__CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr
    info = sf.info(str(out))
    assert info.samplerate == 24_000 and info.channels == 1
    assert info.duration > 1.0
    assert not list(out.parent.glob(".*.tmp")), "temporary file left behind"


def test_say_uses_a_voice_by_name_and_plays_it(tiny_model: Path, home: Path, pulse: PulseServer) -> None:
    config = write_config(home, tiny_model)
    recorder = pulse.record(home / "played.raw")
    done = _say(
        "Dinner is ready.",
        "--voice",
        "default",
        "--play",
        "--out",
        str(home / "o.wav"),
        env={"VOICE_DAEMON_CONFIG": str(config), **pulse.env},
    )
    played = recorder.stop()
    assert done.returncode == 0, done.stderr
    spoken = sf.info(str(home / "o.wav")).duration
    assert active_seconds(played) > 0.8 * spoken  # the sound really came out of the sink


def test_unknown_language_is_a_usage_error(tiny_model: Path, reference: Path) -> None:
    done = _say("Hallo", "--voice", str(reference), "--language", "tlh", model=tiny_model)
    assert done.returncode == 2
    assert "unsupported language 'tlh'" in done.stderr and "zh-cn" in done.stderr


def test_unreadable_reference_fails_with_the_reason(tiny_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "voice.wav"
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    done = _say("Hello", "--voice", str(broken), "--out", str(tmp_path / "o.wav"), model=tiny_model)
    assert done.returncode == 1
    assert "reference audio rejected" in done.stderr and "not a readable" in done.stderr
    assert not (tmp_path / "o.wav").exists()


def test_rejected_reference_gives_the_validation_reason(
    tiny_model: Path, corpus: Path, tmp_path: Path
) -> None:
    short = next(p for p in sorted(corpus.glob("*/*.flac")) if sf.info(str(p)).duration < 3)
    done = _say("Hello", "--voice", str(short), "--out", str(tmp_path / "o.wav"), model=tiny_model)
    assert done.returncode == 1
    assert "too short" in done.stderr


def test_unknown_voice_name_lists_the_available_ones(tiny_model: Path, home: Path) -> None:
    config = write_config(home, tiny_model)
    done = _say(
        "Hello", "--voice", "nobody", "--out", str(home / "o.wav"), env={"VOICE_DAEMON_CONFIG": str(config)}
    )
    assert done.returncode == 2
    assert "unknown voice 'nobody' (available: default)" in done.stderr


def test_missing_model_says_which_files_to_put_where(tmp_path: Path, reference: Path) -> None:
    done = _say(
        "Hello", "--voice", str(reference), "--out", str(tmp_path / "o.wav"), model=tmp_path / "nomodel"
    )
    assert done.returncode == 1
    for fragment in ("config.json", "model.pth", "vocab.json", str(tmp_path / "nomodel"), "accept_license"):
        assert fragment in done.stderr


@pytest.mark.timeout(120)
def test_accepted_license_without_network_stops_with_one_clear_message(
    tmp_path: Path, reference: Path
) -> None:
    done = _say(
        "Hello",
        "--voice",
        str(reference),
        "--out",
        str(tmp_path / "o.wav"),
        model=tmp_path / "nomodel",
        env={
            "COQUI_TOS_AGREED": "1",
            "HF_ENDPOINT": "http://127.0.0.1:9",
            "VOICE_DAEMON_PATHS__CACHE": str(tmp_path),
        },
    )
    assert done.returncode == 1
    assert "could not download XTTS v2" in done.stderr
    assert f"copy config.json, model.pth, vocab.json of XTTS v2 into {tmp_path / 'nomodel'}" in done.stderr
    assert "Traceback" not in done.stderr
