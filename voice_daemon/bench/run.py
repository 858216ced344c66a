"""``voice-daemon bench``: every benchmark section, side by side with stock coqui-tts, into JSON and Markdown.

Sections can be run one at a time; results are merged into the existing JSON file, so a slow
section need not be repeated to regenerate the tables.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice_daemon.bench import (
    SECTIONS,
    coldstart,
    equivalence,
    gaps,
    http,
    latency,
    machine,
    pipeline,
    report,
    scaling,
    synthesis,
)
from voice_daemon.bench.daemonrun import VOICE

log = logging.getLogger(__name__)

TEXTS = {
    "two_sentences": "The washing machine has finished. Please empty it before the evening.",
    "one_sentence": "The washing machine has finished.",
}


def run_bench(
    models: dict[str, Path],
    out_dir: Path,
    sections: tuple[str, ...] = SECTIONS,
    repeats: int = 3,
    threads: int = 1,
    memory_requests: int = 300,
) -> dict[str, Any]:
    """Run ``sections`` on ``models`` (names ``tiny``/``full``/``full400`` to model folders); write
    the JSON and Markdown."""
    json_path = out_dir / "benchmarks.json"
    results = json.loads(json_path.read_text()) if json_path.exists() else {}
    results.update(machine=machine.describe(), texts=TEXTS, repeats=repeats, daemon_threads=threads)
    runners = _runners(repeats, threads, memory_requests)
    with tempfile.TemporaryDirectory(prefix="voice-daemon-bench-") as scratch:
        for section in sections:
            for name, model in models.items():
                if name not in _MODELS_OF[section]:
                    continue
                log.info("section %s, %s model", section, name)
                started = time.perf_counter()
                home = Path(scratch) / f"{section}-{name}"
                figures = runners[section](model, home)
                figures["max_audio_tokens"] = _max_audio_tokens(model)
                figures["wall_s"] = round(time.perf_counter() - started, 1)
                results.setdefault(section, {})[name] = figures
                results["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                results.setdefault("sections_measured", {})[section] = [
                    results["measured_at"],
                    repeats,
                    threads,
                ]
                json_path.write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, out_dir / "benchmarks.md")
    return results


_MODELS_OF = {
    "coldstart": ("tiny", "full"),
    "synthesis": ("tiny", "full"),
    "latents": ("tiny", "full"),
    "first_audio": ("tiny", "full"),
    "memory": ("tiny",),
    "http": ("tiny", "full"),
    "equivalence": ("tiny", "full"),
    "scaling": ("full400",),
    "gaps": ("tiny", "full"),
    "pipeline": ("full",),  # stock inference of 48 tokens needs more positions than the tiny model has
}


def _runners(
    repeats: int, threads: int, memory_requests: int
) -> dict[str, Callable[[Path, Path], dict[str, Any]]]:
    return {
        "coldstart": lambda model, home: coldstart.cold_start(model, home, repeats, threads),
        "synthesis": lambda model, home: synthesis.speed(model, VOICE, TEXTS, repeats),
        "latents": lambda model, home: synthesis.latents_timing(model, VOICE, home, repeats),
        "first_audio": lambda model, home: latency.first_audio(
            model, home, TEXTS["two_sentences"], repeats, threads
        ),
        "memory": lambda model, home: latency.memory_curve(model, home, memory_requests),
        "http": lambda model, home: http.speech_timing(model, home, TEXTS["two_sentences"], repeats, threads),
        "equivalence": lambda model, home: equivalence.equivalence(model, VOICE, TEXTS["two_sentences"]),
        "scaling": lambda model, home: scaling.length_scaling(model, VOICE, repeats),
        "gaps": lambda model, home: gaps.sink_gaps(model, home, TEXTS["two_sentences"], repeats, threads),
        "pipeline": lambda model, home: pipeline.pipeline_speed(model, VOICE, home, repeats),
    }


def _max_audio_tokens(model: Path) -> int:
    return int(json.loads((model / "config.json").read_text())["model_args"]["gpt_max_audio_tokens"])
