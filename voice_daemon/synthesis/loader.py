"""The one way an XTTS engine is loaded, for the daemon, the Python API and the commands alike."""

from __future__ import annotations

import logging
from pathlib import Path

from voice_daemon.settings import ModelSettings
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.modelfiles import ensure_model, go_offline

log = logging.getLogger(__name__)


def load_engine(model: ModelSettings, cache_dir: Path) -> Engine:
    """Make sure the model is there (downloading only with the license accepted), keep Hugging Face
    offline, load it as ``model`` says (device, threads, preset) and warm it up unless told not to."""
    ensure_model(model.path, cache_dir, model.accept_license)
    go_offline()
    engine = Engine.load(model.path, model.device, model.threads, model.int8)
    if model.warmup:
        log.info("warm-up took %.2f s", engine.warm_up())
    return engine
