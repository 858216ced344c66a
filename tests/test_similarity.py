"""Speaker similarity on real speech (the corpus) and on takes of the tiny model."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import clips_of, write_config
from tests.support.daemonproc import daemon_command
from voice_daemon.audio import Clip, decode
from voice_daemon.quality.similarity import cosine, embed, embed_voice, equal_error_rate
from voice_daemon.synthesis.types import SAMPLE_RATE

SPEAKERS = ("367", "533", "1688", "2609", "3080")  # 3 women, 2 men


@pytest.fixture(scope="module")
def vectors(corpus: Path) -> dict[Path, np.ndarray]:
    """Embeddings of four clips of each of five speakers."""
    return {path: embed(decode(path)) for speaker in SPEAKERS for path in clips_of(corpus, speaker)[:4]}


def test_the_encoder_separates_the_corpus_speakers(vectors: dict[Path, np.ndarray]) -> None:
    same, different = [], []
    for a, b in itertools.combinations(vectors, 2):
        (same if a.parent == b.parent else different).append(cosine(vectors[a], vectors[b]))
    assert len(same) == 30 and len(different) == 160
    assert np.mean(same) > 0.8 > 0.6 > np.mean(different)
    eer, threshold = equal_error_rate(same, different)
    assert eer <= 0.02 and 0.6 < threshold < 0.85


def test_equal_error_rate_finds_the_crossing() -> None:
    assert equal_error_rate([0.8, 0.9, 0.95], [0.1, 0.2, 0.3]) == (0.0, 0.8)
    eer, _ = equal_error_rate([0.1, 0.6, 0.7, 0.8], [0.2, 0.3, 0.4, 0.9])
    assert eer == pytest.approx(0.25)


def test_a_voice_of_several_clips_is_closer_than_single_clips(corpus: Path) -> None:
    clips = clips_of(corpus, "2609")
    voice = embed_voice([decode(path) for path in clips[1:4]])
    assert np.linalg.norm(voice) == pytest.approx(1.0, abs=1e-5)
    held_out = embed(decode(clips[0]))
    assert cosine(voice, held_out) > max(cosine(embed(decode(path)), held_out) for path in clips[1:4]) - 0.02
    assert cosine(voice, embed(decode(clips_of(corpus, "533")[0]))) < 0.75


def test_tiny_model_noise_is_not_the_voice(engine, reference: Path) -> None:
    latents = engine.conditioning([decode(reference)])
    take = engine.synthesize("This is the front door speaking.", "en", latents, seed=1)
    voice = embed_voice([decode(reference)])
    assert cosine(voice, embed(Clip(take, SAMPLE_RATE))) < 0.7


def test_similarity_command_prints_the_number_last(corpus: Path, home: Path, tiny_model: Path) -> None:
    first, second = clips_of(corpus, "3080")[:2]
    stranger = clips_of(corpus, "1688")[0]
    config = write_config(home, tiny_model)
    same = subprocess.run(
        daemon_command("--config", str(config), "similarity", "--xtts", str(first), str(second)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert same.returncode == 0, same.stderr
    assert "XTTS speaker encoder" in same.stdout
    other = subprocess.run(
        daemon_command("similarity", str(first), str(stranger)), capture_output=True, text=True, timeout=300
    )
    assert float(same.stdout.splitlines()[-1]) > 0.75 > float(other.stdout.splitlines()[-1])
    missing = subprocess.run(
        daemon_command("similarity", str(first), str(home / "nope.wav")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1 and "nope.wav: cannot read file" in missing.stderr
