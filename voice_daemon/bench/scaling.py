"""Cost per audio second against piece length: a 100-token and a 400-token piece, one model.

The model is built with ``max_audio_tokens`` of at least 400 (random weights never stop early);
the short piece is the same generation capped at 100 tokens, so both share every weight.  With
each chunk decoded once the cost per audio second should not grow with the length; with the
whole-prefix re-decoding it grew with the square.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from voice_daemon.audio import decode
from voice_daemon.bench.synthesis import PARAMS, our_stream, with_threads
from voice_daemon.synthesis.engine import Engine

log = logging.getLogger(__name__)

SHORT, LONG = 100, 400
SENTENCE = "The washing machine has finished."


def length_scaling(
    model: Path, voice: Path, repeats: int, thread_settings: tuple[int, ...] = (1,)
) -> dict[str, Any]:
    """Seconds per audio second of our streaming for ``SHORT`` and ``LONG`` tokens, interleaved."""
    engine = Engine.load(model, "cpu")
    latents = engine.conditioning([decode(voice)])
    gpt = engine._model.gpt
    full = gpt.max_gen_mel_tokens
    if full < LONG - 3:  # XTTS keeps 3 of max_audio_tokens for its start and stop tokens
        raise ValueError(f"{model} generates at most {full} tokens; build it with --max-audio-tokens {LONG}")
    runs: dict[str, list[dict[str, float]]] = {}
    for repeat in range(repeats):
        for threads in thread_settings:
            for tokens in (SHORT, full):
                gpt.max_gen_mel_tokens = tokens
                try:
                    run = with_threads(threads, lambda: our_stream(engine, SENTENCE, latents))
                finally:
                    gpt.max_gen_mel_tokens = full
                run["tokens"] = tokens
                name = "short" if tokens == SHORT else "long"
                runs.setdefault(f"{name}_{threads or 'default'}_threads", []).append(run)
                log.info(
                    "scaling %d: %d tokens, threads %s: %s", repeat + 1, tokens, threads or "default", run
                )
    return {"runs": runs, "params": PARAMS.model_dump()}
