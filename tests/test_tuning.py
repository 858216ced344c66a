"""``voice-daemon tune``: candidates, the settings file, and a restarted daemon that uses it."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import clips_of, write_config
from tests.support.daemonproc import StartDaemon, daemon_command, drop, wait_filed
from voice_daemon.quality.ratings import RatingStore
from voice_daemon.quality.tuning import GRID, Tuner, candidates
from voice_daemon.synthesis.types import SamplingParams
from voice_daemon.voices.latents import LatentsCache
from voice_daemon.voices.registry import VoiceRegistry


@pytest.fixture
def anna(home: Path, corpus: Path) -> Path:
    """Voice 'anna': a folder of three good clips of speaker 533."""
    folder = home / "voices" / "anna"
    folder.mkdir()
    for path in [p for p in clips_of(corpus, "533") if p.stat().st_size > 150_000][:3]:
        shutil.copy(path, folder)
    return folder


def test_candidates_start_with_the_current_settings_and_differ(anna: Path, home: Path) -> None:
    registry = VoiceRegistry(home / "voices", LatentsCache(home / "cache"))
    registry.scan()
    voice = registry.get("anna")
    found = candidates(voice, SamplingParams(temperature=0.7), 12, random.Random(0))
    assert len(found) == 12
    assert found[0].clips == tuple(p.name for p in voice.files) and found[0].sampling["temperature"] == 0.7
    assert len({json.dumps(c.settings(), sort_keys=True) for c in found}) == 12
    assert {len(c.clips) for c in found} > {3}  # clip subsets are tried too
    assert all(c.sampling[key] in values for c in found[1:] for key, values in GRID.items())


def test_registry_applies_a_tuned_clip_subset(anna: Path, home: Path) -> None:
    names = sorted(p.name for p in anna.iterdir())
    settings = home / "voices" / "anna.settings.json"
    settings.write_text(json.dumps({"clips": names[:1], "sampling": {"top_k": 20}}))
    registry = VoiceRegistry(home / "voices", LatentsCache(home / "cache"))
    registry.scan()
    voice = registry.get("anna")
    assert [p.name for p in voice.files] == names[:1] and len(voice.usable) == 3
    assert voice.describe_tuning() == f"top_k=20, clips={names[0]}"
    settings.write_text(json.dumps({"clips": ["gone.flac"]}))
    assert [p.name for p in registry.refresh("anna").files] == names  # type: ignore[union-attr]
    settings.write_text(json.dumps({"sampling": {"temperature": "hot"}}))
    assert registry.refresh("anna").sampling == {}  # type: ignore[union-attr]


def test_human_ratings_count_in_the_next_tuning(anna: Path, home: Path, engine) -> None:
    registry = VoiceRegistry(home / "voices", LatentsCache(home / "cache"), engine)
    registry.scan()
    store = RatingStore(home / "cache" / "ratings.sqlite")
    tuner = Tuner(engine, registry, SamplingParams(), store)
    first = tuner.run(registry.get("anna"), ["Hi."], "en", 2, seed=1)
    assert all(result.human is None for result in first) and len(store.takes("anna")) == 2
    loser = first[-1].candidate
    for take in store.takes("anna"):
        store.rate(take.id, 5 if take.settings == loser.settings() else 1)
    again = {
        json.dumps(r.candidate.settings()): r
        for r in tuner.run(registry.get("anna"), ["Hi."], "en", 2, seed=1)
    }
    assert again[json.dumps(loser.settings())].human == 1.0
    assert [r.human for r in again.values()].count(0.0) == 1


def test_tune_writes_settings_that_a_restarted_daemon_uses(
    anna: Path, home: Path, tiny_model: Path, start_daemon: StartDaemon
) -> None:
    config = write_config(home, tiny_model)
    done = subprocess.run(
        [*tune_command(config), "anna", "--text", "Hello there.", "--candidates", "3", "--seed", "4"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    written = home / "voices" / "anna.settings.json"
    assert done.stdout.splitlines()[-1] == str(written)
    tuned = json.loads(written.read_text())
    assert tuned["tuned"]["candidates"] == 3 and len(tuned["tuned"]["scores"]) == 3
    assert tuned["tuned"]["scores"] == sorted(tuned["tuned"]["scores"], reverse=True)
    SamplingParams(**tuned["sampling"])  # valid settings
    clips = tuned.get("clips", sorted(p.name for p in anna.iterdir()))

    daemon = start_daemon()
    log = daemon.log()
    assert f"voice anna ready ({len(clips)} clip(s)); tuned settings: " in log
    for key, value in tuned["sampling"].items():
        assert f"{key}={value}" in log
    assert "computing latents of voice anna" not in log  # tune left the chosen clips' latents in the cache
    drop(home, "hi.json", json.dumps({"text": "Hello there.", "voice": "anna"}))
    assert wait_filed(home, "hi.json") == "done"
    assert (home / "cache" / "ratings.sqlite").exists()  # the candidates' takes wait for listeners


def test_tune_rejects_an_unknown_voice(home: Path, tiny_model: Path) -> None:
    config = write_config(home, tiny_model)
    done = subprocess.run([*tune_command(config), "ghost"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "unknown voice 'ghost'" in done.stderr


def tune_command(config: Path) -> list[str]:
    return daemon_command("--config", str(config), "--log-level", "INFO", "tune")
