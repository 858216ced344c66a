"""Delivering one utterance: played while it is being made, saved once it is complete, or both.

The synthesis worker and ``voice-daemon say`` share this one path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_daemon.audio import joined, tee, write_wav_atomic
from voice_daemon.errors import PlaybackError
from voice_daemon.files import storage_error
from voice_daemon.sinks.player import Player
from voice_daemon.synthesis.types import SAMPLE_RATE


@dataclass(frozen=True)
class Delivery:
    """What became of an utterance: all of its audio, and how playing and saving went."""

    audio: np.ndarray
    first_audio_at: float | None = None  # time.monotonic() when the first chunk reached the device
    stopped: bool = False
    playback_error: PlaybackError | None = None  # set when playback failed and the audio was saved instead
    file: Path | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def deliver(
    chunks: Iterable[np.ndarray], *, player: Player | None = None, volume: float | None = None,
    save_to: Path | None = None, fallback: Path | None = None, keep: Callable[[], bool] = lambda: True,
) -> Delivery:  # fmt: skip
    """Play ``chunks`` on ``player`` (if given) as they come, then write them to ``save_to`` (if given).

    When playback fails the audio is written to ``fallback`` instead, or, without one, the
    PlaybackError is raised.  Nothing is written once ``keep()`` is false (a cancelled request).
    """
    kept: list[np.ndarray] = []
    if player is None:
        kept.extend(chunks)
        return Delivery(joined(kept), file=_write(save_to, kept, keep))
    announcement = player.announce()
    gain = None if volume is None else np.float32(volume)
    try:
        for chunk in tee(chunks, kept):
            announcement.feed(chunk if gain is None else chunk * gain)
    finally:
        announcement.finish()
    result = announcement.wait()
    if result.error is not None and fallback is None:
        raise result.error
    target = save_to if result.error is None else (save_to or fallback)
    return Delivery(joined(kept), result.first_audio_at, result.stopped, result.error, _write(target, kept, keep))


def _write(path: Path | None, chunks: list[np.ndarray], keep: Callable[[], bool]) -> Path | None:
    if path is None or not keep():
        return None
    try:
        return write_wav_atomic(path, joined(chunks), SAMPLE_RATE)
    except OSError as exc:
        raise storage_error(exc, path.parent, "output folder") from None
