"""Hearing what a take says: offline speech recognition (faster-whisper) and the word error rate.

The recogniser is Whisper through faster-whisper (the optional ``asr`` extra), loaded from a
folder or by model name; a name is downloaded only when ``quality.asr_download`` allows it.
English-only models (names ending ``.en``) hear English only; other languages are checked only
with a multilingual model.  Numbers are spelled out on both sides (the synthesis front end's
``spoken_form``) before words are compared, since Whisper writes "7" where the text says
"seven" and the other way round.  Recognition runs on the CPU (int8): tiny.en needs about 0.6 s
of it per take, and a GPU run is not validated here.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.audio import Clip, resample
from voice_daemon.errors import ConfigError
from voice_daemon.synthesis.spoken import spoken_form

log = logging.getLogger(__name__)

ASR_SAMPLE_RATE = 16_000  # what Whisper listens to
BEAM_SIZE = 5
MIN_SECONDS = 0.1  # shorter takes say nothing
_NOT_A_WORD = re.compile(r"[^\w']+")


@dataclass(frozen=True)
class Hearing:
    """What the recogniser heard in a take, and its word error rate against the take's text."""

    transcript: str
    word_error: float


class Recognizer:
    """A Whisper model loaded once (on first use) and shared by threads (one transcription at a time)."""

    def __init__(self, model: str | Path, allow_download: bool = False, threads: int = 0) -> None:
        self.model_name = str(model)
        self._allow_download = allow_download
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def hears(self, language: str) -> bool:
        """Whether the model can check ``language``: English-only models hear English only."""
        return language == "en" or not self._english_only()

    def load(self) -> None:
        """Load the model now (from its folder, or by name: downloaded only when allowed)."""
        with self._lock:
            self._load()

    def transcribe(self, clip: Clip, language: str) -> str:
        """The words heard in ``clip`` (spoken in ``language``), as Whisper writes them."""
        if clip.seconds < MIN_SECONDS:
            return ""
        audio = resample(np.asarray(clip.samples, dtype=np.float32), clip.sample_rate, ASR_SAMPLE_RATE)
        with self._lock:
            model = self._load()
            segments, _ = model.transcribe(
                audio,
                language=language.split("-")[0],
                beam_size=BEAM_SIZE,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            return " ".join(segment.text.strip() for segment in segments).strip()

    def hear(self, clip: Clip, text: str, language: str) -> Hearing:
        """Transcribe ``clip`` and score the transcript against ``text``."""
        transcript = self.transcribe(clip, language)
        return Hearing(transcript, word_error_rate(text, transcript, language))

    def _english_only(self) -> bool:
        if self._model is not None:
            return not self._model.model.is_multilingual
        return Path(self.model_name).name.endswith(".en") or _folder_is_english_only(Path(self.model_name))

    def _load(self) -> Any:
        if self._model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise ConfigError(
                    "quality.asr needs faster-whisper: pip install 'voice-daemon[asr]'"
                ) from None
            try:
                self._model = WhisperModel(
                    self.model_name,
                    device="cpu",  # CTranslate2's wheels want CUDA 12 libraries; torch here has 13
                    compute_type="int8",
                    cpu_threads=self._threads,
                    local_files_only=not self._allow_download,
                )
            except Exception as exc:  # huggingface_hub and ctranslate2 raise many kinds
                raise ConfigError(
                    f"cannot load the speech-recognition model {self.model_name!r} ({type(exc).__name__}: "
                    f"{exc}); give quality.asr_model a folder of a faster-whisper model, or set "
                    "quality.asr_download = true to download it by name"
                ) from None
            log.info("speech recognition: Whisper model %s loaded", self.model_name)
        return self._model


def _folder_is_english_only(folder: Path) -> bool:
    """A CTranslate2 Whisper folder's vocabulary: 51864 tokens for English-only models, more otherwise."""
    vocabulary = folder / "vocabulary.txt"
    if not vocabulary.is_file():
        return False
    with vocabulary.open(encoding="utf-8") as handle:
        return sum(1 for _ in handle) < 51865


def words(text: str, language: str) -> list[str]:
    """The words of ``text`` for comparison: numbers spelled out, case and punctuation dropped."""
    spoken = unicodedata.normalize("NFKC", spoken_form(text, language)).casefold()
    spoken = spoken.replace("’", "'").replace("-", " ")
    return [word.strip("'") for word in _NOT_A_WORD.split(spoken) if word.strip("'_")]


def word_error_rate(text: str, transcript: str, language: str = "en") -> float:
    """Word edits (substitutions, deletions, insertions) from ``text`` to ``transcript``, per word of text.

    It can exceed 1 when the transcript has many more words than the text.
    """
    reference, heard = words(text, language), words(transcript, language)
    if not reference:
        return 0.0 if not heard else float(len(heard))
    return _edits(reference, heard) / len(reference)


def _edits(reference: list[str], heard: list[str]) -> int:
    """Levenshtein distance between two word lists."""
    previous = list(range(len(heard) + 1))
    for i, word in enumerate(reference, 1):
        current = [i]
        for j, other in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1]
