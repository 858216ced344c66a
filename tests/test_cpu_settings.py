"""CPU inference settings: thread count and the opt-in int8 GPT decoder, on the tiny real model."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.daemonproc import StartDaemon, daemon_command, drop, outcome, wait_filed
from voice_daemon.audio import decode
from voice_daemon.bench.synthesis import logits_agreement
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.streaming import Threads


def test_int8_quantises_the_gpt_decoder_and_still_speaks(
    tiny_model: Path, engine: Engine, reference: Path
) -> None:
    from transformers.pytorch_utils import Conv1D

    int8 = Engine.load(tiny_model, "cpu", quantize_int8=True)
    gpt = int8._model.gpt
    quantised = [m for m in gpt.gpt.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(quantised) == 4 * 2  # attention in/out and MLP in/out of each of the 2 layers
    assert not any(isinstance(m, Conv1D) for m in gpt.gpt.modules())
    assert isinstance(gpt.mel_head, torch.ao.nn.quantized.dynamic.Linear)
    assert int8.identity != engine.identity and engine.identity == engine.fingerprint

    clip = decode(reference)
    latents = engine.conditioning([clip])
    assert torch.equal(
        int8.conditioning([clip]).gpt_cond_latent, latents.gpt_cond_latent
    )  # encoder stays fp32
    audio = int8.synthesize("The door is open.", "en", latents, seed=3)
    assert np.isfinite(audio).all() and len(audio) == len(
        engine.synthesize("The door is open.", "en", latents, seed=3)
    )
    agreement = logits_agreement(engine, int8, latents, "The door is open.")
    assert agreement["cosine"] > 0.99 and agreement["top1_agreement"] >= 0.8
    assert agreement["max_abs_error"] > 0  # really a different (quantised) computation


def test_the_thread_count_is_applied(tiny_model: Path) -> None:
    saved = torch.get_num_threads()
    try:
        one = Engine.load(tiny_model, "cpu", threads=1)
        assert torch.get_num_threads() == 1
        assert one._model.voice_daemon_threads == Threads(0, 0)  # one core: GPT and decoder in turn
        two = Engine.load(tiny_model, "cpu", threads=2)
        assert two._model.voice_daemon_threads == Threads(1, 1)  # two: pipelined, one thread each
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize(
    ("variable", "value", "variant"),
    [
        ("VOICE_DAEMON_MODEL__QUANTIZE_INT8", "true", "int8 GPT"),
        ("VOICE_DAEMON_MODEL__PRESET", "speculative", "fp32 GPT with an int8 draft"),
    ],
)
def test_the_daemon_speaks_with_the_gpt_variant_asked_for(
    start_daemon: StartDaemon, home: Path, variable: str, value: str, variant: str
) -> None:
    daemon = start_daemon(env={variable: value})
    drop(home, "q.json", json.dumps({"id": "variant", "text": "The kettle has boiled.", "output": "file"}))
    assert wait_filed(home, "q.json") == "done"
    assert outcome(home, "variant")["data"]["audio_seconds"] > 0
    assert f"(1 threads, {variant})" in daemon.log()


def test_the_api_and_one_shot_commands_load_the_engine_as_the_daemon_does(
    home: Path, tiny_model: Path, reference: Path
) -> None:
    """One loader for all: VoiceCloning and ``say`` honour model.quantize_int8 and the warm-up."""
    from tests.conftest import write_config
    from voice_daemon.api import VoiceCloning
    from voice_daemon.settings import load_settings

    config = write_config(home, tiny_model)
    settings = load_settings(config, model={"quantize_int8": True})
    assert VoiceCloning(settings).engine.quantized
    result = subprocess.run(
        daemon_command(
            "--config",
            str(config),
            "--log-level",
            "INFO",
            "say",
            "The door is open.",
            "--voice",
            str(reference),
            "--language",
            "en",
            "--out",
            str(home / "say.wav"),
        ),
        env={**os.environ, "VOICE_DAEMON_MODEL__QUANTIZE_INT8": "true"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "int8 GPT" in result.stderr and "warm-up took" in result.stderr


def test_the_fast_preset_loads_the_int8_decoder_and_exact_does_not(home: Path, tiny_model: Path) -> None:
    from tests.conftest import write_config
    from voice_daemon.api import VoiceCloning
    from voice_daemon.settings import load_settings

    config = write_config(home, tiny_model)
    assert VoiceCloning(load_settings(config, model={"preset": "fast"})).engine.quantized
    assert not VoiceCloning(load_settings(config, model={"preset": "exact"})).engine.quantized
