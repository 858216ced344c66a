"""Gapless playback: an announcement starts only when, at the rate its audio is made, the rest will be
ready in time; it pauses between sentences, never inside one.

The rule is tried on a synthetic producer against a simulated clock (in-process, milliseconds);
one real playback into the PulseAudio null sink shows a slow producer heard without a gap inside
a sentence, where playing each chunk as it comes stutters.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_config
from tests.support.daemonproc import FAST, wait_until
from tests.support.pulse import PulseServer
from voice_daemon.app import Daemon
from voice_daemon.bench.gaps import describe
from voice_daemon.core.events import Event
from voice_daemon.core.request import SpeechRequest
from voice_daemon.settings import load_settings
from voice_daemon.sinks.player import _SLOWER, Announcement, Pacing, Plan, Player

RATE = 24_000
PER_CHAR = 1 / 14  # seconds of speech per character the rule assumes before it has learnt any
TICK = 0.01


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(
    pacing: Pacing,
    pieces: list[float],
    rate: float,
    stall_between: float = 0.0,
    chars: list[int] | None = None,
    chunk: float = 0.25,
    first: float | None = None,
) -> dict:
    """Make ``pieces`` (seconds of audio each) at ``rate`` (audio seconds per second, with a stall
    between pieces) in chunks of ``chunk`` seconds (each piece's first of ``first``, as the engine's
    first chunk is smaller) and play them by the rule; when sound started and where playback waited."""
    ready, made_at = [], 0.0  # (time it is made, piece, seconds, last of its piece)
    for index, seconds in enumerate(pieces):
        made_at += stall_between if index else 0.0
        sizes = [first or chunk]
        while sum(sizes) < seconds - 1e-9:
            sizes.append(chunk)
        sizes[-1] -= sum(sizes) - seconds
        for part, length in enumerate(sizes):
            made_at += length / rate
            ready.append((made_at, index, length, part == len(sizes) - 1))
    return play(pacing, ready, chars or [round(seconds / PER_CHAR) for seconds in pieces])


def play(pacing: Pacing, ready: list[tuple[float, int, float, bool]], chars: list[int]) -> dict:
    """Feed chunks as they are made (time made, piece, seconds of audio, last of its piece) and
    play them by the rule on a simulated clock; when sound started and where playback waited."""
    clock, ready = Clock(), list(ready)
    announcement = Announcement(Plan(tuple(chars)), clock)
    pieces = [sum(length for _, piece, length, _ in ready if piece == index) for index in range(len(chars))]
    made_at = ready[-1][0]
    ahead = np.cumsum([0.0] + [length for _, _, length, _ in ready[:-1]])
    earliest = max(at - before for (at, *_), before in zip(ready, ahead, strict=True))  # chunk by chunk
    bounds = np.cumsum(pieces)
    position, started, waits, inside = 0.0, None, [], []
    while position < bounds[-1] - 1e-9:
        while ready and ready[0][0] <= clock.now + 1e-9:
            _, index, length, last = ready.pop(0)
            announcement.feed(np.zeros(round(length * RATE), np.float32))
            if last:
                announcement.end_piece() if index < len(pieces) - 1 else announcement.finish()
        if started is None:
            if announcement.made > 0 and pacing.may_play(announcement):
                started = clock.now
        else:
            at_bound = any(abs(position - bound) < 1e-9 for bound in bounds)
            if position >= announcement.made - 1e-9:
                (waits if at_bound else inside).append(clock.now)
            elif at_bound and position > 0 and not pacing.may_play(announcement):
                waits.append(clock.now)
            else:
                step = min(
                    TICK,
                    announcement.made - position,
                    min(b for b in bounds if b > position + 1e-9) - position,
                )
                position += step
                announcement.played = position
        clock.now += TICK
    pacing.learn(announcement)
    return {
        "start": started,
        "made": made_at,
        "earliest": earliest,
        "waits": waits,
        "inside": inside,
    }


def test_faster_than_real_time_starts_at_once() -> None:
    result = simulate(Pacing(), [2.0, 2.0, 2.0], rate=3.0)
    assert result["start"] <= 0.25 / 3.0 + 0.1 and not result["waits"] and not result["inside"]


def test_a_slow_producer_starts_late_enough_and_never_stops_inside_a_sentence() -> None:
    pieces = [2.0, 3.0, 2.5]
    result = simulate(Pacing(), pieces, rate=0.5)
    assert not result["inside"] and not result["waits"]
    earliest = result["made"] - sum(pieces)  # a gapless start can be no earlier than this
    # a chunk, the margin, and the allowance for synthesis turning out slower over what is left to make
    assert earliest <= result["start"] <= earliest + 0.25 + 0.15 + _SLOWER * sum(pieces) + 2 * TICK
    # the text promises far less audio than comes: it starts too early, and then waits between sentences
    # (the piece being made has run past its text's estimate: the rest is held back, not cut into)
    eager = simulate(Pacing(), pieces, rate=0.5, chars=[10, 10, 10])
    assert eager["start"] < earliest and eager["waits"] and not eager["inside"]


def test_a_voice_six_times_slower_spoken_than_its_text_never_stops_inside_a_sentence() -> None:
    """As the 605-token random model: each sentence runs on to six times what its text predicts."""
    pieces = [6.0, 6.0]
    result = simulate(Pacing(), pieces, rate=0.3, chars=[14, 14])  # the text: 1 s a sentence
    assert not result["inside"] and not result["waits"]
    earliest = result["made"] - sum(pieces)
    assert earliest <= result["start"] <= earliest + 0.4 / 0.3 + 0.25 / 0.3 + 2 * TICK


def test_a_small_first_chunk_and_big_ones_after_it_are_waited_for_just_long_enough() -> None:
    """The engine's chunks: 0.35 s first, then 0.85 s.  A little faster than real time, the first
    chunk alone would play out before the second comes; slower (the full model on this CPU), the
    last chunk must come before everything before it has played."""
    quick = simulate(Pacing(), [3.0, 3.0], rate=1.1, chunk=0.85, first=0.35)
    assert (
        not quick["inside"] and not quick["waits"] and quick["start"] <= (1 + _SLOWER) / 1.1 + 0.15 + 3 * TICK
    )
    pieces = [2.22, 2.22]
    slow = simulate(Pacing(), pieces, rate=0.3, chunk=0.85, first=0.35, chars=[33, 33])
    earliest = slow["made"] - sum(pieces)
    assert not slow["inside"] and not slow["waits"]
    assert (
        earliest <= slow["start"] <= earliest + 0.85 + 0.15 + 0.3
    )  # a chunk, the margin, an estimate's error


def test_a_slow_model_with_a_start_up_per_sentence_starts_as_early_as_its_chunks_allow() -> None:
    """The full model on this CPU: chunks of 0.93 s of speech (the first 0.37 s) at 0.36 s of audio
    a second within a sentence, and 1.2 s more before each later sentence's first chunk (its prompt).
    Playing can start no earlier than every chunk allows (each must come before the audio ahead of
    it has played); the rule starts within its margin of that, and never stops inside a sentence."""
    pieces = [2.27, 2.27, 2.27]
    result = simulate(Pacing(), pieces, rate=0.36, stall_between=1.2, chunk=0.93, first=0.37, chars=[32] * 3)
    assert not result["inside"] and not result["waits"]
    slower = _SLOWER * (result["made"] - result["earliest"])  # the allowance over what is left to make
    assert result["earliest"] <= result["start"] <= result["earliest"] + 0.15 + slower + 3 * TICK


def test_chunk_times_of_the_full_model_play_without_a_pause_and_start_close_to_the_earliest() -> None:
    """Chunk times recorded from the full-size model on this 2-core machine (tests/data): the second
    chunk of a sentence comes slower than the later ones (it waits for the first's decoding too), and
    each sentence's first waits about 2 s for its prompt.  Extra silence stays within the issue's
    0.25 s and the first sound within 1 s of the earliest start every chunk allows (the rule waited
    2.0 to 2.6 s longer when it priced the rest at the whole announcement's rate)."""
    takes = json.loads((Path(__file__).parent / "data" / "full_model_chunk_times.json").read_text())["takes"]
    pacing = Pacing()
    for take in takes:
        result = play(pacing, [tuple(chunk) for chunk in take], [33, 35])
        assert len(result["waits"]) * TICK <= 0.25 and not result["inside"]
        assert result["earliest"] <= result["start"] <= result["earliest"] + 1.0


@pytest.mark.parametrize("rate", [0.5, 3.0])
def test_a_voice_that_stops_a_little_past_its_text_is_not_held_back(rate: float) -> None:
    """A real model stops near its text's spoken length: ten per cent over costs the start next to nothing."""
    pieces = [2.0, 3.0, 2.5]
    chars = [round(seconds / PER_CHAR / 1.1) for seconds in pieces]
    result = simulate(Pacing(), pieces, rate=rate, chars=chars)
    earliest = max(0.0, result["made"] - sum(pieces))
    assert not result["inside"] and not result["waits"]
    assert result["start"] <= earliest + 0.4 / rate + 0.25 / rate + 2 * TICK


def test_work_between_sentences_makes_it_pause_between_sentences_only() -> None:
    result = simulate(Pacing(), [2.0, 2.0, 2.0, 2.0], rate=0.8, stall_between=1.5)
    assert result["waits"] and not result["inside"]


def test_recent_announcements_predict_the_rate_and_the_length() -> None:
    pacing = Pacing()
    assert pacing.planned_delay(Plan((140,))) == 0.0  # nothing learnt yet
    simulate(pacing, [3.0, 3.0], rate=0.5, chars=[30, 30])  # 0.1 s per character in this voice
    assert pacing.rates == pytest.approx((0.5, 0.5), rel=0.1)
    assert pacing.seconds_per_char(Plan((60,))) == pytest.approx(0.1, rel=0.05)
    assert pacing.planned_delay(Plan((60,))) == pytest.approx(6.0 * (1 / 0.5 - 1) + 0.4, rel=0.15)
    assert pacing.seconds_per_char(Plan((60,), voice="other")) == pytest.approx(PER_CHAR)


def _slow_producer(announcement: Announcement, pieces: list[np.ndarray], rate: float) -> None:
    for index, piece in enumerate(pieces):
        for start in range(0, len(piece), RATE // 4):
            chunk = piece[start : start + RATE // 4]
            time.sleep(len(chunk) / RATE / rate)
            announcement.feed(chunk)
        if index < len(pieces) - 1:
            announcement.end_piece()
    announcement.finish()


def _noise(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * RATE)).astype(np.float32)


@pytest.mark.parametrize("gapless", [True, False])
def test_a_slow_producer_is_heard_without_a_gap_inside_a_sentence(
    pulse: PulseServer, tmp_path: Path, gapless: bool
) -> None:
    pieces = [_noise(1.5, 1), _noise(1.5, 2)]
    chars = tuple(round(len(piece) / RATE / PER_CHAR) for piece in pieces)
    player = Player("pulse", gapless=gapless)
    recorder = pulse.record(tmp_path / "rec.raw")
    announcement = player.announce(Plan(chars))
    producer = threading.Thread(target=_slow_producer, args=(announcement, pieces, 0.6))
    producer.start()
    result = announcement.wait(30)
    producer.join(30)
    player.close()
    gaps = describe(recorder.stop(), 1.5)
    assert result.error is None and result.seconds == pytest.approx(3.0, abs=0.01)
    if gapless:
        assert gaps["within_sentences_s"] == 0.0, gaps
        assert result.start_delay is not None and result.start_delay > 1.0
    else:  # each chunk as it comes: the listener hears the producer's stalls inside the sentences
        assert gaps["within_sentences_s"] > 0.5, gaps
        assert result.start_delay == pytest.approx(0.0, abs=0.1)


def test_the_started_event_predicts_the_delay_from_the_spoken_pieces_the_player_paces(
    home: Path, tiny_model: Path, pulse: PulseServer
) -> None:
    """Figures are read out ("21.5" is "twenty-one point five"): the prediction counts what is spoken,
    in the voice the request resolves to, as the player's estimate does."""
    config = write_config(home, tiny_model, FAST.replace('mode = "file"', 'mode = "play"\ndevice = "pulse"'))
    daemon = Daemon(load_settings(config))
    running = daemon.start()
    try:
        seen: list[Event] = []
        running.seam.subscribe(lambda notice: seen.append(notice) if isinstance(notice, Event) else None)
        clock = Clock()
        taught = Announcement(Plan((14,), "en", "default"), clock)  # half real time, 1/7 s a character
        clock.now = 4.0
        taught.feed(np.zeros(2 * RATE, np.float32))
        taught.finish()
        running.player.pacing.learn(taught)
        text = "It is 21.5 °C at 7:30."
        script = running.worker.renderer.script(SpeechRequest(text=text, voice="default"))
        assert script.voice.name == "default" and sum(map(len, script.pieces)) > 2 * len(text)
        expected = running.player.pacing.planned_delay(
            Plan(tuple(len(piece) for piece in script.pieces), "en", "default")
        )
        assert expected > running.player.pacing.planned_delay(Plan((len(text),), "en", "default")) + 1.0
        running.seam.submit(SpeechRequest(text=text, id="figures", source="test", output="play"))
        wait_until(lambda: any(e.id == "figures" and e.final for e in seen), 120, "it was spoken")
        started = next(e for e in seen if e.id == "figures" and e.state == "started")
        done = next(e for e in seen if e.id == "figures" and e.final)
        assert started.data["start_delay_seconds"] == pytest.approx(expected, abs=1e-3), script
        assert done.state == "done" and 0 < done.data["made_seconds"] <= done.data["synthesis_seconds"]
    finally:
        daemon.stop()
