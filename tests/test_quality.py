"""The automated quality score: real speech, damaged copies of it, and tiny-model takes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import clip_longer_than, clips_of, write_config
from tests.support.daemonproc import daemon_command
from voice_daemon.audio import Clip, decode
from voice_daemon.quality.score import expected_seconds, measure, score_take
from voice_daemon.quality.similarity import embed_voice
from voice_daemon.synthesis.types import SAMPLE_RATE

FILLER = "the quick brown fox jumps over the lazy dog " * 20


@pytest.fixture(scope="module")
def take(corpus: Path) -> Clip:
    """A real 10 s utterance of speaker 367 standing in for a good take."""
    return decode(clip_longer_than(corpus, "367", 10))


@pytest.fixture(scope="module")
def voice(corpus: Path, take: Clip) -> np.ndarray:
    """Voice 367 made of its other clips."""
    return embed_voice([decode(p) for p in clips_of(corpus, "367") if decode(p).seconds < 10][:4])


def text_for(clip: Clip) -> str:
    """Text whose expected duration matches the clip's speech."""
    return FILLER[: int(measure(clip).speech_seconds * 15)]


def names_and_reasons(clip: Clip, voice: np.ndarray | None, text: str | None) -> tuple[float, str]:
    report = score_take(clip, voice, text)
    return report.score, " | ".join(report.reasons)


def test_real_speech_of_the_voice_scores_high(take: Clip, voice: np.ndarray) -> None:
    report = score_take(take, voice, text_for(take))
    assert report.score > 0.8, report.reasons
    assert [c.name for c in report.components] == [
        "similarity",
        "duration",
        "silence",
        "ending",
        "clipping",
        "loudness",
    ]
    assert report.to_dict()["components"]["loudness"]["unit"] == "dBFS"


def test_another_speaker_fails_on_similarity(corpus: Path, voice: np.ndarray) -> None:
    score, reasons = names_and_reasons(decode(clip_longer_than(corpus, "2033", 8)), voice, None)
    assert score < 0.5 and "does not sound like the voice" in reasons


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda s, r: s[: int(0.4 * len(s))], "too short for the text (truncated?)"),
        (lambda s, r: np.tile(s, 3), "too long for the text (runaway generation?)"),
        (
            lambda s, r: np.concatenate([s[: len(s) // 2], np.zeros(4 * r, np.float32), s[len(s) // 2 :]]),
            "a pause of",
        ),
        (lambda s, r: np.concatenate([np.zeros(4 * r, np.float32), s]), "of silence at the start"),
        (lambda s, r: np.clip(s * 30, -1, 1), "clipped:"),
        (lambda s, r: s * 0.003, "too quiet"),
        (lambda s, r: np.zeros_like(s), "the take is silent"),
    ],
    ids=["truncated", "runaway", "pause", "leading-silence", "clipped", "quiet", "silent"],
)
def test_damaged_takes_fail_with_their_reason(take: Clip, voice: np.ndarray, damage, reason: str) -> None:
    damaged = Clip(damage(take.samples, take.sample_rate).astype(np.float32), take.sample_rate)
    score, reasons = names_and_reasons(damaged, voice, text_for(take))
    assert score < 0.5 and reason in reasons, (score, reasons)


def test_expected_duration_follows_language_and_speed() -> None:
    assert expected_seconds("a" * 150) == pytest.approx(10.0)
    assert expected_seconds("a" * 150, speed=1.5) == pytest.approx(10.0 / 1.5)
    assert expected_seconds("你" * 45, "zh-cn") == pytest.approx(10.0)


def test_tiny_model_takes_are_scored(engine, reference: Path) -> None:
    latents = engine.conditioning([decode(reference)])
    text = "Someone is at the front door."
    audio = engine.synthesize(text, "en", latents, seed=3)
    report = score_take(Clip(audio, SAMPLE_RATE), embed_voice([decode(reference)]), text)
    assert 0 <= report.score < 0.5
    assert {c.name for c in report.components} == {
        "similarity",
        "duration",
        "silence",
        "ending",
        "clipping",
        "loudness",
    }
    assert any("does not sound like the voice" in reason for reason in report.reasons)


def test_score_command(home: Path, tiny_model: Path, take: Clip, corpus: Path) -> None:
    config = write_config(home, tiny_model)
    audio = home / "take.wav"
    sf.write(audio, take.samples[: int(0.4 * len(take.samples))], take.sample_rate)
    done = subprocess.run(
        daemon_command(
            "--config",
            str(config),
            "score",
            "--voice",
            "default",
            str(audio),
            "--text",
            text_for(take),
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["score"] < 0.5 and any("truncated" in reason for reason in report["reasons"])
    assert report["components"]["similarity"]["value"] > 0.75  # the voice 'default' is speaker 367 too
    unknown = subprocess.run(
        daemon_command("--config", str(config), "score", "--voice", "ghost", str(audio)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert unknown.returncode == 2 and "unknown voice 'ghost'" in unknown.stderr
