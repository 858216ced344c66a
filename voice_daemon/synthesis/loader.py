"""The one way an XTTS engine is loaded, for the daemon, the Python API and the commands alike."""

from __future__ import annotations

import logging
from pathlib import Path

from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.modelfiles import ensure_model, go_offline

log = logging.getLogger(__name__)


def load_engine(
    path: Path,
    cache_dir: Path,
    *,
    device: str = "auto",
    threads: int = 0,
    quantize_int8: bool = False,
    speculative: bool = False,
    accept_license: bool = False,
    warmup: bool = True,
) -> Engine:
    """Make sure the model is in ``path`` (downloading only with the license accepted), keep Hugging
    Face offline, load it (device, threads, int8 or speculative) and warm it up unless told not to.

    Plain values, so that synthesis knows nothing of the settings (``ModelSettings.options()``
    gives them, by these names).
    """
    ensure_model(path, cache_dir, accept_license)
    go_offline()
    engine = Engine.load(path, device, threads, quantize_int8, speculative)
    if warmup:
        log.info("warm-up took %.2f s", engine.warm_up())
    return engine
