"""The budget as the judge counts it: every value of the state dict a runner hands back (and
every tensor it reports outside it), each storage once, BatchNorm running statistics aside."""
from __future__ import annotations

from dataclasses import dataclass

import torch

BN_STATS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Budget:
    """What a state dict costs: every value, except BatchNorm running statistics of the size
    of their layer's weight."""

    total: int
    tensors: tuple[tuple[str, int], ...]  # (name, values) of what counted, largest first
    excluded: tuple[str, ...]  # the running statistics left out

    def largest(self, n: int = 3) -> str:
        return ", ".join(f"{name!r} ({values:,})" for name, values in self.tensors[:n])


def count_state(state: dict[str, torch.Tensor], hidden: dict[str, int] | None = None) -> Budget:
    """Values in a state dict, each storage once (tied weights count once; a small tensor that
    is a view into a large hidden storage counts the whole storage), plus `hidden`: tensors
    the runner found outside the state dict, by name and size."""
    excluded = set()
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf != "running_mean":
            continue
        stem = f"{prefix}." if prefix else ""
        var, tracked, weight = (state.get(stem + n) for n in ("running_var", "num_batches_tracked", "weight"))
        shape = tuple(value.shape)
        if (len(shape) == 1 and var is not None and tuple(var.shape) == shape and tracked is not None
                and tracked.numel() == 1 and weight is not None and tuple(weight.shape) == shape):
            excluded |= {stem + n for n in BN_STATS}
    seen, counted = set(), []
    for key, value in state.items():
        if key in excluded:
            continue
        storage = value.untyped_storage()
        ident = (storage.data_ptr(), storage.nbytes())
        if ident in seen and storage.nbytes() > 0:
            continue
        seen.add(ident)
        counted.append((key, max(value.numel(), storage.nbytes() // max(value.element_size(), 1))))
    counted += [(f"{key} (outside the state dict)", int(n)) for key, n in (hidden or {}).items() if int(n) > 0]
    counted.sort(key=lambda kv: -kv[1])
    return Budget(sum(v for _, v in counted), tuple(counted), tuple(sorted(excluded)))


def over_budget(name: str, budget: Budget, max_params: int) -> str | None:
    if budget.total <= max_params:
        return None
    return (f"{name}: {budget.total:,} parameters > {max_params:,} (counted over every tensor of its state "
            f"dict, buffers included; largest: {budget.largest()})")
