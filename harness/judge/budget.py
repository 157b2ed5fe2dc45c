"""The budget as the judge counts it: every tensor the traced programs read that is not the
input (parameters, buffers, lifted constants), each storage once, in real scalars, except the
running statistics a batch-norm op of the graph keeps (harness.runner.programs decides which)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Budget:
    """What a program costs: every value it reads, except batch-norm running statistics."""

    total: int
    tensors: tuple[tuple[str, int], ...]  # (name, values) of what counted, largest first
    excluded: tuple[str, ...]  # the running statistics left out

    def largest(self, n: int = 3) -> str:
        return ", ".join(f"{name!r} ({values:,})" for name, values in self.tensors[:n])


def real_scalars(t: torch.Tensor) -> int:
    """Values a tensor can hold: its whole storage (a small view of a large storage pays for all
    of it), and at least one per four bytes, so a complex value counts as two real ones and
    nothing can be packed into wider elements for free."""
    nbytes = t.untyped_storage().nbytes()
    return max(t.numel(), nbytes // max(t.element_size(), 1), nbytes // 4)


def count(tensors: dict[str, torch.Tensor], free: tuple[str, ...] | list[str] = ()) -> Budget:
    """Values in `tensors` (every tensor the programs read, by name), each storage once (tied
    weights count once), less those named in `free`."""
    excluded = sorted(k for k in tensors if k in set(free))
    seen, counted = set(), []
    for key, value in tensors.items():
        if key in excluded:
            continue
        storage = value.untyped_storage()
        ident = (storage.data_ptr(), storage.nbytes())
        if ident in seen and storage.nbytes() > 0:
            continue
        seen.add(ident)
        counted.append((key, real_scalars(value)))
    counted.sort(key=lambda kv: -kv[1])
    return Budget(sum(v for _, v in counted), tuple(counted), tuple(excluded))


def over_budget(name: str, budget: Budget, max_params: int) -> str | None:
    if budget.total <= max_params:
        return None
    return (
        f"{name}: {budget.total:,} parameters > {max_params:,} (counted over every tensor its traced "
        f"programs read, buffers and constants included; largest: {budget.largest()})"
    )
