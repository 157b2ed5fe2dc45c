"""A model's anatomy: one row per layer as a forward pass meets it, with the shapes going in
and out and the parameters the layer itself holds."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class LayerRow:
    name: str  # dotted path in the model; "(model)" when the model is itself one layer
    type: str  # the module's class name
    input_shape: tuple | None  # of the first tensor argument, batch included; None if none
    output_shape: tuple | str  # a tuple of tuples for several outputs, a type name for non-tensors
    params: int  # held by this module itself; a module called twice counts them once


def _shape(value) -> tuple | str:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and all(isinstance(v, torch.Tensor) for v in value):
        return tuple(tuple(v.shape) for v in value)
    return type(value).__name__


def layers(model: nn.Module, input_shape: tuple = (1, 1, 28, 28),
           device: torch.device | str = "cpu") -> list[LayerRow]:
    """Run one dummy batch through `model` (eval mode, no gradients, state restored) and
    return a row for every leaf module it calls, in the order their forward passes end.
    A module holding parameters of its own besides children gets a row too, so the rows'
    params add up to the total. Lazy modules must be materialised first (probe.materialise)."""
    rows: list[LayerRow] = []
    counted: set[int] = set()

    def own_params(module: nn.Module) -> int:
        total = 0
        for p in module.parameters(recurse=False):
            if id(p) not in counted:
                counted.add(id(p))
                total += p.numel()
        return total

    def hook(name: str):
        def record(module, args, output):
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            rows.append(LayerRow(
                name=name or "(model)", type=type(module).__name__,
                input_shape=tuple(first.shape) if first is not None else None,
                output_shape=_shape(output), params=own_params(module),
            ))
        return record

    handles = []
    for name, module in model.named_modules():
        has_children = next(module.children(), None) is not None
        has_own = next(module.parameters(recurse=False), None) is not None
        if not has_children or has_own:
            handles.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return rows
