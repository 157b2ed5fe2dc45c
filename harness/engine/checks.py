"""What a built model is, checked before any training: its parameter count (lazy modules
included) and whether its output is a finite N x 10 float tensor."""

from __future__ import annotations

import torch
import torch.nn as nn


class CandidateError(ValueError):
    """A candidate cannot be trained as built; the message says what it gave."""


def count_parameters(model: nn.Module) -> int:
    """Every nn.Parameter, trainable or frozen, each tensor once (shared weights count once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if isinstance(p, nn.parameter.UninitializedParameter):
            raise CandidateError("the model still has uninitialised (lazy) parameters; run materialise() first")
        total += p.numel()
    return total


def materialise(model: nn.Module, device: torch.device | str = "cpu", batch: int = 2) -> torch.Tensor:
    """One forward pass on a dummy batch in eval mode, so lazy modules take their shapes
    and BatchNorm statistics are untouched; returns the output after checking it."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(batch, 1, 28, 28, device=device))
    except Exception as e:
        raise CandidateError(f"forward pass on a [{batch}, 1, 28, 28] batch failed: {type(e).__name__}: {e}") from e
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise CandidateError(f"output is a {type(out).__name__}, expected a tensor of shape [N, 10]")
    if tuple(out.shape) != (batch, 10):
        raise CandidateError(f"output shape {list(out.shape)} for a batch of {batch}, expected [{batch}, 10]")
    if not out.is_floating_point():
        raise CandidateError(f"output dtype {out.dtype}, expected a floating-point tensor")
    if not torch.isfinite(out).all():
        raise CandidateError("output holds NaN or infinity at initialisation")
    return out
