"""Issue 18 figures: the pipelined streaming path and the fast preset against stock ``Xtts.inference``.

One process, one text piece, every variant once per repeat in turn (so all see the same machine
load): stock ``Xtts.inference`` (torch's default threads, and one thread); our streaming with GPT
generation and decoding in turn on one thread (the path before the pipeline; torch's default
threads, and one thread); the same pipelined (fp32, the default); the fast preset (int8 GPT,
pipelined); and the speculative preset (fp32 distribution, int8 draft, pipelined).  Each run
records seconds per audio second, the first chunk, and the growth of resident memory while it ran
(sampled every 10 ms).  Random weights never stop, so every run generates ``tokens`` audio tokens.
The fast preset's teacher-forced logits are compared with fp32's on the same inputs
(:func:`voice_daemon.bench.synthesis.logits_agreement`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice_daemon.audio import decode
from voice_daemon.bench.synthesis import logits_agreement, our_stream, stock_inference, with_threads
from voice_daemon.settings import ModelSettings
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.loader import load_engine
from voice_daemon.synthesis.streaming import Threads, pin_threads

log = logging.getLogger(__name__)

SENTENCE = "The washing machine has finished."


def pipeline_speed(model: Path, voice: Path, home: Path, repeats: int, tokens: int = 48) -> dict[str, Any]:
    """Stock, ours in turn, ours pipelined and the two presets, interleaved, ``tokens`` per run."""
    import torch

    exact = load_engine(model, home, **ModelSettings(device="cpu").options())
    fast = load_engine(model, home, **ModelSettings(device="cpu", preset="fast").options())
    speculative = load_engine(model, home, **ModelSettings(device="cpu", preset="speculative").options())
    latents = exact.conditioning([decode(voice)])
    pipelined = exact._model.voice_daemon_threads
    variants: dict[str, Callable[[], dict[str, float]]] = {
        "stock": lambda: stock_inference(exact, SENTENCE, latents),
        "stock_1_thread": lambda: with_threads(1, lambda: stock_inference(exact, SENTENCE, latents)),
        "in_turn": lambda: _with_threads(exact, Threads(0, 0), lambda: our_stream(exact, SENTENCE, latents)),
        "in_turn_1_thread": lambda: with_threads(
            1, lambda: _with_threads(exact, Threads(0, 0), lambda: our_stream(exact, SENTENCE, latents))
        ),
        "pipelined": lambda: our_stream(exact, SENTENCE, latents),
        "fast": lambda: our_stream(fast, SENTENCE, latents),
        "speculative": lambda: our_stream(speculative, SENTENCE, latents),
    }
    runs: dict[str, list[dict[str, float]]] = {}
    for engine in (exact, fast, speculative):
        engine._model.gpt.max_gen_mel_tokens = tokens
    for repeat in range(repeats):
        for name, measure in variants.items():
            torch.manual_seed(repeat)
            run = _with_memory(measure)
            run["load"] = os.getloadavg()[0]
            runs.setdefault(name, []).append(run)
            log.info("pipeline %d %s: %s", repeat + 1, name, run)
    return {
        "runs": runs,
        "tokens": tokens,
        "threads": {"gpt": pipelined.gpt, "decoder": pipelined.decoder, "torch": torch.get_num_threads()},
        "logits": logits_agreement(exact, fast, latents, SENTENCE),
    }


def _with_threads(engine: Engine, threads: Threads, measure: Callable[[], Any]) -> Any:
    saved = engine._model.voice_daemon_threads
    pin_threads(engine._model, threads)
    try:
        return measure()
    finally:
        pin_threads(engine._model, saved)


def _with_memory(measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``measure()`` plus ``rss_growth_mib``: the most resident memory seen during it, above before."""
    before, peak, done = _rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss_mib())

    sampler = threading.Thread(target=sample, name="bench-rss", daemon=True)
    sampler.start()
    try:
        run = measure()
    finally:
        done.set()
        sampler.join()
    return {**run, "rss_mib": before, "rss_growth_mib": max(0.0, max(peak[0], _rss_mib()) - before)}


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
