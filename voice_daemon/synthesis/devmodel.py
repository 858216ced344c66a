"""Random-weight XTTS v2 checkpoints built from the real coqui classes, for tests and benchmarks.

``tiny`` (2 GPT layers, 64 channels) loads in about a second and synthesises noise on a CPU;
``full`` has the real architecture (30 layers, 1024 channels, about 467M parameters, 1.9 GB),
so it costs what the real model costs.  Both are written exactly as XTTS v2 ships
(``config.json``, ``model.pth``, ``vocab.json``) and load through the daemon's normal path.
Random weights never emit the stop token, so generation always runs to ``max_audio_tokens``.
"""

from __future__ import annotations

import string
from pathlib import Path

from voice_daemon.synthesis.text import LANGUAGES

SPECIAL_TOKENS = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{code}]" for code in LANGUAGES]
_TRAINING_TEXT = [
    "the quick brown fox jumps over the lazy dog. " * 4,
    string.ascii_letters + string.digits + string.punctuation,
    "àáâäãåçèéêëìíîïñòóôöõùúûüýÿßœæøłńśźżąęćőűğışčřšžůďťňě",
]
SIZES = {
    "tiny": {"gpt_layers": 2, "gpt_n_model_channels": 64, "gpt_n_heads": 2, "decoder_input_dim": 64},
    "full": {"gpt_layers": 30, "gpt_n_model_channels": 1024, "gpt_n_heads": 16, "decoder_input_dim": 1024},
}


def build_vocab(path: Path) -> None:
    """Write a small BPE vocabulary with XTTS's special and language tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tokenizer.train_from_iterator(_TRAINING_TEXT, trainer)
    tokenizer.save(str(path))


def build_checkpoint(directory: Path, size: str = "tiny", max_audio_tokens: int = 605, seed: int = 0) -> Path:
    """Create ``directory`` holding a random-weight XTTS v2 model of the given size."""
    import torch
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    directory.mkdir(parents=True, exist_ok=True)
    build_vocab(directory / "vocab.json")
    args = XttsArgs(**SIZES[size], gpt_use_perceiver_resampler=True, gpt_max_audio_tokens=max_audio_tokens)
    # Conditioning settings of the released XTTS v2 config.json.
    config = XttsConfig(model_args=args, gpt_cond_len=30, gpt_cond_chunk_len=4, max_ref_len=30)
    config.model_args.tokenizer_file = ""
    torch.manual_seed(seed)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(directory / "vocab.json"))
    model.init_models()
    torch.save({"model": model.state_dict()}, directory / "model.pth")
    config.save_json(str(directory / "config.json"))
    return directory
