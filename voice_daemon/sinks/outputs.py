"""Delivering one utterance: played while it is being made, saved once it is complete, or both.

The synthesis worker and ``voice-daemon say`` share this one path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.audio import joined, write_wav_atomic
from voice_daemon.errors import PlaybackError
from voice_daemon.files import storage_error
from voice_daemon.sinks.player import Plan, Player
from voice_daemon.synthesis.types import SAMPLE_RATE


@dataclass(frozen=True)
class Delivery:
    """What became of an utterance: all of its audio, and how playing and saving went."""

    audio: np.ndarray
    first_audio_at: float | None = None  # time.monotonic() when the first chunk reached the device
    stopped: bool = False
    playback_error: PlaybackError | None = None  # set when playback failed and the audio was saved instead
    file: Path | None = None
    start_delay: float | None = None  # seconds the first audio waited for playback to start (gapless)
    paused: float = 0.0  # seconds playback waited between sentences

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class Utterance:
    """One utterance on its way: :meth:`feed` chunks as they are made (played at once when there is a
    player, paced by ``plan``), :meth:`end_piece` between text pieces, :meth:`close`, then
    :meth:`result` (waits for playback, saves the file).

    When playback fails the audio is written to ``fallback`` instead, or, without one, the
    PlaybackError is raised.  Nothing is written once ``keep()`` is false (a cancelled request).
    """

    def __init__(
        self,
        *,
        player: Player | None = None,
        plan: Plan | None = None,
        volume: float | None = None,
        save_to: Path | None = None,
        fallback: Path | None = None,
        keep: Callable[[], bool] = lambda: True,
    ) -> None:
        self._kept: list[np.ndarray] = []
        self._announcement = player.announce(plan) if player is not None else None
        self._gain = None if volume is None else np.float32(volume)
        self._save_to, self._fallback, self._keep = save_to, fallback, keep
        self._closed = False

    def feed(self, chunk: np.ndarray) -> None:
        self._kept.append(chunk)
        if self._announcement is not None:
            self._announcement.feed(chunk if self._gain is None else chunk * self._gain)

    def end_piece(self) -> None:
        if self._announcement is not None:
            self._announcement.end_piece()

    def close(self) -> None:
        """No more audio comes (call it whatever happened, so the player can finish)."""
        if self._announcement is not None and not self._closed:
            self._announcement.finish()
        self._closed = True

    def result(self) -> Delivery:
        """Once it has been played (if it plays): what became of it, the file written."""
        self.close()
        audio = joined(self._kept)
        if self._announcement is None:
            return Delivery(audio, file=_write(self._save_to, self._kept, self._keep))
        result = self._announcement.wait()
        if result.error is not None and self._fallback is None:
            raise result.error
        target = self._save_to if result.error is None else (self._save_to or self._fallback)
        written = _write(target, self._kept, self._keep)
        playback = (result.first_audio_at, result.stopped, result.error)
        return Delivery(audio, *playback, written, result.start_delay, result.paused)


def deliver(chunks: Iterable[np.ndarray], **outputs: Any) -> Delivery:
    """Play and/or save ``chunks`` as one :class:`Utterance` (``outputs``: its keyword arguments)."""
    utterance = Utterance(**outputs)
    try:
        for chunk in chunks:
            utterance.feed(chunk)
    finally:
        utterance.close()
    return utterance.result()


def _write(path: Path | None, chunks: list[np.ndarray], keep: Callable[[], bool]) -> Path | None:
    if path is None or not keep():
        return None
    try:
        return write_wav_atomic(path, joined(chunks), SAMPLE_RATE)
    except OSError as exc:
        raise storage_error(exc, path.parent, "output folder") from None
