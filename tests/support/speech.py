"""Speech of known words and sounds that say nothing: the sets behind tests/test_asr.py and
scripts/asr-figures.

Clean: the corpus clips whose LibriSpeech transcripts ship in ``TRANSCRIPTS.TXT``, and espeak-ng
speech of home sentences.  Failing: white and pink noise, near-silence, reversed speech, babble
(four corpus speakers at once) and takes of a random-weight XTTS model.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.audio import Clip, decode, resample

RATE = 24_000
HOME_SENTENCES = (
    "The garage door is open.",
    "Dinner is ready, please come to the kitchen.",
    "The washing machine has finished.",
    "Someone is at the front door.",
    "It will rain this afternoon, take an umbrella.",
    "The living room lights are switched off.",
    "Good morning, it is seven o'clock.",
    "The temperature outside is twelve degrees.",
    "Your parcel has been delivered.",
    "The back door has been open for ten minutes.",
)
NOISE_TEXT = "The garage door is open and the lights in the hall are on."
BABBLE_SPEAKERS = ("533", "1998", "2414", "3005")

Sets = dict[str, tuple[Clip, str]]  # name -> (audio, the text it should say)


def transcripts(corpus: Path) -> dict[Path, str]:
    """The corpus clips whose LibriSpeech transcripts ship in ``TRANSCRIPTS.TXT``."""
    found = {}
    for line in (corpus / "TRANSCRIPTS.TXT").read_text(encoding="utf-8").splitlines():
        name, text = line.split(" ", 1)
        found[corpus / name.split("-")[0] / f"{name}.flac"] = text
    return found


def espeak(text: str, folder: Path) -> Clip:
    """espeak-ng's speech of ``text``."""
    path = folder / f"espeak-{hashlib.sha256(text.encode()).hexdigest()[:12]}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return decode(path)


def at_24k(clip: Clip) -> np.ndarray:
    return resample(np.asarray(clip.samples, dtype=np.float32), clip.sample_rate, RATE)


def clean_sets(corpus: Path, folder: Path) -> tuple[Sets, Sets]:
    """LibriSpeech clips with their transcripts, and espeak-ng home sentences."""
    librispeech = {path.stem: (decode(path), text) for path, text in transcripts(corpus).items()}
    synthetic = {f"espeak {i}": (espeak(text, folder), text) for i, text in enumerate(HOME_SENTENCES)}
    return librispeech, synthetic


def noise_sets(corpus: Path, engine: Any, seeds: tuple[int, ...] = (1, 2)) -> dict[str, Sets]:
    """Takes that must fail, by kind."""
    rng = np.random.default_rng(7)
    spectrum = np.fft.rfft(rng.normal(0, 1, 4 * RATE))
    pink = np.fft.irfft(spectrum / np.sqrt(np.arange(1, len(spectrum) + 1)), 4 * RATE)
    reversed_speech = {
        f"reversed {path.stem}": (Clip(at_24k(decode(path))[::-1].copy(), RATE), text)
        for path, text in list(transcripts(corpus).items())[1:]
    }
    return {
        "white noise": {"white": (Clip(rng.normal(0, 0.1, 4 * RATE).astype(np.float32), RATE), NOISE_TEXT)},
        "pink noise": {"pink": (Clip((0.1 * pink / np.std(pink)).astype(np.float32), RATE), NOISE_TEXT)},
        "near-silence": {"hiss": (Clip(rng.normal(0, 1e-4, 3 * RATE).astype(np.float32), RATE), NOISE_TEXT)},
        "reversed speech": reversed_speech,
        "babble": {"4 talkers": (babble(corpus), list(transcripts(corpus).values())[2])},
        "random-weight XTTS": random_takes(corpus, engine, seeds),
    }


def babble(corpus: Path) -> Clip:
    """Four corpus speakers talking at once, at equal levels."""
    four = [at_24k(decode(sorted((corpus / speaker).glob("*.flac"))[3])) for speaker in BABBLE_SPEAKERS]
    length = min(len(c) for c in four)
    mixed = np.sum([c[:length] / np.std(c[:length]) for c in four], axis=0)
    return Clip((0.05 * mixed / np.std(mixed)).astype(np.float32), RATE)


def random_takes(corpus: Path, engine: Any, seeds: tuple[int, ...]) -> Sets:
    """Takes of :data:`NOISE_TEXT` by a random-weight XTTS model (``engine``)."""
    latents = engine.conditioning([decode(min((corpus / "367").glob("*.flac")))])
    takes = {}
    for seed in seeds:
        audio = np.concatenate(list(engine.stream(NOISE_TEXT, "en", latents, seed=seed)))
        takes[f"seed {seed}"] = (Clip(audio, RATE), NOISE_TEXT)
    return takes
