"""The speakers: a :class:`Player` owns one output device (sounddevice) and plays announcements
strictly one after another on its own thread, so synthesis (the producer) keeps running while
audio plays.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voice_daemon.audio import resample
from voice_daemon.errors import PlaybackError
from voice_daemon.synthesis.types import SAMPLE_RATE


class OutputStream(Protocol):
    """What the player uses of a sounddevice output stream (sounddevice ships no types)."""

    def write(self, data: np.ndarray) -> object: ...
    def stop(self) -> None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


log = logging.getLogger(__name__)

_END = None
_PIECE = "piece"  # in the queue of chunks: a text piece (sentence) ends here
_MARGIN_SECONDS = 0.15  # of audio: how early the rest must be ready, beyond what the rule needs
_SLOWER = 0.1  # synthesis may turn out this much slower than measured (a busy box, a longer prompt)
_CHUNK_SECONDS = 1.0  # of audio in a chunk, assumed until an announcement has shown its own
_CHARS_PER_SECOND = {"zh-cn": 5.0, "ja": 7.0, "ko": 7.0}  # of speech; 14 for every other language
_LEARNING = 0.5  # weight of the newest announcement in what recent ones say


@dataclass(frozen=True)
class Plan:
    """What is known of an announcement before its audio: its text pieces (their lengths in
    characters), language and voice, and whether it is made while it plays (not a cache hit)."""

    pieces: tuple[int, ...]
    language: str = "en"
    voice: str = ""
    live: bool = True

    @property
    def key(self) -> str:
        return f"{self.language}/{self.voice}"


@dataclass
class PlaybackResult:
    """How one announcement went: error is None when it played to the end (or was stopped).

    ``start_delay`` is how long the first audio waited for the announcement to start (the gapless
    rule), ``paused`` how long it waited between sentences after that.
    """

    seconds: float = 0.0
    first_audio_at: float | None = None
    stopped: bool = False
    error: PlaybackError | None = None
    start_delay: float | None = None
    paused: float = 0.0


class Announcement:
    """One utterance on its way to the speakers; feed chunks (and :meth:`end_piece` after each
    text piece but the last), then :meth:`finish`, then :meth:`wait`."""

    def __init__(self, plan: Plan | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.clock = clock
        self._chunks: queue.Queue[np.ndarray | str | None] = queue.Queue()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self.result = PlaybackResult()
        self.created = clock()  # about when its synthesis began
        self.first_fed: float | None = None
        self.last_fed = self.created
        self.made = 0.0  # seconds of audio fed
        self.played = 0.0  # seconds of audio handed to the device
        self.pieces_done = 0
        self.piece_made = 0.0  # seconds of audio fed of the piece being made
        self.chunk = 0.0  # seconds of audio in the longest chunk fed: audio comes this many at a time
        self.fed = 0  # chunks fed
        self.first_chunk = 0.0  # seconds of audio in the first chunk of a piece (the engine's is smaller)
        self.piece_began = self.created  # when the piece being made began (the last one ended)
        self.piece_fed = 0  # chunks fed of the piece being made
        self.second = (0.0, 0.0)  # audio seconds, and seconds taken, of each piece's second chunk
        self.steady = (0.0, 0.0)  # the same of every later chunk
        self.startup = 0.0  # the longest wait yet from a piece's beginning to its first chunk
        self.finished = False

    def feed(self, chunk: np.ndarray) -> None:
        self._chunks.put(chunk)
        now, seconds = self.clock(), len(chunk) / SAMPLE_RATE
        if self.piece_fed == 1:  # waits for the first chunk's decoding too
            self.second = (self.second[0] + seconds, self.second[1] + now - self.last_fed)
        elif self.piece_fed:
            self.steady = (self.steady[0] + seconds, self.steady[1] + now - self.last_fed)
        else:
            self.first_chunk = max(self.first_chunk, seconds)
            self.startup = max(self.startup, now - self.piece_began)
        self.piece_fed += 1
        self.last_fed = now
        if self.first_fed is None:
            self.first_fed = self.last_fed
        self.made += seconds
        self.piece_made += seconds
        self.chunk = max(self.chunk, seconds)
        self.fed += 1
        self._changed.set()

    def end_piece(self) -> None:
        """A text piece (sentence) ended: the only place where playback may pause."""
        self._chunks.put(_PIECE)
        self.pieces_done += 1
        self.piece_made = 0.0
        self.piece_began, self.piece_fed = self.clock(), 0
        self._changed.set()

    def finish(self) -> None:
        self._chunks.put(_END)
        self.finished = True
        self._changed.set()

    def stop(self) -> None:
        """Cut the announcement short (the 'stop' button)."""
        self._stop.set()
        self._changed.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def buffered(self) -> float:
        """Seconds of audio made and not yet played."""
        return self.made - self.played

    def wait(self, timeout: float | None = None) -> PlaybackResult:
        self._done.wait(timeout)
        return self.result

    def chunks(self) -> Iterator[np.ndarray | str]:
        """The fed chunks and piece ends, in order, until :meth:`finish` (the player's side)."""
        while (chunk := self._chunks.get()) is not _END:
            yield chunk

    def changed(self, timeout: float) -> None:
        """Wait until something is fed or the announcement is stopped, at most ``timeout`` seconds."""
        self._changed.wait(timeout)
        self._changed.clear()

    def played_all(self) -> None:
        """The player is done with this announcement (played, stopped or failed)."""
        self._done.set()


class Pacing:
    """The gapless rule: an announcement starts (or goes on after a sentence) only when, at the rate
    its audio is being made, the rest will be ready before it is needed; and what recent
    announcements taught about that rate and about how long a character of text sounds."""

    def __init__(self) -> None:
        self.rates: tuple[float, float] | None = None  # of the second chunks and the later ones, lately
        self.chunk = _CHUNK_SECONDS  # seconds of audio in the longest chunk of the last announcement
        self.first_chunk = _CHUNK_SECONDS  # and in its pieces' first chunks
        self.startup = 0.0  # and the longest wait of one of its pieces for its first chunk
        self._seconds_per_char: dict[str, float] = {}

    def may_play(self, announcement: Announcement) -> bool:
        """Whether playing on now leaves no gap before the end (at the rates known now)."""
        if announcement.finished or announcement.plan is None:
            return True
        return self.needed(announcement) <= announcement.buffered

    def needed(self, announcement: Announcement) -> float:
        """Seconds of audio that must be ready now for every chunk still to come to come in time.

        The chunks still to come are laid out after the last one fed: the rest of the piece being
        made and every later piece (:meth:`pieces_left`), a chunk at a time at the rate chunks come
        within a piece, each later piece's first chunk after the longest wait a piece has had for
        its first.  Each must come before the audio ahead of it has played.
        """
        chunk = self.chunk_size(announcement)
        lead = _lead(
            self.pieces_left(announcement),
            self._rates(announcement),
            chunk,
            announcement.first_chunk or chunk,
            announcement.startup,
            fed=announcement.piece_fed,
        )
        return lead - (announcement.clock() - announcement.last_fed) + _MARGIN_SECONDS

    def chunk_size(self, announcement: Announcement) -> float:
        """Seconds of audio a chunk brings: the longest ``announcement`` has had once it has had two
        (its first is smaller), else what the last announcement had."""
        return announcement.chunk if announcement.fed >= 2 else max(announcement.chunk, self.chunk)

    def pieces_left(self, announcement: Announcement) -> list[float]:
        """Estimated seconds of audio still to be made: the rest of the piece being made, then each later one.

        The piece being made is expected to be as long as its text says; once it has run past that,
        to run on by as much again as it has overrun (a voice slower than its estimate goes on
        being slow), and the later pieces at the seconds per character it has shown so far.
        """
        plan = announcement.plan
        assert plan is not None
        per_char = self.seconds_per_char(plan, announcement)
        current = sum(plan.pieces[announcement.pieces_done : announcement.pieces_done + 1])
        made = announcement.piece_made
        expected = max(current * per_char, 2 * made - current * per_char)
        scale = max(per_char, expected / max(1, current))
        return [expected - made] + [chars * scale for chars in plan.pieces[announcement.pieces_done + 1 :]]

    def seconds_per_char(self, plan: Plan, announcement: Announcement | None = None) -> float:
        """From the pieces made so far, else from recent announcements in this voice, else the language's."""
        if announcement is not None and announcement.pieces_done:
            made = announcement.made - announcement.piece_made
            return made / max(1, sum(plan.pieces[: announcement.pieces_done]))
        return self._seconds_per_char.get(plan.key, 1 / _CHARS_PER_SECOND.get(plan.language, 14.0))

    def planned_delay(self, plan: Plan) -> float:
        """The start delay recent announcements predict for ``plan``, from its first audio on: the rule
        of :meth:`needed` once the first chunk has come, with what the last announcement showed."""
        if self.rates is None:
            return 0.0
        pieces = [chars * self.seconds_per_char(plan) for chars in plan.pieces]
        first = min(pieces[0], self.first_chunk)
        pieces[0] -= first
        lead = _lead(pieces, self.rates, self.chunk, self.first_chunk, self.startup, fed=1)
        return round(max(0.0, lead + _MARGIN_SECONDS - first), 3)

    def learn(self, announcement: Announcement) -> None:
        """Remember the rate and the seconds per character of a finished announcement made while it played."""
        plan = announcement.plan
        if plan is None or not plan.live or announcement.made <= 0 or announcement.stopped:
            return
        rates = self._rates(announcement)
        self.rates = rates if self.rates is None else _learnt(rates, self.rates)
        self.chunk, self.first_chunk, self.startup = (
            announcement.chunk,
            announcement.first_chunk,
            announcement.startup,
        )
        per_char = announcement.made / max(1, sum(plan.pieces))
        known = self._seconds_per_char.get(plan.key)
        self._seconds_per_char[plan.key] = (
            per_char if known is None else _LEARNING * per_char + (1 - _LEARNING) * known
        )

    def _rates(self, announcement: Announcement) -> tuple[float, float]:
        """Seconds of audio made per second by a piece's second chunk (it waits for the first's
        decoding too) and by its later ones, chunk to chunk (a piece's first waits for its prompt:
        :attr:`Announcement.startup`).  Before such chunks have come, what recent announcements
        showed, else the whole announcement's rate so far."""
        known = (
            self.rates or (announcement.made / max(announcement.last_fed - announcement.created, 1e-3),) * 2
        )
        second = _per_second(announcement.second, known[0])
        return second, _per_second(announcement.steady, second if announcement.second[1] else known[1])


def _per_second(made: tuple[float, float], otherwise: float) -> float:
    return max(made[0] / made[1] if made[1] > 0 else otherwise, 1e-3)


def _learnt(new: tuple[float, float], known: tuple[float, float]) -> tuple[float, float]:
    second, later = (_LEARNING * a + (1 - _LEARNING) * b for a, b in zip(new, known, strict=True))
    return second, later


def _lead(
    pieces: list[float], rates: tuple[float, float], chunk: float, first: float, startup: float, fed: int
) -> float:
    """How long after the last chunk fed the chunks of ``pieces`` (seconds of audio each) come, less
    the audio ahead of each: the most.  The piece being made has had ``fed`` chunks; a piece starts
    with a chunk of ``first`` seconds, ``startup`` seconds after the piece before, then chunks of
    ``chunk`` seconds come at ``rates`` (its second, the later ones), each a little slower (``_SLOWER``)."""
    arrives = ahead = lead = 0.0
    for index, left in enumerate(pieces):
        number = 0 if index else fed
        while left > 1e-9:
            part = min(chunk if number else first, left)
            arrives += (part / rates[min(number, 2) - 1] if number else startup) * (1 + _SLOWER)
            lead = max(lead, arrives - ahead)
            ahead, left, number = ahead + part, left - part, number + 1
    return lead


class Player:
    """Plays announcements in order on one device (name or index; None = system default).

    With ``gapless`` an announcement starts, and goes on after each sentence, only when the
    :class:`Pacing` rule says the rest will be ready in time; without it, each chunk plays as it comes.
    """

    def __init__(
        self, device: str | int | None = None, sample_rate: int = 24_000, gapless: bool = True
    ) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.gapless = gapless
        self.pacing = Pacing()
        self._queue: queue.Queue[Announcement | None] = queue.Queue()
        self._current: Announcement | None = None
        self._thread = threading.Thread(target=self._run, name="player", daemon=True)
        self._thread.start()

    def announce(self, plan: Plan | None = None) -> Announcement:
        """Queue a new announcement; it starts once every earlier one has finished (and, gapless,
        its audio is far enough ahead: see :class:`Pacing`; without a ``plan``, at once)."""
        announcement = Announcement(plan)
        self._queue.put(announcement)
        return announcement

    def planned_delay(self, plan: Plan) -> float:
        """The start delay recent announcements predict for ``plan`` (0 without gapless)."""
        return self.pacing.planned_delay(plan) if self.gapless else 0.0

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
                announcement.played_all()
            self.pacing.learn(announcement)

    def _play(self, announcement: Announcement) -> None:
        stream, rate = self._open()
        result = announcement.result
        try:
            for chunk in announcement.chunks():
                if announcement.stopped:
                    result.stopped = True
                    continue
                if isinstance(chunk, str):  # a sentence ended: pause here if the rest would come late
                    if result.first_audio_at is not None:
                        result.paused += self._hold(announcement)
                    continue
                if result.first_audio_at is None:
                    self._hold(announcement)
                    result.start_delay = max(0.0, announcement.clock() - (announcement.first_fed or 0.0))
                    result.first_audio_at = time.monotonic()
                _write(stream, resample(chunk, self.sample_rate, rate))
                result.seconds += len(chunk) / self.sample_rate
                announcement.played = result.seconds
            if result.stopped or announcement.stopped:
                result.stopped = True
                stream.abort()
            else:
                stream.stop()  # returns once everything written has been played
        finally:
            stream.close()

    def _hold(self, announcement: Announcement) -> float:
        """Wait until the gapless rule lets ``announcement`` play on; the seconds waited."""
        started = time.monotonic()
        while self.gapless and not announcement.stopped and not self.pacing.may_play(announcement):
            announcement.changed(0.05)
        return time.monotonic() - started

    def _open(self) -> tuple[OutputStream, int]:
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


def _write(stream: OutputStream, samples: np.ndarray) -> None:
    import sounddevice as sd

    try:
        stream.write(np.ascontiguousarray(samples, dtype=np.float32).reshape(-1, 1))
    except sd.PortAudioError as exc:
        raise PlaybackError(f"audio device failed while playing: {exc}") from None
