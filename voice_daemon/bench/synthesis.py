"""In-process synthesis figures on one model: stock ``Xtts.inference`` against our streaming path.

Every variant runs once per repeat, in turn, so all of them see the same machine load.  Random
weights never emit the stop token, so each call generates exactly ``max_audio_tokens`` per text
piece; figures are therefore given per audio second and per generated token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice_daemon.audio import decode
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.types import SAMPLE_RATE, Latents, SamplingParams
from voice_daemon.voices.latents import LatentsCache, latents_key

log = logging.getLogger(__name__)

PARAMS = SamplingParams()


def stock_inference(engine: Engine, text: str, latents: Latents) -> dict[str, float]:
    """coqui-tts's own ``Xtts.inference`` with our sampling settings; the whole audio at the end."""
    started = time.perf_counter()
    out = engine._model.inference(
        text,
        "en",
        latents.gpt_cond_latent,
        latents.speaker_embedding,
        **PARAMS.sampling(),
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "audio_s": len(out["wav"]) / SAMPLE_RATE,
        "tokens": int(out["gpt_latents"].shape[1]),
    }


def our_stream(engine: Engine, text: str, latents: Latents) -> dict[str, float]:
    """Our path (sentence splitting, each chunk decoded once): first chunk and the whole."""
    started = time.perf_counter()
    first, samples = None, 0
    for chunk in engine.stream(text, "en", latents, PARAMS):
        first = first if first is not None else time.perf_counter() - started
        samples += len(chunk)
    return {
        "seconds": time.perf_counter() - started,
        "first_chunk_s": first or 0.0,
        "audio_s": samples / SAMPLE_RATE,
    }


def direct_first_chunk(engine: Engine, text: str, latents: Latents) -> float:
    """Seconds to the first chunk of a bare ``Xtts.inference_stream`` call on ``text``, its chunks as
    large as the daemon's first chunk."""
    started = time.perf_counter()
    chunks = engine._model.inference_stream(
        text,
        "en",
        latents.gpt_cond_latent,
        latents.speaker_embedding,
        stream_chunk_size=PARAMS.first_chunk_size,
        **PARAMS.sampling(),
    )
    next(chunks)
    seconds = time.perf_counter() - started
    chunks.close()
    return seconds


def with_threads(threads: int, measure: Callable[[], Any]) -> Any:
    """``measure()`` with torch using ``threads`` threads (0: as it is)."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(threads or saved)
    try:
        return measure()
    finally:
        torch.set_num_threads(saved)


def speed(model: Path, voice: Path, texts: dict[str, str], repeats: int) -> dict[str, Any]:
    """Stock and our synthesis, fp32 and int8, each at 1 thread and at torch's default, side by side."""
    import torch

    default_threads = torch.get_num_threads()
    engine = Engine.load(model, "cpu")
    int8 = Engine.load(model, "cpu", quantize_int8=True)
    latents = engine.conditioning([decode(voice)])
    two, one = texts["two_sentences"], texts["one_sentence"]
    runs: dict[str, list[Any]] = {}
    variants: dict[str, Callable[[], Any]] = {
        "stock_default_threads": lambda: stock_inference(engine, two, latents),
        "stock_1_thread": lambda: with_threads(1, lambda: stock_inference(engine, two, latents)),
        "ours_default_threads": lambda: our_stream(engine, one, latents),
        "ours_1_thread": lambda: with_threads(1, lambda: our_stream(engine, one, latents)),
        "ours_int8_default_threads": lambda: our_stream(int8, one, latents),
        "ours_int8_1_thread": lambda: with_threads(1, lambda: our_stream(int8, one, latents)),
    }
    for repeat in range(repeats):
        for name, measure in variants.items():
            torch.manual_seed(repeat)
            runs.setdefault(name, []).append(measure())
            log.info("synthesis %d %s: %s", repeat + 1, name, runs[name][-1])
    return {
        "default_threads": default_threads,
        "runs": runs,
        "logits": logits_agreement(engine, int8, latents, one),
    }


def logits_agreement(fp32: Engine, int8: Engine, latents: Latents, text: str) -> dict[str, float]:
    """How closely the int8 GPT decoder's audio-token logits follow fp32 on the same inputs."""
    import torch

    torch.manual_seed(0)
    with torch.inference_mode():
        tokens = torch.IntTensor(fp32._model.tokenizer.encode(text.lower(), lang="en")).unsqueeze(0)
        fp32._model.gpt.compute_embeddings(latents.gpt_cond_latent, tokens)
        prompt = fp32._model.gpt.gpt_inference.cached_prefix_emb  # conditioning + text embeddings
        codes = torch.randint(0, 1024, (1, 40))
        a, b = (_decoder_logits(engine._model.gpt, prompt, codes) for engine in (fp32, int8))
    error = (a - b).float()
    return {
        "positions": int(a.shape[0]),
        "top1_agreement": float((a.argmax(-1) == b.argmax(-1)).float().mean()),
        "cosine": float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()),
        "relative_rms_error": float(error.pow(2).mean().sqrt() / a.float().pow(2).mean().sqrt()),
        "max_abs_error": float(error.abs().max()),
        "logit_std": float(a.std()),
    }


def _decoder_logits(gpt: Any, prompt: Any, codes: Any) -> Any:
    """Audio-token logits of the decoder for ``prompt`` (conditioning + text) followed by ``codes``."""
    import torch

    embeds = gpt.mel_embedding(codes) + gpt.mel_pos_embedding(codes)
    hidden = gpt.gpt(inputs_embeds=torch.cat([prompt, embeds], dim=1)).last_hidden_state
    return gpt.mel_head(gpt.final_norm(hidden))[0, prompt.shape[1] :]


def latents_timing(model: Path, voice: Path, cache_dir: Path, repeats: int) -> dict[str, list[float]]:
    """Latents from the memory cache, from the disk cache, computed (miss), and coqui's own call."""
    engine = Engine.load(model, "cpu")
    clips = [decode(voice)]
    key = latents_key([voice], engine.fingerprint, engine.conditioning_settings)
    times: dict[str, list[float]] = {"memory_hit_ms": [], "disk_hit_ms": [], "miss_ms": [], "stock_ms": []}
    LatentsCache(cache_dir).get(key, lambda: engine.conditioning(clips))
    warm = LatentsCache(cache_dir)
    warm.get(key, _unreachable)
    for _ in range(max(repeats, 20)):
        times["memory_hit_ms"].append(_ms(lambda: warm.get(key, _unreachable)))
        times["disk_hit_ms"].append(_ms(lambda: LatentsCache(cache_dir).get(key, _unreachable)))
    for _ in range(repeats):
        times["miss_ms"].append(_ms(lambda: engine.conditioning([decode(voice)])))
        times["stock_ms"].append(_ms(lambda: engine._model.get_conditioning_latents(audio_path=[str(voice)])))
    return times


def _ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _unreachable() -> Latents:
    raise AssertionError("expected a cache hit")
