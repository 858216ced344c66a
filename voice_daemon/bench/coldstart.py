"""Cold start: ``voice-daemon run`` to READY=1 against the stock coqui-tts path, as fresh processes.

The stock path is what a coqui-tts user writes: import the model classes, then
``Xtts.load_checkpoint``.  Ours is the whole daemon start-up (configuration, model, warm-up,
queue, voices with cached latents, sources) until it tells systemd READY=1.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from voice_daemon.bench.daemonrun import BenchDaemon

log = logging.getLogger(__name__)

STOCK_LOAD = """
import sys
from TTS.tts.configs.xtts_config import XttsConfig
from TTS.tts.models.xtts import Xtts
config = XttsConfig()
config.load_json(sys.argv[1] + "/config.json")
model = Xtts.init_from_config(config)
model.load_checkpoint(config, checkpoint_dir=sys.argv[1], eval=True)
rss = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS:")][0]
print("loaded", rss, flush=True)
"""
_PHASES = {"load_s": r"loaded XTTS v2 .* in ([\d.]+) s", "warm_up_s": r"warm-up took ([\d.]+) s"}


def stock_cold_start(model: Path) -> dict[str, float]:
    """Seconds from launching a Python process to a loaded model on the stock coqui-tts path, and its RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", STOCK_LOAD, str(model)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    elapsed = time.perf_counter() - started
    process.wait(120)
    if not line or line[0] != "loaded":
        raise RuntimeError(f"stock load failed (exit {process.returncode})")
    return {"seconds": elapsed, "rss_mib": int(line[1]) / 1024}


def our_cold_start(daemon: BenchDaemon) -> dict[str, float]:
    """Seconds from launching ``voice-daemon run`` to READY=1, its RSS then, and its logged phases."""
    log_file = daemon.home / "daemon.log"
    before = log_file.stat().st_size if log_file.exists() else 0
    result = {"seconds": daemon.start(), "rss_mib": daemon.rss_mib()}
    daemon.stop()
    text = log_file.read_bytes()[before:].decode(errors="replace")
    result.update(
        {name: float(m.group(1)) for name, pattern in _PHASES.items() if (m := re.search(pattern, text))}
    )
    return result


def cold_start(model: Path, home: Path, repeats: int, threads: int) -> dict[str, Any]:
    """Alternate stock and our cold starts ``repeats`` times (after one untimed run that caches latents)."""
    daemon = BenchDaemon(home, model, '[output]\nmode = "file"\n', threads=threads)
    log.info("cold start: a first run computes and caches the voice latents (not timed)")
    our_cold_start(daemon)
    runs: dict[str, list[dict[str, float]]] = {"stock": [], "ours": []}
    for repeat in range(repeats):
        runs["stock"].append(stock_cold_start(model))
        runs["ours"].append(our_cold_start(daemon))
        log.info("cold start %d: stock %s, ours %s", repeat + 1, runs["stock"][-1], runs["ours"][-1])
    return runs
