"""The voice registry and ``voice-daemon voices``, on real recordings."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import clip_longer_than, write_config
from tests.support.daemonproc import daemon_command
from voice_daemon.errors import UnknownVoice
from voice_daemon.voices.latents import LatentsCache
from voice_daemon.voices.registry import VoiceRegistry, voice_name_of


@pytest.fixture
def voices(home: Path, corpus: Path) -> Path:
    folder = home / "voices"
    shutil.copy(clip_longer_than(corpus, "533", 8), folder / "anna.flac")
    (folder / "team").mkdir()
    clips = sorted((corpus / "2414").glob("*.flac"), key=lambda p: sf.info(str(p)).duration)
    for clip in [clips[0], clips[-1], clips[-2]]:  # one too short, two good
        shutil.copy(clip, folder / "team")
    (folder / "noise.wav").write_bytes(b"junk")
    (folder / "bad name.flac").write_bytes((folder / "anna.flac").read_bytes())
    return folder


def test_scan_validates_files_and_folders(voices: Path, home: Path) -> None:
    registry = VoiceRegistry(voices, LatentsCache(home / "cache"))
    registry.scan()
    status = {voice.name: voice.status for voice in registry.all()}
    assert status["anna"] in ("ok", "warning") and status["default"] in ("ok", "warning")
    team = registry.get("team")
    assert team.status == "warning" and len(team.files) == 2
    assert any("clip not used" in warning and "too short" in warning for warning in team.warnings)
    assert status["noise"] == "rejected"
    assert "bad name" not in status  # not a valid voice name: never a voice
    assert registry.names() == ["anna", "default", "team"]
    assert "not a readable" in (voices / "noise.error.txt").read_text()
    with pytest.raises(UnknownVoice, match="voice 'noise' is rejected"):
        registry.get("noise")
    with pytest.raises(UnknownVoice, match=r"unknown voice 'nobody' \(available: anna, default, team\)"):
        registry.get("nobody")


def test_names_never_resolve_to_paths(voices: Path) -> None:
    assert voice_name_of(voices, voices / "anna.flac") == "anna"
    assert voice_name_of(voices, voices / "team" / "x.flac") == "team"
    assert voice_name_of(voices, voices / "team" / "deeper" / "x.flac") is None
    assert voice_name_of(voices, voices.parent / "elsewhere.flac") is None
    registry = VoiceRegistry(voices, LatentsCache(voices.parent / "cache"))
    assert registry.refresh("../voices/anna") is None and registry.refresh("/etc/passwd") is None


def test_tuned_settings_are_read_from_the_voice_metadata(voices: Path, home: Path) -> None:
    (voices / "anna.settings.json").write_text(json.dumps({"sampling": {"temperature": 0.5}}))
    registry = VoiceRegistry(voices, LatentsCache(home / "cache"))
    registry.scan()
    assert registry.get("anna").sampling == {"temperature": 0.5}


def test_voices_command_lists_status_and_reasons(voices: Path, home: Path, tiny_model: Path) -> None:
    config = write_config(home, tiny_model)
    done = subprocess.run(
        daemon_command("--config", str(config), "voices", "--json"), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert listed["noise"]["status"] == "rejected" and listed["noise"]["problems"]
    assert listed["team"]["files"] and listed["anna"]["status"] in ("ok", "warning")
    text = subprocess.run(
        daemon_command("--config", str(config), "voices"), capture_output=True, text=True
    ).stdout
    assert "noise" in text and "rejected" in text and "not a readable" in text
