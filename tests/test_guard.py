"""The quality guard: a take below quality.min_score is made again with a new seed; the best is used."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import clips_of
from tests.support.daemonproc import FAST, StartDaemon, drop, outcome, wait_filed
from voice_daemon.audio import Clip, decode, resample
from voice_daemon.quality.guard import QualityGuard
from voice_daemon.quality.score import measure, score_take
from voice_daemon.quality.similarity import embed_voice
from voice_daemon.settings import QualitySettings
from voice_daemon.voices.registry import Voice

FILLER = "the quick brown fox jumps over the lazy dog " * 20


@pytest.fixture(scope="module")
def latents(engine, reference: Path):
    return engine.conditioning([decode(reference)])


def guard_takes(engine, latents, reference: Path, min_score: float, max_retries: int = 2):
    seeds: list[int | None] = []

    def take(seed: int | None):
        seeds.append(seed)
        return engine.stream("The garage door is open.", "en", latents, seed=seed)

    guard = QualityGuard(QualitySettings(enabled=True, min_score=min_score, max_retries=max_retries))
    rendering = guard.render(
        take, Voice("default", files=(reference,)), "The garage door is open.", "en", 1.0
    )
    audio = np.concatenate(list(rendering.chunks))
    return audio, rendering.facts["quality"], seeds


def test_a_failing_take_is_made_again_and_the_best_is_kept(engine, latents, reference: Path) -> None:
    audio, quality, seeds = guard_takes(engine, latents, reference, min_score=0.99)
    assert quality["takes"] == 3 and len(quality["scores"]) == 3
    assert seeds[0] is None and len(set(seeds[1:])) == 2 and None not in seeds[1:]
    assert quality["score"] == max(quality["scores"]) and quality["reasons"]
    rescored = score_take(Clip(audio, 24_000), embed_voice([decode(reference)]), "The garage door is open.")
    assert rescored.score == quality["score"]


def test_a_passing_take_is_used_at_once(engine, latents, reference: Path) -> None:
    _, quality, seeds = guard_takes(engine, latents, reference, min_score=0.0)
    assert quality["takes"] == 1 and seeds == [None]


def test_the_best_real_take_is_used(corpus: Path, reference: Path) -> None:
    """Real speech stands in for takes: runaway (x3), truncated (40 %), runaway again."""
    clip = decode(reference)
    samples = resample(clip.samples, clip.sample_rate, 24_000)
    speech = Clip(samples, 24_000)
    takes = [np.tile(samples, 3), samples[: int(0.4 * len(samples))], np.tile(samples, 3)]
    text = FILLER[: int(measure(speech).speech_seconds * 15)]
    guard = QualityGuard(QualitySettings(enabled=True, min_score=0.99, max_retries=2))
    voice = Voice("v", files=tuple(p for p in clips_of(corpus, "367") if p != reference)[:4])
    rendering = guard.render(lambda seed: iter([takes.pop(0)]), voice, text, "en", 1.0)
    chosen, quality = list(rendering.chunks), rendering.facts["quality"]
    scores = quality["scores"]
    assert len(scores) == 3 and scores[0] == scores[2] == 0 and quality["score"] == scores[1] > 0
    assert len(chosen[0]) == int(0.4 * len(samples))
    assert any("truncated" in reason for reason in quality["reasons"])


def test_the_daemon_guard_regenerates_and_reports_the_score(start_daemon: StartDaemon, home: Path) -> None:
    unguarded = start_daemon()  # puts the phrase into the audio cache, unscored
    drop(home, "before.json", json.dumps({"text": "The garage door is open.", "id": "before"}))
    assert (
        wait_filed(home, "before.json") == "done" and outcome(home, "before")["data"]["audio_cache"] == "miss"
    )
    assert unguarded.stop() == 0
    daemon = start_daemon(FAST + "[quality]\nenabled = true\nmin_score = 0.9\nmax_retries = 1\n")
    drop(home, "door.json", json.dumps({"text": "The garage door is open.", "id": "door"}))
    assert wait_filed(home, "door.json", 120) == "done"
    data = outcome(home, "door")["data"]
    assert data["audio_cache"] == "miss", "an unscored take from the cache must not bypass the guard"
    quality = data["quality"]
    assert quality["takes"] == 2 and quality["score"] == max(quality["scores"]) < 0.9
    log = daemon.log()
    assert "quality guard on" in log and "request door: take 1 scored" in log and "new take with seed" in log
    assert f"request door: quality {quality['score']:.2f}" in log
    saved = decode(home / "output" / "door.wav")
    assert saved.sample_rate == 24_000 and saved.seconds > 0.5
