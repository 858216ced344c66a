"""The XTTS v2 engine: owns the model, turns reference audio into latents and text into audio.

No file or device I/O happens here beyond reading the model directory.  The model is not safe
to call from several threads at once: exactly one owner (the synthesis worker, or a one-shot
command) may use an Engine.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import mmap
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_daemon.audio import Clip, resample
from voice_daemon.errors import ModelUnavailable
from voice_daemon.synthesis.imports import coqui_imports
from voice_daemon.synthesis.text import split_text
from voice_daemon.synthesis.types import Latents, SamplingParams

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.pth", "vocab.json")
_CONDITIONING_RATE = 22_050


def check_model_dir(model_dir: Path) -> None:
    """Raise ModelUnavailable naming the missing files when ``model_dir`` is not a complete model."""
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelUnavailable(
            f"XTTS v2 model files missing in {model_dir}: {', '.join(missing)}. Put config.json, model.pth "
            f"and vocab.json (optionally speakers_xtts.pth) of XTTS v2 there, or set model.accept_license = "
            f"true (or COQUI_TOS_AGREED=1) to download them."
        )


class Engine:
    """A loaded XTTS v2 model.  Use :meth:`load`."""

    def __init__(
        self,
        model: Any,
        model_dir: Path,
        fingerprint: str,
        quantized: bool = False,
        speculative: bool = False,
    ) -> None:
        self._model = model
        self.model_dir = model_dir
        self.fingerprint = fingerprint
        self.quantized = quantized
        self.speculative = speculative
        self.device = str(model.device)
        config = model.config
        self._cond = {
            "max_ref_seconds": int(config.max_ref_len),
            "gpt_cond_len": int(config.gpt_cond_len),
            "gpt_cond_chunk_len": int(config.gpt_cond_chunk_len),
        }

    @classmethod
    def load(
        cls,
        model_dir: Path,
        device: str = "auto",
        threads: int = 0,
        quantize_int8: bool = False,
        speculative: bool = False,
    ) -> Engine:
        """Load ``model_dir`` once: no random initialisation, weights memory-mapped, inference mode.

        ``quantize_int8`` quantises the GPT decoder; ``speculative`` keeps it fp32 and adds an int8
        draft for speculative sampling (``synthesis.speculative``).  Both are for CPU inference only
        (ignored with a warning on CUDA); int8 wins over speculative.
        """
        check_model_dir(model_dir)
        started = time.perf_counter()
        with coqui_imports():
            import torch

            from voice_daemon.synthesis.streaming import Threads, pin_threads

            if threads:
                torch.set_num_threads(threads)
            target = _pick_device(device)
            if quantize_int8 and target != "cpu":
                log.warning(
                    "the int8 GPT (model.preset 'fast') is for CPU inference only; ignored on %s", target
                )
            if speculative and target != "cpu":
                log.warning("speculative sampling (model.preset 'speculative') is for CPU inference only")
            quantize = quantize_int8 and target == "cpu"
            draft = speculative and target == "cpu" and not quantize
            model = _build_model(model_dir, quantize, draft).to(target)
            pin_threads(model, Threads.for_cores(torch.get_num_threads()))
            engine = cls(model, model_dir, _fingerprint(model_dir), quantize, draft)
        variant = ", int8 GPT" if quantize else ", fp32 GPT with an int8 draft" if draft else ""
        log.info(
            "loaded XTTS v2 from %s on %s (%d threads%s) in %.2f s; pieces: %s",
            model_dir,
            target,
            torch.get_num_threads(),
            variant,
            time.perf_counter() - started,
            model.voice_daemon_threads,
        )
        return engine

    @property
    def identity(self) -> str:
        """The model and its variant (int8, speculative or neither): what, besides the inputs, decides
        the audio."""
        if self.quantized:
            return f"{self.fingerprint}-int8"
        return f"{self.fingerprint}-speculative" if self.speculative else self.fingerprint

    @property
    def conditioning_settings(self) -> dict[str, int]:
        """Settings that shape latents; part of every latents cache key."""
        return dict(self._cond)

    def conditioning(self, clips: Sequence[Clip]) -> Latents:
        """Compute the latents of a voice from one or more decoded reference clips."""
        import torch

        limit = self._cond["max_ref_seconds"] * _CONDITIONING_RATE
        audios = [
            torch.from_numpy(resample(clip.samples, clip.sample_rate, _CONDITIONING_RATE)) for clip in clips
        ]
        audios = [audio.clamp(-1, 1)[None, :limit].to(self._model.device) for audio in audios]
        model = self._model
        embeddings = [model.get_speaker_embedding(audio, _CONDITIONING_RATE) for audio in audios]
        gpt_latent = model.get_gpt_cond_latents(
            torch.cat(audios, dim=-1),
            _CONDITIONING_RATE,
            length=self._cond["gpt_cond_len"],
            chunk_length=self._cond["gpt_cond_chunk_len"],
        )
        speaker = torch.stack(embeddings).mean(dim=0)
        return Latents(gpt_latent.detach().cpu().contiguous(), speaker.detach().cpu().contiguous())

    def randomness(self, seed: int | None = None) -> Randomness:
        """The random state one request's pieces draw from (see :class:`Randomness`)."""
        return Randomness(seed)

    def piece(
        self, piece: str, language: str, latents: Latents, params: SamplingParams, randomness: Randomness
    ) -> Iterator[np.ndarray]:
        """Yield float32 audio chunks at 24 kHz of one text piece (see ``split_text``) as each is decoded
        (the first after ``params.first_chunk_size`` tokens, see ``synthesis.streaming``).  Every token
        is drawn from ``randomness``, so what the owner does with the model between chunks or pieces
        changes nothing."""
        from voice_daemon.synthesis.streaming import stream_piece

        yield from randomness.drawing(
            chunk.detach().cpu().numpy().astype(np.float32, copy=False)
            for chunk in stream_piece(self._model, piece, language, latents, params)
        )

    def stream(
        self,
        text: str,
        language: str,
        latents: Latents,
        params: SamplingParams | None = None,
        seed: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[np.ndarray]:
        """The chunks of every piece of ``text`` in turn (:meth:`piece`), for one-shot users."""
        params, randomness = params or SamplingParams(), self.randomness(seed)
        for piece in split_text(text, language):
            for chunk in self.piece(piece, language, latents, params, randomness):
                if cancel is not None and cancel.is_set():
                    return
                yield chunk

    def warm_up(self) -> float:
        """Fault in every page of every weight; returns the seconds taken.

        Weights are memory-mapped, so without this the first request would pay for reading them.
        Reading one element per page maps the page as well as reading all of it does, at about
        two thirds of the cost (0.14 s against 0.22 s for the full-size model).  A warm-up synthesis is
        not needed: measured on the full-size model, a second synthesis costs as much as the first.
        """
        import torch

        started = time.perf_counter()
        with torch.inference_mode():
            for tensor in itertools.chain(self._model.parameters(), self._model.buffers()):
                _touch_pages(tensor)
        return time.perf_counter() - started

    def synthesize(self, text: str, language: str, latents: Latents, **kwargs: Any) -> np.ndarray:
        """The whole of :meth:`stream`, concatenated."""
        chunks = list(self.stream(text, language, latents, **kwargs))
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


class Randomness:
    """The random state of one request: with a seed, its own (as after ``torch.manual_seed(seed)``),
    swapped in for every chunk it makes and out again after, so its audio does not depend on what
    ran between its chunks; without one, the process's shared random state, as always."""

    def __init__(self, seed: int | None = None) -> None:
        self._state = None if seed is None else _seeded_state(seed)

    def drawing(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass ``chunks`` through, each made with this random state in place."""
        while True:
            with self._in_place():
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    @contextmanager
    def _in_place(self) -> Iterator[None]:
        if self._state is None:
            yield
            return
        saved = _rng_state()
        _set_rng_state(self._state)
        try:
            yield
        finally:
            self._state = _rng_state()
            _set_rng_state(saved)


def _rng_state() -> tuple[Any, ...]:
    import torch

    initialized = torch.cuda.is_initialized()  # type: ignore[no-untyped-call]  # unannotated in torch
    cuda = torch.cuda.get_rng_state_all() if initialized else None
    return torch.random.get_rng_state(), cuda


def _set_rng_state(state: tuple[Any, ...]) -> None:
    import torch

    cpu, cuda = state
    torch.random.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


def _seeded_state(seed: int) -> tuple[Any, ...]:
    """The random state ``torch.manual_seed(seed)`` gives, leaving the current one as it is."""
    import torch

    saved = _rng_state()
    torch.manual_seed(seed)
    state = _rng_state()
    _set_rng_state(saved)
    return state


def _touch_pages(tensor: torch.Tensor) -> None:
    """Read one element in every memory page of ``tensor`` (all of it unless it is contiguous)."""
    if not tensor.is_contiguous() or tensor.device.type != "cpu":
        tensor.sum()
        return
    step = max(1, mmap.PAGESIZE // tensor.element_size())
    tensor.view(-1)[::step].sum()


def _pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("model.device is 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
    return device


def _build_model(model_dir: Path, quantize_int8: bool = False, draft: bool = False) -> Any:
    """Construct Xtts without random initialisation, then assign memory-mapped checkpoint tensors."""
    from transformers.modeling_utils import no_init_weights
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.layers.xtts.xtts_manager import SpeakerManager
    from TTS.tts.models.xtts import Xtts

    config = XttsConfig()
    config.load_json(str(model_dir / "config.json"))
    with no_init_weights():
        model = Xtts(config)
        model.tokenizer = VoiceBpeTokenizer(vocab_file=str(model_dir / "vocab.json"))
        if model.gpt is None or model.args.gpt_number_text_tokens != model.tokenizer.get_number_tokens():
            model.init_models()
    speakers = model_dir / "speakers_xtts.pth"
    model.speaker_manager = SpeakerManager(str(speakers)) if speakers.is_file() else None
    model.load_state_dict(_load_state_dict(model, model_dir / "model.pth"), strict=True, assign=True)
    model.hifigan_decoder.eval()
    if quantize_int8:
        from voice_daemon.synthesis.quantize import quantize_gpt

        quantize_gpt(model.gpt)
    model.gpt.init_gpt_for_inference(kv_cache=model.args.kv_cache, use_deepspeed=False)
    model.gpt.eval()
    if draft:
        from voice_daemon.synthesis.speculative import attach_draft, int8_draft

        attach_draft(model, int8_draft(model.gpt))
    return model


def _load_state_dict(model: Any, path: Path) -> dict[str, Any]:
    """Tensors only (``weights_only``), memory-mapped; legacy pickled checkpoints go through coqui."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)["model"]
    except pickle.UnpicklingError:
        log.info("%s is an original XTTS checkpoint; letting coqui-tts convert it once", path)
        state = model._load_checkpoint(path)  # rewrites the file in the weights-only format
    ignored = ("torch_mel_spectrogram_style_encoder", "torch_mel_spectrogram_dvae", "dvae")
    state = {key.removeprefix("xtts."): value for key, value in state.items()}
    return {key: value for key, value in state.items() if key.split(".")[0] not in ignored}


def _fingerprint(model_dir: Path) -> str:
    """Identify the model cheaply: config and vocab contents, checkpoint size and modification time."""
    digest = hashlib.sha256()
    for name in ("config.json", "vocab.json"):
        digest.update((model_dir / name).read_bytes())
    stat = (model_dir / "model.pth").stat()
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
