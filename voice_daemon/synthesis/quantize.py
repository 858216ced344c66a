"""Opt-in int8 dynamic quantisation of XTTS's GPT decoder, for faster CPU inference.

Only the autoregressive transformer and its audio-token head are quantised (weights int8,
activations quantised on the fly); the conditioning encoder, the perceiver and HiFi-GAN stay
fp32, so voice latents are the same as without quantisation.  GPT-2's ``Conv1D`` layers are
turned into equivalent ``nn.Linear`` layers first, since only those have int8 kernels.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


def quantize_gpt(gpt: Any) -> None:
    """Quantise ``gpt.gpt`` and ``gpt.mel_head`` of an XTTS GPT in place (before inference set-up)."""
    from torch.ao.quantization import default_dynamic_qconfig

    converted = _conv1d_to_linear(gpt.gpt)
    _quantize(gpt, {"gpt": default_dynamic_qconfig, "mel_head": default_dynamic_qconfig})
    log.info("GPT decoder quantised to int8 (%d Conv1D layers converted to Linear first)", converted)


def int8_copy(module: Any, shared: Iterable[Any] = ()) -> Any:
    """A copy of ``module`` whose linear layers (GPT-2's ``Conv1D`` included) are int8; the modules in
    ``shared`` are not copied but shared, so they must hold no linear layer."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig

    copied = copy.deepcopy(module, {id(part): part for part in shared})
    _conv1d_to_linear(copied)
    _quantize(copied, {torch.nn.Linear: default_dynamic_qconfig})
    return copied


def _quantize(root: Any, spec: dict[Any, Any]) -> None:
    """Dynamic int8 quantisation of what ``spec`` names below ``root``, in place."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        quantize_dynamic(  # type: ignore[no-untyped-call]  # torch leaves quantize_dynamic unannotated
            root, spec, dtype=torch.qint8, inplace=True
        )


def _conv1d_to_linear(module: Any) -> int:
    """Replace every transformers ``Conv1D`` below ``module`` by the same ``nn.Linear``; returns how many."""
    import torch
    from transformers.pytorch_utils import Conv1D

    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, Conv1D):
            in_features, out_features = child.weight.shape
            linear = torch.nn.Linear(in_features, out_features, device="meta")  # no random initialisation
            linear.weight = torch.nn.Parameter(child.weight.detach().t().contiguous(), requires_grad=False)
            linear.bias = torch.nn.Parameter(child.bias.detach().clone(), requires_grad=False)
            setattr(module, name, linear)
            count += 1
        else:
            count += _conv1d_to_linear(child)
    return count
