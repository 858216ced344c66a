"""Silences at the PulseAudio null sink inside a two-sentence announcement, as a listener hears it,
and when its first sound came against the earliest start that could play it without a stall.

The daemon plays into the null sink (and saves the take, ``output = "both"``); ``parec`` records
the sink's monitor.  Random weights make noise, never silence, so every silent stretch between the
first and the last sound beyond the take's own is a gap: the player ran dry.  The gap that comes
after one sentence's worth of sound is the one between the sentences; the others are within a
sentence (synthesis slower than real time).  A cached repeat of the same announcement shows what
playback alone does.

Times are seconds from the request's creation (the queue is empty, so the worker takes it within
milliseconds): the synthesis end (the ``done`` event's ``made_seconds``), the earliest gapless
start (synthesis end minus the take's duration) and the first sound at the sink (a second reader
of the monitor, to 10 ms).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from voice_daemon.bench.daemonrun import BenchDaemon
from voice_daemon.bench.latency import PLAY
from voice_daemon.bench.pulse import RATE, FirstSound, PulseServer

log = logging.getLogger(__name__)

FRAME = 240  # 10 ms, parec's block
MIN_GAP_S = 0.02  # shorter silences are within the 10 ms resolution of the recording
TARGET_EXTRA_SILENCE_S = 0.25  # issue 18: no stall inside an announcement
TARGET_LATE_S = 1.5  # issue 18: first sound after the earliest gapless start


def sink_gaps(model: Path, home: Path, text: str, repeats: int, threads: int) -> dict[str, Any]:
    """Gaps in ``repeats`` synthesised announcements of ``text`` (two sentences) and one cached one."""
    pulse = PulseServer(home / "pulse").start()
    daemon = BenchDaemon(home / "daemon", model, PLAY, pulse.env, threads)
    probe = pulse.probe()
    try:
        daemon.start()
        result: dict[str, Any] = {"synthesised": [], "cached": []}
        for repeat in range(repeats):
            for entry in (daemon.home / "cache" / "audio").glob("*.npy"):
                entry.unlink()
            take = _recorded(daemon, pulse, probe, home / f"take-{repeat}.raw", text)
            result["synthesised"].append(take)
            log.info("gaps %d (synthesised): %s", repeat + 1, take)
        result["cached"].append(_recorded(daemon, pulse, probe, home / "cached.raw", text))
        log.info("gaps (cached): %s", result["cached"][-1])
        return result
    finally:
        daemon.stop()
        probe.close()
        pulse.stop()


def _recorded(
    daemon: BenchDaemon, pulse: PulseServer, probe: FirstSound, path: Path, text: str
) -> dict[str, Any]:
    recorder = pulse.record(path)
    probe.arm()
    request_id = daemon.submit(text, output="both")
    heard = probe.wait(3600)
    outcome = daemon.outcome(request_id, timeout=3600)
    time.sleep(0.5)  # the tail of the announcement leaves the sink
    samples = recorder.stop()
    data = outcome["data"]
    take, _ = sf.read(daemon.home / "output" / data["file"], dtype="float32")
    found = describe(samples, data["audio_seconds"] / 2)
    own = describe(take, data["audio_seconds"] / 2)
    return {**found, **timeline(data, heard, outcome["request"]["created"]), **_extra(found, own)}


def timeline(data: dict[str, Any], heard: float | None, created: float) -> dict[str, Any]:
    """When the first sound came against the earliest gapless start, from a ``done`` event's ``data``
    and the wall-clock times of the first sound at the sink and of the request's creation."""
    made, take = data["made_seconds"], data["audio_seconds"]
    first = None if heard is None else round(heard - created, 3)
    earliest = round(made - take, 3)
    return {
        "start_delay_s": data.get("start_delay_seconds"),
        "pause_s": data.get("pause_seconds"),
        "synthesis_end_s": made,
        "take_s": take,
        "earliest_start_s": earliest,
        "first_sound_s": first,
        "first_written_s": data.get("first_audio_seconds"),  # handed to the device (the worker's clock)
        "late_s": None if first is None else round(first - max(0.0, earliest), 3),
    }


def _extra(found: dict[str, Any], own: dict[str, Any]) -> dict[str, float]:
    """Silence inside the announcement as heard beyond the silence inside the take itself."""
    silence = found.get("span_s", 0.0) - found["heard_s"]
    take_silence = own.get("span_s", 0.0) - own["heard_s"]
    return {"extra_silence_s": round(max(0.0, silence - take_silence), 3)}


def describe(samples: np.ndarray, sentence_s: float, threshold: float = 1e-3) -> dict[str, Any]:
    """The gaps in a recording (seconds of sound before each, and its length); the one after about
    ``sentence_s`` seconds of sound is the gap between the sentences."""
    usable = len(samples) // FRAME * FRAME
    loud = np.abs(samples[:usable].reshape(-1, FRAME)).max(axis=1) > threshold
    sound = np.flatnonzero(loud)
    if not len(sound):
        return {"gaps": [], "heard_s": 0.0}
    loud = loud[sound[0] : sound[-1] + 1]
    gaps, heard, run = [], 0, 0
    for frame_loud in loud:
        if frame_loud:
            if run * FRAME / RATE >= MIN_GAP_S:
                gaps.append({"after_s": heard * FRAME / RATE, "gap_s": run * FRAME / RATE})
            heard, run = heard + 1, 0
        else:
            run += 1
    between = [gap for gap in gaps if abs(gap["after_s"] - sentence_s) <= 0.1]
    return {
        "heard_s": heard * FRAME / RATE,
        "span_s": len(loud) * FRAME / RATE,
        "gaps": gaps,
        "between_sentences_s": between[0]["gap_s"] if between else 0.0,
        "within_sentences_s": sum(gap["gap_s"] for gap in gaps if gap not in between),
    }
