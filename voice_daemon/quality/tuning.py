"""``voice-daemon tune``: find the generation settings under which a voice's takes score best.

Candidates vary which reference clips condition the voice and XTTS's sampling settings.  Each
makes the same texts with the same seeds; takes are scored against the whole voice (and kept in
the listening-test store, so people can rate them).  Where people have rated takes of a
candidate's settings, their judgement counts half.  The winner goes into
``voices/NAME.settings.json``, which the voice registry applies (and the daemon picks up).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.audio import Clip
from voice_daemon.files import replacing
from voice_daemon.quality.ratings import RatingStore, settings_key
from voice_daemon.quality.score import score_take
from voice_daemon.quality.similarity import embed_voice
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.types import SAMPLE_RATE, SamplingParams
from voice_daemon.voices.registry import SETTINGS_SUFFIX, Voice, VoiceRegistry
from voice_daemon.voices.validation import read_reference

log = logging.getLogger(__name__)

DEFAULT_TEXTS = (
    "The washing machine has finished.",
    "Good morning! It is seven o'clock, and the weather today is sunny and mild.",
)
GRID: dict[str, tuple[float, ...]] = {
    "temperature": (0.5, 0.65, 0.75, 0.85),
    "top_p": (0.75, 0.85, 0.95),
    "top_k": (20, 50, 80),
    "repetition_penalty": (2.0, 5.0, 10.0),
}


@dataclass(frozen=True)
class Candidate:
    """One way to make the voice: a subset of its clips and sampling settings."""

    clips: tuple[str, ...]
    sampling: dict[str, Any] = field(hash=False)

    def settings(self) -> dict[str, Any]:
        return {"clips": list(self.clips), "sampling": self.sampling}


@dataclass(frozen=True)
class Result:
    """A candidate's automatic score (mean over its takes) and human judgement (0-1), if any."""

    candidate: Candidate
    auto: float
    human: float | None = None

    @property
    def combined(self) -> float:
        return self.auto if self.human is None else (self.auto + self.human) / 2


def candidates(voice: Voice, base: SamplingParams, count: int, rng: random.Random) -> list[Candidate]:
    """The current settings first, then up to ``count - 1`` distinct random variations."""
    names = tuple(path.name for path in voice.usable)
    subsets = [names] + ([(name,) for name in names] if len(names) > 1 else [])
    subsets += [tuple(n for n in names if n != left_out) for left_out in names] if len(names) > 2 else []
    current = {key: getattr(base, key) for key in GRID}
    found = [Candidate(tuple(path.name for path in voice.files), current)]
    for _ in range(50 * count):
        if len(found) >= count:
            break
        sampling = {key: rng.choice(values) for key, values in GRID.items()}
        candidate = Candidate(rng.choice(subsets), sampling)
        if all(candidate.settings() != other.settings() for other in found):
            found.append(candidate)
    return found


class Tuner:
    """Runs the candidates of one voice through the engine and scores their takes."""

    def __init__(
        self, engine: Engine, registry: VoiceRegistry, base: SamplingParams, store: RatingStore | None
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.base = base
        self.store = store

    def run(self, voice: Voice, texts: list[str], language: str, count: int, seed: int = 0) -> list[Result]:
        """Every candidate's result, best first."""
        reference = embed_voice([read_reference(path) for path in voice.usable])
        base = self.base.model_copy(update=voice.sampling)
        human = self.store.human_scores(voice.name) if self.store else {}
        results = []
        for index, candidate in enumerate(candidates(voice, base, count, random.Random(seed)), 1):
            scores = self._takes(voice, candidate, texts, language, reference, seed)
            result = Result(candidate, float(np.mean(scores)), human.get(settings_key(candidate.settings())))
            log.info(
                "candidate %d of %d: score %.3f%s %s",
                index,
                count,
                result.auto,
                "" if result.human is None else f", human {result.human:.2f}",
                candidate.settings(),
            )
            results.append(result)
        return sorted(results, key=lambda result: result.combined, reverse=True)

    def _takes(
        self,
        voice: Voice,
        candidate: Candidate,
        texts: list[str],
        language: str,
        reference: np.ndarray,
        seed: int,
    ) -> list[float]:
        files = tuple(path for path in voice.usable if path.name in candidate.clips)
        latents = self.registry.latents(Voice(voice.name, files=files))
        params = self.base.model_copy(update=candidate.sampling)
        scores = []
        for offset, text in enumerate(texts):
            take = Clip(
                self.engine.synthesize(text, language, latents, params=params, seed=seed + offset),
                SAMPLE_RATE,
            )
            score = score_take(take, reference, text, language, params.speed).score
            scores.append(score)
            if self.store is not None:
                self.store.add_take(take, voice.name, text, candidate.settings(), score, "tune")
        return scores


def write_settings(voices_dir: Path, voice: Voice, results: list[Result], texts: list[str]) -> Path:
    """Store the best result in ``voices/NAME.settings.json`` (written atomically)."""
    best = results[0]
    data: dict[str, Any] = {"sampling": best.candidate.sampling}
    if len(best.candidate.clips) < len(voice.usable):
        data["clips"] = list(best.candidate.clips)
    data["tuned"] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "score": round(best.auto, 3),
        "human": None if best.human is None else round(best.human, 3),
        "candidates": len(results),
        "texts": texts,
        "scores": [round(result.combined, 3) for result in results],
    }
    path = voices_dir / f"{voice.name}{SETTINGS_SUFFIX}"
    with replacing(path) as handle:
        handle.write((json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return path
