"""The XTTS engine on a tiny real checkpoint, loaded through the daemon's own loading path."""

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from voice_daemon.audio import decode
from voice_daemon.errors import ModelUnavailable
from voice_daemon.synthesis.engine import Engine, Randomness, check_model_dir
from voice_daemon.synthesis.text import split_text
from voice_daemon.synthesis.types import SAMPLE_RATE, Latents, SamplingParams

LONG_TEXT = (
    "The washing machine in the cellar has finished its long cotton programme and the laundry is now "
    "ready to be hung up, while someone is standing at the front door and the doorbell camera shows a parcel "
    "delivery. "
    "The living room temperature dropped below nineteen degrees this evening, so the heating in the hall "
    "and in the kitchen was switched on, and the windows on the upper floor were closed against the rain. "
) * 5


def test_fast_load_gives_the_same_model_as_stock_coqui(tiny_model: Path, engine: Engine) -> None:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    config = XttsConfig()
    config.load_json(str(tiny_model / "config.json"))
    stock = Xtts(config)
    stock.load_checkpoint(config, checkpoint_dir=str(tiny_model), eval=True)
    ours = engine._model.state_dict()
    theirs = stock.state_dict()
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key


def test_conditioning_latents_have_xtts_shapes(engine: Engine, reference: Path) -> None:
    latents = engine.conditioning([decode(reference)])
    assert latents.gpt_cond_latent.shape == (1, 32, 64)  # perceiver: 32 latents x model channels
    assert latents.speaker_embedding.shape == (1, 512, 1)
    assert torch.isfinite(latents.gpt_cond_latent).all()


def test_several_clips_are_combined(engine: Engine, corpus: Path) -> None:
    first, second = sorted((corpus / "533").glob("*.flac"))[:2]
    one = engine.conditioning([decode(first)])
    both = engine.conditioning([decode(first), decode(second)])
    other = engine.conditioning([decode(second)])
    expected = (one.speaker_embedding + other.speaker_embedding) / 2
    assert torch.allclose(both.speaker_embedding, expected, atol=1e-5)


def _piece_samples(engine: Engine, latents: Latents) -> int:
    return len(engine.synthesize("One short sentence.", "en", latents, seed=1))


def test_stream_yields_24khz_float_chunks_and_is_reproducible_with_a_seed(
    engine: Engine, reference: Path
) -> None:
    latents = engine.conditioning([decode(reference)])
    chunks = list(engine.stream("Hello there.", "en", latents, seed=7))
    assert len(chunks) >= 2  # streamed, not one block
    assert all(chunk.dtype == np.float32 and chunk.ndim == 1 for chunk in chunks)
    again = engine.synthesize("Hello there.", "en", latents, seed=7)
    assert np.array_equal(np.concatenate(chunks), again)
    different = engine.synthesize("Hello there.", "en", latents, seed=8)
    assert not np.array_equal(again, different)
    assert SAMPLE_RATE == 24_000


def test_first_chunk_comes_early_and_the_speech_is_coqui_s_own(engine: Engine, reference: Path) -> None:
    latents = engine.conditioning([decode(reference)])
    text, params = "The washing machine has finished.", SamplingParams()
    torch.manual_seed(0)
    stock = [
        chunk.numpy()
        for chunk in engine._model.inference_stream(
            text,
            "en",
            latents.gpt_cond_latent,
            latents.speaker_embedding,
            stream_chunk_size=params.stream_chunk_size,
            **params.sampling(),
        )
    ]
    same_cuts = list(
        engine.stream(text, "en", latents, params.model_copy(update={"first_chunk_size": 20}), seed=0)
    )
    early = list(
        engine.stream(text, "en", latents, params.model_copy(update={"first_chunk_size": 4}), seed=0)
    )
    assert len(early[0]) <= 4 * 1024 < len(stock[0]) and len(early) == len(stock) + 1
    # coqui-tts's tokens: its length, and its speech but for its cross-faded re-decodes at the cuts
    whole, reference_audio = np.concatenate(same_cuts), np.concatenate(stock)
    assert len(whole) == len(reference_audio) and np.corrcoef(whole, reference_audio)[0, 1] > 0.99
    # each chunk decoded once: where the chunks are cut changes nothing but float rounding
    error = np.concatenate(early) - whole
    assert len(error) == len(whole) and 10 * np.log10(np.sum(whole**2) / np.sum(error**2)) > 60


def test_a_piece_longer_than_xtts_takes_is_refused_by_name(engine: Engine, reference: Path) -> None:
    from voice_daemon.errors import RequestError
    from voice_daemon.synthesis.streaming import stream_piece

    latents = engine.conditioning([decode(reference)])
    with pytest.raises(RequestError, match=r"a text piece has \d+ tokens; XTTS takes fewer than"):
        next(stream_piece(engine._model, "word " * 600, "en", latents, SamplingParams()))


def test_long_text_is_split_and_every_piece_is_spoken(engine: Engine, reference: Path) -> None:
    assert len(LONG_TEXT) >= 2000
    latents = engine.conditioning([decode(reference)])
    pieces = split_text(LONG_TEXT, "en")
    assert len(pieces) >= 8
    audio = engine.synthesize(LONG_TEXT, "en", latents, seed=1)
    # Random weights always run to the token limit, so each piece yields the same length:
    # the total proves that every piece was synthesised and nothing was truncated.
    assert len(audio) == len(pieces) * _piece_samples(engine, latents)


def test_a_seeded_request_sounds_the_same_whatever_runs_between_its_pieces(
    engine: Engine, reference: Path
) -> None:
    from voice_daemon.synthesis.streaming import stream_piece

    latents, params = engine.conditioning([decode(reference)]), SamplingParams()
    text = "The first sentence. The second one. And a third."
    pieces = split_text(text, "en")
    torch.manual_seed(5)  # before the worker walked pieces: one seed, then every piece from the shared state
    model = engine._model
    before = np.concatenate(
        [c.numpy() for p in pieces for c in stream_piece(model, p, "en", latents, params)]
    )

    def interleaved(randomness: Randomness) -> np.ndarray:
        made = []
        for piece in pieces:
            made += list(engine.piece(piece, "en", latents, params, randomness))
            list(engine.piece("Something else entirely.", "en", latents, params, engine.randomness(6)))
            list(engine.piece("Unseeded work.", "en", latents, params, engine.randomness()))
        return np.concatenate(made)

    assert np.array_equal(interleaved(engine.randomness(5)), before)
    assert np.array_equal(engine.synthesize(text, "en", latents, seed=5), before)
    torch.manual_seed(5)  # the shared state, with other work drawing from it between the pieces: not the same
    assert not np.array_equal(interleaved(engine.randomness()), before)


def test_cancel_stops_the_stream(engine: Engine, reference: Path) -> None:
    latents = engine.conditioning([decode(reference)])
    cancel = threading.Event()
    produced = []
    for chunk in engine.stream(LONG_TEXT, "en", latents, cancel=cancel):
        produced.append(chunk)
        cancel.set()
    assert len(produced) == 1


def test_missing_model_files_are_named(tmp_path: Path, tiny_model: Path) -> None:
    shutil.copy(tiny_model / "config.json", tmp_path)
    with pytest.raises(ModelUnavailable) as error:
        check_model_dir(tmp_path)
    message = str(error.value)
    assert "model.pth" in message and "vocab.json" in message and str(tmp_path) in message
    assert "config.json," not in message.split("missing")[1].split(".")[0]


def test_fingerprint_follows_the_model(tmp_path: Path, tiny_model: Path, engine: Engine) -> None:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    config = json.loads((copy / "config.json").read_text())
    config["gpt_cond_len"] = 12
    (copy / "config.json").write_text(json.dumps(config))
    changed = Engine.load(copy, "cpu")
    assert changed.fingerprint != engine.fingerprint
    assert changed.conditioning_settings["gpt_cond_len"] == 12
