"""Silences at the PulseAudio null sink inside a two-sentence announcement, as a listener hears it.

The daemon plays into the null sink; ``parec`` records the sink's monitor.  Random weights make
noise, never silence, so every silent stretch between the first and the last sound is a gap:
the player ran dry.  The gap that comes after one sentence's worth of sound is the one between
the sentences; the others are within a sentence (synthesis slower than real time).  A cached
repeat of the same announcement shows what playback alone does.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from voice_daemon.bench.daemonrun import BenchDaemon
from voice_daemon.bench.latency import PLAY
from voice_daemon.bench.pulse import RATE, PulseServer

log = logging.getLogger(__name__)

FRAME = 240  # 10 ms, parec's block
MIN_GAP_S = 0.02  # shorter silences are within the 10 ms resolution of the recording


def sink_gaps(model: Path, home: Path, text: str, repeats: int, threads: int) -> dict[str, Any]:
    """Gaps in ``repeats`` synthesised announcements of ``text`` (two sentences) and one cached one."""
    pulse = PulseServer(home / "pulse").start()
    daemon = BenchDaemon(home / "daemon", model, PLAY, pulse.env, threads)
    try:
        daemon.start()
        result: dict[str, Any] = {"synthesised": [], "cached": []}
        for repeat in range(repeats):
            for entry in (daemon.home / "cache" / "audio").glob("*.npy"):
                entry.unlink()
            result["synthesised"].append(_recorded(daemon, pulse, home / f"take-{repeat}.raw", text))
            log.info("gaps %d (synthesised): %s", repeat + 1, result["synthesised"][-1])
        result["cached"].append(_recorded(daemon, pulse, home / "cached.raw", text))
        log.info("gaps (cached): %s", result["cached"][-1])
        return result
    finally:
        daemon.stop()
        pulse.stop()


def _recorded(daemon: BenchDaemon, pulse: PulseServer, path: Path, text: str) -> dict[str, Any]:
    recorder = pulse.record(path)
    outcome = daemon.outcome(daemon.submit(text))
    time.sleep(0.5)  # the tail of the announcement leaves the sink
    samples = recorder.stop()
    return describe(samples, outcome["data"]["audio_seconds"] / 2)


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
