"""Streaming one text piece through XTTS v2 with a small first chunk, decoding each chunk once.

XTTS's GPT generator yields one latent per audio token.  The first chunk alone decides when a
listener hears something, so it is ``first_chunk_size`` tokens; later chunks are
``stream_chunk_size``.  Every chunk is decoded once (``synthesis.decoding``): the vocoder sees the
new latents plus a bounded context, never the whole piece again, so a chunk costs the same
however long the piece is, and the joined chunks equal one whole-piece decode.  The tokens, and so
the speech, do not depend on where the chunks are cut.

On a CPU the two halves run at the same time (:class:`Threads`): one thread generates the GPT
latents of chunk ``n + 1`` while another decodes chunk ``n``, joined by a bounded queue.  The
decoder sees exactly the calls it would see in turn, so the audio is the same, bit for bit; only
the GPT thread draws random numbers, in the same order as before.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from voice_daemon.errors import RequestError
from voice_daemon.synthesis import speculative
from voice_daemon.synthesis.decoding import IncrementalDecoder
from voice_daemon.synthesis.kvcache import in_place_cache

if TYPE_CHECKING:
    from voice_daemon.synthesis.types import Latents, SamplingParams

log = logging.getLogger(__name__)

Batches = Generator[tuple[torch.Tensor, bool], None, None]
HANDOFF_CHUNKS = 2  # GPT chunks that may wait for the decoder before generation pauses


@dataclass(frozen=True)
class Threads:
    """How a piece is spread over the cores: torch intra-op threads for GPT generation and for
    HiFi-GAN decoding, each on its own thread; ``gpt = 0`` runs both in turn on the caller's thread
    (with its thread setting), as before the pipeline.

    Until its first chunk is handed over the decoder has nothing to do, so GPT generation uses
    ``first_chunk`` threads for it (0: the decoder's as well as its own), which is what decides when
    a listener first hears something."""

    gpt: int = 1
    decoder: int = 1
    first_chunk: int = 0

    @property
    def before_first_chunk(self) -> int:
        """Torch threads of GPT generation until its first chunk is handed to the decoder."""
        return self.first_chunk or self.gpt + self.decoder

    @classmethod
    def for_cores(cls, cores: int) -> Threads:
        """The measured best split of ``cores`` (docs/benchmarks.md): GPT generation is memory-bound
        and gets the larger half; with one core there is nothing to overlap."""
        if cores <= 1:
            return cls(gpt=0, decoder=0)
        return cls(gpt=cores - cores // 2, decoder=cores // 2)


def pin_threads(model: Any, threads: Threads) -> None:
    """Record on ``model`` how its pieces use the cores (``Engine.load`` does, from ``model.threads``)."""
    model.voice_daemon_threads = threads


def stream_piece(
    model: Any,
    text: str,
    language: str,
    latents: Latents,
    params: SamplingParams,
    threads: Threads | None = None,
) -> Iterator[torch.Tensor]:
    """Yield the audio of ``text`` (one sentence-sized piece) chunk by chunk, at 24 kHz.

    ``threads`` (default: what :func:`pin_threads` recorded, else :meth:`Threads.for_cores` of
    torch's thread count) pipelines GPT generation and decoding; the chunks are the same either way."""
    with torch.inference_mode():
        prompt = _prompt(model, text, language, latents)  # a bad piece is refused before any thread starts
    threads = threads or getattr(model, "voice_daemon_threads", None)
    threads = threads or Threads.for_cores(torch.get_num_threads())
    decoder = IncrementalDecoder(model, latents.speaker_embedding.to(model.device), params.speed)
    batches = _batches(model, prompt, params)
    if not threads.gpt or model.device.type != "cpu":
        return _in_turn(decoder, batches)
    return _pipelined(decoder, batches, threads)


def piece_latents(
    model: Any, text: str, language: str, latents: Latents, params: SamplingParams
) -> Iterator[Any]:
    """The GPT latents of ``text``, one per generated audio token (XTTS's streaming generator)."""
    yield from _latents(model, _prompt(model, text, language, latents), params)


def _prompt(model: Any, text: str, language: str, latents: Latents) -> torch.Tensor:
    """The GPT's input embeddings: the voice's conditioning latents, then the text's tokens."""
    tokens = _tokens(model, text, language)
    embeddings: torch.Tensor = model.gpt.compute_embeddings(latents.gpt_cond_latent.to(model.device), tokens)
    return embeddings


def _generate(model: Any, prompt: torch.Tensor, params: SamplingParams) -> Iterator[Any]:
    generator = model.gpt.get_generator(
        fake_inputs=prompt,
        top_k=params.top_k,
        top_p=params.top_p,
        temperature=params.temperature,
        length_penalty=float(params.length_penalty),
        repetition_penalty=float(params.repetition_penalty),
        do_sample=True,
        num_beams=1,
        num_return_sequences=1,
        output_attentions=False,
        output_hidden_states=True,
        return_dict_in_generate=True,
        past_key_values=in_place_cache(),
    )
    for _, latent in generator:
        yield latent


def _latents(model: Any, prompt: torch.Tensor, params: SamplingParams) -> Iterator[Any]:
    """One latent per audio token: by speculative sampling where the model has a draft
    (``model.preset = "speculative"``), else from XTTS's own generator."""
    draft = speculative.model_draft(model)
    return speculative.generate(model, prompt, params, draft) if draft else _generate(model, prompt, params)


def _batches(model: Any, prompt: torch.Tensor, params: SamplingParams) -> Batches:
    """The piece's latents in decoder chunks (``first_chunk_size``, then ``stream_chunk_size``), each
    with whether it is the last; the last may be empty."""
    pending: list[torch.Tensor] = []
    size = params.first_chunk_size
    for latent in _latents(model, prompt, params):
        pending.append(latent.reshape(-1, latent.shape[-1]))
        if len(pending) >= size:
            yield torch.cat(pending), False
            pending, size = [], params.stream_chunk_size
    yield (torch.cat(pending) if pending else prompt.new_zeros(0, prompt.shape[-1])), True


def _decode(decoder: IncrementalDecoder, batch: torch.Tensor, final: bool) -> torch.Tensor:
    if len(batch):
        decoder.add(batch)
    return decoder.decode(final=final)


@torch.inference_mode()
def _in_turn(decoder: IncrementalDecoder, batches: Batches) -> Iterator[torch.Tensor]:
    """Generate a chunk, decode it, hand it out, on the caller's thread."""
    for batch, final in batches:
        if len(chunk := _decode(decoder, batch, final)):
            yield chunk


_END = object()


def _pipelined(decoder: IncrementalDecoder, batches: Batches, threads: Threads) -> Iterator[torch.Tensor]:
    """GPT generation and decoding on two threads of their own; the caller only receives audio.

    Latents wait in a queue of ``HANDOFF_CHUNKS``; audio is not bounded (a piece's audio is small),
    so a slow consumer, such as a player writing in real time, never holds generation up.  Closing
    the iterator early stops both threads at the next token."""
    stop = threading.Event()
    latents: queue.Queue[Any] = queue.Queue(maxsize=HANDOFF_CHUNKS)
    audio: queue.Queue[Any] = queue.Queue()

    def generate() -> None:
        try:
            for index, item in enumerate(batches):
                if not _put(latents, item, stop):
                    return
                if index == 0:  # the decoder has work from now on: the cores are shared
                    torch.set_num_threads(threads.gpt)
            _put(latents, _END, stop)
        finally:
            batches.close()  # on this thread, where it ran

    def decode() -> None:
        while (item := _get(latents, stop)) is not _END:
            if item is None:  # stopped: the consumer left, or the GPT thread failed and said so
                return
            if len(chunk := _decode(decoder, *item)):
                audio.put(chunk)
        audio.put(_END)

    workers = [
        _start("gpt", threads.before_first_chunk, generate, audio, stop),
        _start("decoder", threads.decoder, decode, audio, stop),
    ]
    try:
        while (item := audio.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def _start(
    name: str, threads: int, body: Callable[[], None], errors: queue.Queue[Any], stop: threading.Event
) -> threading.Thread:
    """Run ``body`` on a new thread with ``threads`` torch threads, in inference mode; an exception
    goes into ``errors`` for the consumer to raise."""

    def run() -> None:
        torch.get_num_threads()  # torch's lazy per-thread set-up first, which would later undo ours
        torch.set_num_threads(threads)  # per thread: the OpenMP and MKL settings of this thread only
        try:
            with torch.inference_mode():
                body()
        except Exception as error:  # handed to the consumer, which raises it
            log.debug("%s thread failed: %r", name, error)
            stop.set()
            errors.put(error)

    thread = threading.Thread(target=run, name=f"synthesis-{name}", daemon=True)
    thread.start()
    return thread


def _put(target: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            target.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(source: queue.Queue[Any], stop: threading.Event) -> Any:
    while not stop.is_set():
        try:
            return source.get(timeout=0.1)
        except queue.Empty:
            continue
    return None


def _tokens(model: Any, text: str, language: str) -> torch.Tensor:
    tokens = model.tokenizer.encode(text.strip().lower(), lang=language.split("-")[0])
    if len(tokens) >= model.args.gpt_max_text_tokens:
        raise RequestError(
            f"a text piece has {len(tokens)} tokens; XTTS takes fewer than "
            f"{model.args.gpt_max_text_tokens}: {text[:60]!r}"
        )
    return torch.IntTensor(tokens).unsqueeze(0).to(model.device)
