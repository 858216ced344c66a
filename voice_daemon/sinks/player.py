"""The speakers: a :class:`Player` owns one output device (sounddevice) and plays announcements
strictly one after another on its own thread, so synthesis (the producer) keeps running while
audio plays.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from voice_daemon.audio import resample
from voice_daemon.errors import PlaybackError

log = logging.getLogger(__name__)

_END = None


@dataclass
class PlaybackResult:
    """How one announcement went: error is None when it played to the end (or was stopped)."""

    seconds: float = 0.0
    first_audio_at: float | None = None
    stopped: bool = False
    error: PlaybackError | None = None


class Announcement:
    """One utterance on its way to the speakers; feed chunks, then :meth:`finish`, then :meth:`wait`."""

    def __init__(self) -> None:
        self._chunks: queue.Queue[np.ndarray | None] = queue.Queue()
        self._done = threading.Event()
        self._stop = threading.Event()
        self.result = PlaybackResult()

    def feed(self, chunk: np.ndarray) -> None:
        self._chunks.put(chunk)

    def finish(self) -> None:
        self._chunks.put(_END)

    def stop(self) -> None:
        """Cut the announcement short (the 'stop' button)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> PlaybackResult:
        self._done.wait(timeout)
        return self.result

    def chunks(self) -> Iterator[np.ndarray]:
        """The fed chunks, in order, until :meth:`finish` (the player's side)."""
        while (chunk := self._chunks.get()) is not _END:
            yield chunk

    def played(self) -> None:
        """The player is done with this announcement (played, stopped or failed)."""
        self._done.set()


class Player:
    """Plays announcements in order on one device (name or index; None = system default)."""

    def __init__(self, device: str | int | None = None, sample_rate: int = 24_000) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self._queue: queue.Queue[Announcement | None] = queue.Queue()
        self._current: Announcement | None = None
        self._thread = threading.Thread(target=self._run, name="player", daemon=True)
        self._thread.start()

    def announce(self) -> Announcement:
        """Queue a new announcement; it starts once every earlier one has finished."""
        announcement = Announcement()
        self._queue.put(announcement)
        return announcement

    def stop_current(self) -> bool:
        """Stop whatever is playing now; True if something was."""
        current = self._current
        if current is None:
            return False
        current.stop()
        return True

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while (announcement := self._queue.get()) is not None:
            self._current = announcement
            try:
                self._play(announcement)
            except PlaybackError as exc:
                log.error("playback failed: %s", exc)
                announcement.result.error = exc
                for _ in announcement.chunks():  # consume the rest, so its producer never blocks
                    pass
            finally:
                self._current = None
                announcement.played()

    def _play(self, announcement: Announcement) -> None:
        stream, rate = self._open()
        result = announcement.result
        try:
            for chunk in announcement.chunks():
                if announcement.stopped:
                    result.stopped = True
                    continue
                if result.first_audio_at is None:
                    result.first_audio_at = time.monotonic()
                _write(stream, resample(chunk, self.sample_rate, rate))
                result.seconds += len(chunk) / self.sample_rate
            if result.stopped or announcement.stopped:
                result.stopped = True
                stream.abort()
            else:
                stream.stop()  # returns once everything written has been played
        finally:
            stream.close()

    def _open(self) -> tuple[object, int]:
        """An output stream at 24 kHz, or at the device's own rate when it refuses 24 kHz."""
        try:
            import sounddevice as sd
        except OSError as exc:  # PortAudio library missing
            raise PlaybackError(f"no audio output available: {exc}") from None
        try:
            rate = self.sample_rate
            try:
                sd.check_output_settings(device=self.device, samplerate=rate, channels=1, dtype="float32")
            except sd.PortAudioError:
                rate = int(sd.query_devices(self.device, "output")["default_samplerate"])
            stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", device=self.device)
            stream.start()
            return stream, rate
        except (sd.PortAudioError, ValueError) as exc:
            raise PlaybackError(f"cannot open audio device {self.device or 'default'!s}: {exc}") from None


def _write(stream: object, samples: np.ndarray) -> None:
    import sounddevice as sd

    try:
        stream.write(np.ascontiguousarray(samples, dtype=np.float32).reshape(-1, 1))  # type: ignore[attr-defined]
    except sd.PortAudioError as exc:
        raise PlaybackError(f"audio device failed while playing: {exc}") from None
