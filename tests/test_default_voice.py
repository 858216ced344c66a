"""The default voice is chosen through the seam (MQTT's select, Home Assistant) and kept across restarts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import clip_longer_than
from voice_daemon.core.state import DefaultVoice
from voice_daemon.errors import UnknownVoice
from voice_daemon.voices.latents import LatentsCache
from voice_daemon.voices.registry import VoiceRegistry


def test_a_chosen_default_voice_is_kept_across_restarts_and_an_unknown_one_is_refused(
    tmp_path: Path, corpus: Path
) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    shutil.copy(clip_longer_than(corpus, "3080", 8), voices / "anna.flac")
    shutil.copy(clip_longer_than(corpus, "367", 8), voices / "default.flac")
    registry = VoiceRegistry(voices, LatentsCache(tmp_path / "latents"))
    registry.scan()
    state_file = tmp_path / "cache" / "default_voice"
    state_file.parent.mkdir()
    chosen = DefaultVoice("default", state_file, registry)
    chosen.choose("anna")
    with pytest.raises(UnknownVoice, match="unknown voice 'nobody'"):
        chosen.choose("nobody")
    assert chosen.resolve() == "anna" and state_file.read_text().strip() == "anna"
    restarted = DefaultVoice("default", state_file, registry)
    restarted.restore()
    assert restarted.resolve() == "anna"
