"""Speculative sampling keeps the fp32 model's distribution: the rule analytically, the loop on the
tiny real checkpoint against coqui's own generation (teacher-forced latents, processed distributions)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from voice_daemon.audio import decode
from voice_daemon.settings import ModelSettings
from voice_daemon.synthesis import speculative
from voice_daemon.synthesis.engine import Engine
from voice_daemon.synthesis.speculative import (
    Draft,
    Tally,
    acceptance,
    int8_draft,
    model_draft,
    residual,
    sample,
    verify,
)
from voice_daemon.synthesis.streaming import Threads, _generate, _prompt, piece_latents, stream_piece
from voice_daemon.synthesis.types import Latents, SamplingParams

TEXT = "The washing machine has finished."
PARAMS = SamplingParams()


@pytest.fixture(scope="module")
def voice(engine: Engine, reference: Path) -> Latents:
    return engine.conditioning([decode(reference)])


@pytest.fixture(scope="module")
def draft(engine: Engine) -> Draft:
    with torch.inference_mode():
        return int8_draft(engine._model.gpt)


def prompt_of(engine: Engine, voice: Latents, text: str = TEXT) -> torch.Tensor:
    """The prompt ids; also stores the prefix in the model, as every generation does first."""
    return _prompt(engine._model, text, "en", voice)


def fp32_itself(model: Any) -> Draft:
    inference = model.gpt.gpt_inference
    return Draft(inference.transformer, inference.lm_head)


def outcome(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The exact distribution of one speculative step's token: a draft from ``q`` kept, or its replacement."""
    kept = q * acceptance(p, q)
    return kept + (1 - kept.sum(dim=-1, keepdim=True)) * residual(p, q)


def cut(probs: torch.Tensor, zeros: int) -> torch.Tensor:
    """``probs`` with its ``zeros`` smallest entries removed, renormalised (as top-k / top-p leave them)."""
    smallest = probs.topk(zeros, largest=False).indices
    probs = probs.scatter(-1, smallest, 0.0)
    return probs / probs.sum(dim=-1, keepdim=True)


def test_the_rule_gives_exactly_p() -> None:
    generator = torch.Generator().manual_seed(0)
    for zeros_p, zeros_q in ((0, 0), (3, 0), (0, 3), (4, 2)):
        p = cut(torch.rand(1, 9, generator=generator, dtype=torch.float64) ** 3, zeros_p)
        q = cut(torch.rand(1, 9, generator=generator, dtype=torch.float64) ** 3, zeros_q)
        torch.testing.assert_close(outcome(p, q), p, rtol=0, atol=1e-12)
    p = cut(torch.rand(1, 9, generator=generator, dtype=torch.float64), 2)
    torch.testing.assert_close(outcome(p, p.clone()), p, rtol=0, atol=1e-12)  # nothing left to resample


def test_a_sampled_step_follows_p_of_the_real_models(engine: Engine, voice: Latents, draft: Draft) -> None:
    """p (fp32) and q (int8 draft) of the tiny model where they differ most along a generated piece;
    20 000 drafts from q, each verified, are distributed as p."""
    with torch.inference_mode():
        p, q = most_different(engine, voice, draft)
        assert (p - q).abs().sum() > 0.05  # refusals matter: q alone would fail the check
        torch.manual_seed(7)
        draws = 20_000
        drafted = torch.multinomial(q[0], draws, replacement=True)
        tokens = [verify(p, q, int(x)) for x in drafted]
    made = torch.tensor([int(x) if t is None else t for x, t in zip(drafted, tokens, strict=True)])
    counts = torch.bincount(made, minlength=p.shape[-1]).double()
    expected = p[0].double() * draws
    assert counts[expected == 0].sum() == 0
    support = int((expected > 0).sum())
    assert chi_square(counts[expected > 0], expected[expected > 0]) < chi_square_bound(support - 1)


def most_different(engine: Engine, voice: Latents, draft: Draft) -> tuple[torch.Tensor, torch.Tensor]:
    """The fp32 and draft distributions, teacher-forced along one generated piece, where they differ most."""
    model = engine._model
    prompt = prompt_of(engine, voice)
    torch.manual_seed(1)
    tokens = [token for token, _ in sample(model, prompt, PARAMS, fp32_itself(model), 1)]
    ids = torch.cat([prompt.to(torch.long), torch.tensor([tokens])], dim=1)[:, :-1]
    start, process = prompt.shape[1], speculative.processors(PARAMS)
    rows = []
    for side in (fp32_itself(model), draft):
        decoder = speculative._Decoder(side.transformer, speculative._embedder(model.gpt, start - 1))
        logits = side.head(decoder.feed(ids))[:, start - 1 :]
        rows.append(
            [speculative.distribution(process, ids[:, : start + i], logits[:, i]) for i in range(len(tokens))]
        )
    at = max(range(len(tokens)), key=lambda i: float((rows[0][i] - rows[1][i]).abs().sum()))
    return rows[0][at], rows[1][at]


def chi_square(counts: torch.Tensor, expected: torch.Tensor) -> float:
    """Pearson's statistic, the cells of fewer than 5 expected draws pooled into one."""
    small = expected < 5
    counts = torch.cat([counts[~small], counts[small].sum().reshape(1)])
    expected = torch.cat([expected[~small], expected[small].sum().reshape(1)])
    keep = expected > 0
    return float(((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum())


def chi_square_bound(df: int, z: float = 3.29) -> float:
    """The chi-square quantile at ``z`` standard deviations (p about 0.0005; Wilson-Hilferty)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def test_with_the_fp32_model_as_draft_every_token_is_kept(engine: Engine, voice: Latents) -> None:
    """The draft is the target: every proposal is kept, several tokens per forward, and the latents
    are the teacher-forced fp32 ones."""
    model = engine._model
    with torch.inference_mode():
        prompt = prompt_of(engine, voice)
        torch.manual_seed(11)
        tally = Tally()
        made = list(sample(model, prompt, PARAMS, fp32_itself(model), 4, tally))
        forced = teacher_forced(model, prompt, [token for token, _ in made])
    assert tally.kept == tally.proposed > 0
    assert tally.forwards <= len(made) / 4
    torch.testing.assert_close(torch.cat([latent for _, latent in made]), forced, rtol=0, atol=1e-5)


def test_latents_are_the_fp32_models_at_each_token(engine: Engine, voice: Latents, draft: Draft) -> None:
    """With the int8 draft (refusals happen), each latent is the fp32 model's, teacher-forced."""
    model = engine._model
    with torch.inference_mode():
        prompt = prompt_of(engine, voice)
        torch.manual_seed(5)
        tally = Tally()
        made = list(sample(model, prompt, PARAMS, draft, 4, tally))
        forced = teacher_forced(model, prompt, [token for token, _ in made])
    assert 0 < tally.kept < tally.proposed
    torch.testing.assert_close(torch.cat([latent for _, latent in made]), forced, rtol=0, atol=1e-5)


def teacher_forced(model: Any, prompt: torch.Tensor, tokens: list[int]) -> torch.Tensor:
    """coqui's own forward over the whole sequence: its final-normed hidden states, one per token."""
    inference = model.gpt.gpt_inference
    ids = torch.cat([prompt.to(torch.long), torch.tensor([tokens])], dim=1)
    out = inference(input_ids=ids, return_dict=True, output_hidden_states=True, use_cache=False)
    start = prompt.shape[1] - 1
    latents: torch.Tensor = inference.final_norm(out.hidden_states[-1][0, start : start + len(tokens)])
    return latents


def test_the_processed_distribution_is_generations(
    engine: Engine, voice: Latents, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What coqui's generator samples from, position by position, against ours for the same tokens."""
    model = engine._model
    seen: list[tuple[torch.Tensor, int]] = []
    multinomial = torch.multinomial

    def recording(probs: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        drawn = multinomial(probs, *args, **kwargs)
        seen.append((probs.clone(), int(drawn)))
        return drawn

    params = SamplingParams(temperature=0.6, top_k=30, top_p=0.9, repetition_penalty=3.0)
    with torch.inference_mode():
        prompt = prompt_of(engine, voice)
        torch.manual_seed(2)
        monkeypatch.setattr(torch, "multinomial", recording)
        list(_generate(model, prompt, params))
        monkeypatch.undo()
        ids = torch.cat([prompt.to(torch.long), torch.tensor([[token for _, token in seen]])], dim=1)
        target = fp32_itself(model)
        decoder = speculative._Decoder(
            target.transformer, speculative._embedder(model.gpt, prompt.shape[1] - 1)
        )
        logits = target.head(decoder.feed(ids))[:, prompt.shape[1] - 1 :]
        process = speculative.processors(params)
        ours = [
            speculative.distribution(process, ids[:, : prompt.shape[1] + i], logits[:, i])
            for i in range(len(seen))
        ]
    assert len(seen) == model.gpt.max_gen_mel_tokens
    for (theirs, _), mine in zip(seen, ours, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)


def test_it_stops_at_the_limit(engine: Engine, voice: Latents, draft: Draft) -> None:
    """Random weights never draw the stop token: exactly ``max_gen_mel_tokens`` latents, at any k."""
    model = engine._model
    with torch.inference_mode():
        for k in (1, 3, 6):
            prompt = prompt_of(engine, voice)
            torch.manual_seed(k)
            assert sum(1 for _ in speculative.generate(model, prompt, PARAMS, draft, k)) == (
                model.gpt.max_gen_mel_tokens
            )


@pytest.fixture
def stopping(tiny_model: Path) -> Iterator[Engine]:
    """The tiny model of its own, its fp32 head biased towards the stop token (the draft left unbiased)."""
    engine = Engine.load(tiny_model, "cpu")
    gpt = engine._model.gpt
    with torch.inference_mode():
        gpt.voice_daemon_test_draft = int8_draft(gpt)
        bias = torch.zeros_like(gpt.mel_head.bias)
        bias[gpt.stop_audio_token] = 2.5
        gpt.mel_head.bias = torch.nn.Parameter(gpt.mel_head.bias + bias, requires_grad=False)
    yield engine


def test_it_stops_after_the_stop_token(stopping: Engine, voice: Latents) -> None:
    model = stopping._model
    stop = model.gpt.stop_audio_token
    with torch.inference_mode():
        lengths = []
        for seed in range(6):
            prompt = prompt_of(stopping, voice)
            torch.manual_seed(seed)
            made = list(sample(model, prompt, PARAMS, model.gpt.voice_daemon_test_draft, 4))
            tokens = [token for token, _ in made]
            assert tokens[-1] == stop and stop not in tokens[:-1]
            lengths.append(len(tokens))
    assert max(lengths) < model.gpt.max_gen_mel_tokens
    assert len(set(lengths)) > 1  # stopped at different places in a round of drafts


def test_the_speculative_preset_loads_a_draft_and_the_pieces_are_made_by_it(
    tiny_model: Path, engine: Engine, voice: Latents
) -> None:
    options = ModelSettings(preset="speculative").options()
    assert options["speculative"] and not options["quantize_int8"]
    chosen = Engine.load(tiny_model, "cpu", speculative=True)
    draft = model_draft(chosen._model)
    assert draft is not None and model_draft(engine._model) is None
    assert chosen.identity == f"{engine.identity}-speculative"  # its audio is cached apart from exact's
    with torch.inference_mode():
        torch.manual_seed(4)
        pieces = torch.cat(list(piece_latents(chosen._model, TEXT, "en", voice, PARAMS)))
        torch.manual_seed(4)
        direct = torch.cat(list(speculative.generate(chosen._model, prompt_of(chosen, voice), PARAMS, draft)))
    assert torch.equal(pieces, direct)
    audio = {}
    for name, made in (("speculative", chosen), ("exact", engine)):
        torch.manual_seed(4)
        audio[name] = torch.cat(list(stream_piece(made._model, TEXT, "en", voice, PARAMS, Threads(1, 1))))
    assert len(audio["speculative"]) > 0
    assert not torch.equal(audio["speculative"], audio["exact"])  # the same seed: the draft drew the tokens
