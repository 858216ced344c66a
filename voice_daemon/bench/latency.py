"""The daemon as a listener meets it: time to first audio at a PulseAudio null sink, and memory.

A request enters the daemon when a source has parsed it (its ``created`` time, stamped by the
daemon); first audio is when ``parec`` on the sink's monitor receives the first sound.  The
drop folder's own pick-up delay (inotify plus a 0.1 s tick) comes before that and is reported
separately.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from voice_daemon.audio import decode
from voice_daemon.bench.daemonrun import VOICE, BenchDaemon
from voice_daemon.bench.pulse import FirstSound, PulseServer
from voice_daemon.bench.synthesis import direct_first_chunk, stock_inference, with_threads
from voice_daemon.synthesis.engine import Engine

log = logging.getLogger(__name__)

PLAY = '[output]\nmode = "play"\ndevice = "pulse"\n'


def first_audio(model: Path, home: Path, text: str, repeats: int, threads: int) -> dict[str, Any]:
    """Synthesised (audio cache emptied before each) and cached announcements, heard at the sink.

    Before each synthesised one, with the daemon idle, this process runs a bare
    ``inference_stream`` call on the same text with the same thread count (the daemon's overhead
    is the difference) and stock ``Xtts.inference`` at torch's default thread count and at one
    thread (the stock counterpart, measured side by side).
    """
    engine = Engine.load(model, "cpu")
    latents = engine.conditioning([decode(VOICE)])
    pulse = PulseServer(home / "pulse").start()
    daemon = BenchDaemon(home / "daemon", model, PLAY, pulse.env, threads)
    probe = pulse.probe()
    try:
        daemon.start()
        result: dict[str, Any] = {
            "rss_after_start_mib": daemon.rss_mib(),
            "synthesised": [],
            "cached": [],
            "direct_first_chunk_s": [],
            "stock_s": {"default_threads": [], "1_thread": []},
        }
        for repeat in range(repeats):
            for entry in (daemon.home / "cache" / "audio").glob("*.npy"):
                entry.unlink()
            direct = with_threads(threads, lambda: direct_first_chunk(engine, text, latents))
            result["direct_first_chunk_s"].append(direct)
            for setting, count in (("default_threads", 0), ("1_thread", 1)):
                stock = with_threads(count, lambda: stock_inference(engine, text, latents))
                result["stock_s"][setting].append(stock["seconds"])
            result["synthesised"].append(_heard(daemon, probe, text, "miss"))
            log.info(
                "first audio %d (synthesised): %s; bare inference_stream %.3f s; stock %s",
                repeat + 1,
                result["synthesised"][-1],
                direct,
                {k: v[-1] for k, v in result["stock_s"].items()},
            )
        for repeat in range(max(repeats, 5)):
            result["cached"].append(_heard(daemon, probe, text, "hit"))
            log.info("first audio %d (cached): %s", repeat + 1, result["cached"][-1])
        return result
    finally:
        daemon.stop()
        probe.close()
        pulse.stop()


def _heard(daemon: BenchDaemon, probe: FirstSound, text: str, expected_cache: str) -> dict[str, float]:
    time.sleep(0.5)  # let the previous announcement's tail leave the sink
    probe.arm()
    dropped = time.time()
    request_id = daemon.submit(text)
    heard = probe.wait(900)
    outcome = daemon.outcome(request_id)
    data, created = outcome["data"], outcome["request"]["created"]
    if heard is None or data.get("audio_cache") != expected_cache:
        raise RuntimeError(f"unexpected outcome {data} (heard: {heard})")
    return {
        "first_audio_s": heard - created,
        "pickup_s": created - dropped,
        "worker_first_audio_s": data.get("first_audio_seconds", float("nan")),
        "audio_s": data["audio_seconds"],
    }


def memory_curve(model: Path, home: Path, requests: int, batch: int = 10) -> dict[str, Any]:
    """Resident memory of the daemon (tiny model) over ``requests`` distinct requests."""
    daemon = BenchDaemon(home, model, '[output]\nmode = "file"\n')
    daemon.start()
    try:
        curve = [(0, daemon.rss_mib())]
        for start in range(0, requests, batch):
            ids = [
                daemon.submit(f"Announcement number {n}: the washing machine has finished.")
                for n in range(start, min(start + batch, requests))
            ]
            for request_id in ids:
                daemon.outcome(request_id)
            curve.append((start + len(ids), daemon.rss_mib()))
            log.debug("memory after %d requests: %.1f MiB", *curve[-1])
    finally:
        daemon.stop()
    return {"requests_rss_mib": curve}
