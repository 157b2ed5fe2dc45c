"""BatchNorm statistics recomputed for the weights that are scored (the recipe's `bn_recalibration`).

Why: a weight average (`ema`) also averages the running statistics the live weights had at
each step, measured on warped digits; neither are the statistics of the averaged weights on
unwarped ones. `recalibrate` recomputes them as torch.optim.swa_utils.update_bn does (an equal-
weight average over batches of the statistics training mode measures), for both kinds of model
the engine trains: modules with BatchNorm layers, and the traced programs, whose graphs call
ATen's batch-norm ops with the momentum written into the graph. tests/test_statistics.py checks
both against update_bn.

Training is untouched: the statistics are the only thing that changes (the counters are put
back), and the global random generator, which dropout draws from in training mode, is restored.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

# ATen's batch-norm ops that can update running statistics (input, weight, bias, running_mean,
# running_var, training, momentum, eps, ...): all put `training` at 5 and the momentum at 6.
# runner.programs reads the same list to tell which buffers are statistics.
TRAINING_BATCH_NORM_OPS = (
    torch.ops.aten.batch_norm.default,
    torch.ops.aten._native_batch_norm_legit.default,
    torch.ops.aten.native_batch_norm.default,
    torch.ops.aten.cudnn_batch_norm.default,
)
_TRAINING, _MOMENTUM = 5, 6


def _graph_sites(gm: torch.fx.GraphModule, undo: contextlib.ExitStack) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The running statistics a graph's batch-norm calls update; their momentum is set to 1, so
    that after a forward pass they hold that batch's statistics (put back on `undo`)."""
    sites, changed = [], []
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target not in TRAINING_BATCH_NORM_OPS or node.args[_TRAINING] is not True:
            continue
        mean, var = node.args[3], node.args[4]
        if not all(isinstance(a, torch.fx.Node) and a.op == "get_attr" for a in (mean, var)):
            continue  # statistics that are not the graph's buffers are not kept across batches
        sites.append((gm.get_buffer(mean.target), gm.get_buffer(var.target)))
        changed.append((node, node.args))
        node.args = (*node.args[:_MOMENTUM], 1.0, *node.args[_MOMENTUM + 1 :])
    if changed:
        gm.recompile()

        def restore():
            for node, args in changed:
                node.args = args
            gm.recompile()

        undo.callback(restore)
    return sites


def _module_sites(m: _BatchNorm, undo: contextlib.ExitStack) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if not m.track_running_stats or m.running_mean is None or m.running_var is None:
        return []
    undo.callback(setattr, m, "momentum", m.momentum)
    m.momentum = 1.0
    return [(m.running_mean, m.running_var)]


@torch.no_grad()
def recalibrate(model: nn.Module, images: torch.Tensor, batch_size: int) -> int:
    """Replace the BatchNorm running statistics of `model` by their average over `images`
    (already normalised, [N, 1, 28, 28]) in batches of `batch_size`; returns how many layers
    were recomputed (0: the model has none, and nothing changed). On an error nothing changes."""
    with contextlib.ExitStack() as undo:
        sites = []
        for m in model.modules():
            if isinstance(m, torch.fx.GraphModule):
                sites += _graph_sites(m, undo)
            elif isinstance(m, _BatchNorm):
                sites += _module_sites(m, undo)
        unique = list({id(mean): (mean, var) for mean, var in sites}.values())
        if not unique:
            return 0
        kept = {name: b.clone() for name, b in model.named_buffers()}
        undo.callback(model.train, model.training)
        sums = [(torch.zeros_like(mean), torch.zeros_like(var)) for mean, var in unique]
        batches = 0
        devices = [images.device] if images.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                model.train()
                for i in range(0, len(images), batch_size):
                    model(images[i : i + batch_size])
                    for (mean, var), (sum_mean, sum_var) in zip(unique, sums, strict=True):
                        sum_mean += mean
                        sum_var += var
                    batches += 1
        finally:
            for name, b in model.named_buffers():
                b.copy_(kept[name])
        for (mean, var), (sum_mean, sum_var) in zip(unique, sums, strict=True):
            mean.copy_(sum_mean / batches)
            var.copy_(sum_var / batches)
        return len(unique)
