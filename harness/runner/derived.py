"""Values a program computes from its weights alone, before it reads the images, under the
trial's seed and under the check seed.

The seed check compares the tensors a program reads. A weight can also be written so that it
only exists inside the graph: for example a seed draw `W = P + R(k)` is stored, and the graph
subtracts `R(k)`, recomputed from a seed-drawn number `k`. Every stored tensor then changes
with the seed, but the value the graph computes, `P`, does not. This module evaluates every
node that depends on the weights and not on the input, once with the program's own tensors and
once with the check seed's. The judge then puts each pair through the same seed check.
"""

from __future__ import annotations

import torch
from torch.fx.node import map_arg

LIMIT = 1_000_000  # values computed from weights alone, over both programs; models here compute 0 to 8k
# Operators that only move, copy or relabel one input's values: their output repeats a value
# already compared, and counting it again would weigh one draw twice in the pooled test.
COPIES = {
    "alias",
    "as_strided",
    "clone",
    "contiguous",
    "detach",
    "detach_",
    "expand",
    "flatten",
    "lift_fresh_copy",
    "permute",
    "reshape",
    "select",
    "slice",
    "squeeze",
    "t",
    "transpose",
    "unflatten",
    "unsqueeze",
    "view",
    "_to_copy",
    "to",
}


class TooMany(ValueError):
    """More values computed from weights alone than the judge will compare."""


def _op(node) -> str:
    return str(getattr(getattr(node.target, "overloadpacket", None), "__name__", node.target))


def _values(graph: torch.fx.GraphModule, tensors: dict[str, torch.Tensor], varying: set[str]) -> dict:
    """{node name: value} for each float value the graph computes from `tensors` alone (never
    from the input) that depends on a tensor in `varying`, copies left out, and so are values
    that vary only through one- or two-element tensors. A fixed ramp times a drawn scale
    (`arange(n) * k`) keeps its pattern under every seed, but a pattern made from literals and
    a few numbers carries no table."""
    env: dict = {}
    from_input: set = set()
    varies: set = set()
    by_scalars: set = set()
    found = {}
    for n in graph.graph.nodes:
        if n.op == "placeholder":
            from_input.add(n)
        elif n.op == "get_attr" and n.target in tensors:
            env[n] = tensors[n.target].clone()  # an in-place operator must not change the weights
            if n.target in varying:
                varies.add(n)
                if env[n].numel() <= 2:
                    by_scalars.add(n)
        elif n.op == "call_function":
            inputs = n.all_input_nodes
            if any(a in from_input or a not in env for a in inputs):
                from_input.add(n)
                continue
            args, kwargs = map_arg((n.args, n.kwargs), lambda a: env[a])
            env[n] = n.target(*args, **kwargs)
            drawn = [a for a in inputs if a in varies]
            if drawn:
                varies.add(n)
                if all(a in by_scalars for a in drawn):
                    by_scalars.add(n)
                    continue
                value = env[n]
                if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel() > 2:
                    if _op(n) not in COPIES:
                        found[n.name] = value.detach().cpu()
    return found


def _own(graph: torch.fx.GraphModule) -> dict[str, torch.Tensor]:
    """Every tensor the graph reads (parameters, buffers, constants), by the name it reads it under."""
    own = {}
    for n in graph.graph.nodes:
        if n.op == "get_attr":
            prefix, _, leaf = n.target.rpartition(".")
            value = getattr(graph.get_submodule(prefix), leaf)
            if isinstance(value, torch.Tensor):  # anything else is left uncomputed, as if read from the input
                own[n.target] = value.detach().cpu()
    return own


def compare(program, check: dict[str, dict[str, torch.Tensor]]) -> tuple[dict, dict]:
    """({name: value} under the program's own tensors, the same under the check seed's), over
    both programs; `check` holds the check seed's tensors per mode, by the names the graphs read.
    TooMany past LIMIT values."""
    mine, theirs, total = {}, {}, 0
    with torch.no_grad():
        for mode, graph in (("train", program.train_graph), ("eval", program.eval_graph)):
            own = _own(graph)
            twin = {k: check[mode].get(k, v) for k, v in own.items()}
            varying = {
                k
                for k, v in own.items()
                if twin[k].shape != v.shape or twin[k].dtype != v.dtype or not torch.equal(v, twin[k])
            }
            a, b = _values(graph, own, varying), _values(graph, twin, varying)
            for key in a:
                total += a[key].numel()
                if total > LIMIT:
                    raise TooMany(
                        f"its programs compute more than {LIMIT:,} values from their weights alone, before "
                        "reading the images; compute weights from weights at most that much"
                    )
                mine[f"{key} (computed, {mode} program)"] = a[key]
                if key in b:
                    theirs[f"{key} (computed, {mode} program)"] = b[key]
    return mine, theirs
