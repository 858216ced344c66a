"""Making sure the XTTS v2 model files are where ``model.path`` says, downloading them if allowed."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from voice_daemon.errors import ModelUnavailable
from voice_daemon.synthesis.engine import REQUIRED_FILES, check_model_dir

log = logging.getLogger(__name__)

XTTS_V2 = "tts_models/multilingual/multi-dataset/xtts_v2"
OPTIONAL_FILES = ("speakers_xtts.pth",)


def license_accepted(accept_license: bool) -> bool:
    """The Coqui Public Model License is accepted in the config or with ``COQUI_TOS_AGREED=1``."""
    return accept_license or os.environ.get("COQUI_TOS_AGREED") == "1"


def ensure_model(model_dir: Path, cache_dir: Path, accept_license: bool) -> Path:
    """Return ``model_dir`` once it holds a complete model; download it first when allowed."""
    try:
        check_model_dir(model_dir)
        return model_dir
    except ModelUnavailable:
        if not license_accepted(accept_license):
            raise
    _download(model_dir, cache_dir)
    check_model_dir(model_dir)
    return model_dir


def _download(model_dir: Path, cache_dir: Path) -> None:
    """Fetch XTTS v2 with coqui-tts's own model manager (never prompting), then copy it into place."""
    from TTS.utils.manage import ModelManager

    os.environ["COQUI_TOS_AGREED"] = "1"  # accepted by configuration: keep coqui from prompting
    os.environ.setdefault("HF_HOME", str(cache_dir / "huggingface"))
    os.environ.pop("HF_HUB_OFFLINE", None)
    log.info("no model in %s and the license is accepted: downloading XTTS v2 (1.9 GB)", model_dir)
    manager_log = logging.getLogger("TTS.utils.manage")
    manager_log.disabled = True  # it logs failures with tracebacks; ours is one clear message
    try:
        source, _, _ = ModelManager(output_prefix=cache_dir, progress_bar=True).download_model(XTTS_V2)
    except Exception as exc:  # network errors arrive as many different types
        raise ModelUnavailable(
            f"could not download XTTS v2 ({type(exc).__name__}: {exc}). Without network access, copy "
            f"{', '.join(REQUIRED_FILES)} of XTTS v2 into {model_dir}"
        ) from None
    finally:
        manager_log.disabled = False
    model_dir.mkdir(parents=True, exist_ok=True)
    source_dir = Path(source) if Path(source).is_dir() else Path(source).parent
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        if (source_dir / name).is_file():
            shutil.copy2(source_dir / name, model_dir / f".{name}.part")
            os.replace(model_dir / f".{name}.part", model_dir / name)
    log.info("XTTS v2 installed in %s", model_dir)


OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def go_offline() -> None:
    """Keep Hugging Face libraries from reaching the network; call before importing coqui-tts."""
    os.environ.update(OFFLINE_ENVIRONMENT)
