"""A model's anatomy: one row per layer as a forward pass meets it, with the shapes going in
and out, the parameters the layer holds, its receptive field and jump in input pixels, and
its multiply-accumulates per image."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair
from torch.utils.flop_counter import FlopCounterMode

# Receptive fields are followed through forward hooks, so they are exact for chains of
# modules and approximate where the model's own forward does tensor arithmetic:
# - Conv2d, MaxPool2d, AvgPool2d: kernel, stride, dilation and padding, exactly.
# - A global mean (x.mean((2, 3)), AdaptiveAvgPool2d(1)) or a Linear on a flattened map is
#   taken as one kernel spanning the whole map: every output then sees all of it.
# - A functional pooling (F.max_pool2d(x, s)) is inferred from the map shrinking by an
#   integer factor s, as a kernel s, stride s pooling without padding.
# - Other layers (BatchNorm, ReLU, Dropout, ...) keep the field when they keep the map size.
# - Where branches meet (x + block(x), torch.cat), the module run last before the join is
#   followed, which is the deeper branch in the usual residual block.
# - A layer that changes the map in any other way makes the field unknown (None) from there.


@dataclass
class LayerRow:
    name: str  # dotted path in the model; "(model)" when the model is itself one layer
    type: str  # the module's class name
    input_shape: tuple | None  # of the first tensor argument, batch included; None if none
    output_shape: tuple | str  # a tuple of tuples for several outputs, a type name for non-tensors
    params: int  # held by this module itself; a module called twice counts them once
    rf: tuple[int, int] | None = None  # (h, w) input pixels one output position sees, padding included
    jump: tuple[int, int] | None = None  # (h, w) input pixels between neighbouring output positions
    macs: int = 0  # multiply-accumulates per image; only Conv2d and Linear count (BatchNorm, ReLU, pooling: 0)


@dataclass(frozen=True)
class Field:
    """Where the positions of one map lie in the input, per axis (h, w)."""

    rf: tuple[int, int]  # window size of one position
    jump: tuple[int, int]  # distance between neighbouring positions
    start: tuple[int, int]  # first input pixel of position 0's window (negative: in the padding)
    size: tuple[int, int]  # positions in the map

    def window(self, kernel, stride, padding=(0, 0), dilation=(1, 1), size=None) -> Field:
        """After a sliding window (convolution or pooling)."""
        ax = range(2)
        return Field(
            rf=tuple(self.rf[i] + dilation[i] * (kernel[i] - 1) * self.jump[i] for i in ax),
            jump=tuple(self.jump[i] * stride[i] for i in ax),
            start=tuple(self.start[i] - padding[i] * self.jump[i] for i in ax),
            size=tuple(size) if size is not None else self.size,
        )

    def whole(self) -> Field:
        """After a reduction over the whole map (global pooling, a Linear on it)."""
        return self.window(self.size, self.size, size=(1, 1))

    def covers(self, height: int, width: int) -> bool:
        """Whether every position's window holds the whole input."""
        extent = (height, width)
        return all(
            self.start[i] + (self.size[i] - 1) * self.jump[i] <= 0 and self.start[i] + self.rf[i] >= extent[i]
            for i in range(2)
        )


@dataclass
class Anatomy:
    rows: list[LayerRow]
    input_size: tuple[int, int]  # (h, w) of the dummy image
    head: Field | None  # the field of the model's output; None when it could not be followed
    # Multiply-accumulates per image by torch.utils.flop_counter, which also sees functional
    # convolutions and matrix products that module hooks miss; None when it could not count.
    counted_macs: int | None = None

    @property
    def params(self) -> int:
        """Parameters of the modules the forward pass calls (see probe.count_parameters for all)."""
        return sum(r.params for r in self.rows)

    @property
    def macs(self) -> int:
        """Per image: the flop counter's figure, else the sum over Conv2d and Linear rows."""
        return self.counted_macs if self.counted_macs is not None else sum(r.macs for r in self.rows)

    @property
    def head_rf(self) -> tuple[int, int] | None:
        return self.head.rf if self.head is not None else None

    @property
    def covers(self) -> bool | None:
        """Whether each output of the classifier head sees the whole input image."""
        return self.head.covers(*self.input_size) if self.head is not None else None


def _shape(value) -> tuple | str:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)) and all(isinstance(v, torch.Tensor) for v in value):
        return tuple(tuple(v.shape) for v in value)
    return type(value).__name__


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def _spatial(t: torch.Tensor) -> tuple[int, int] | None:
    return (t.shape[-2], t.shape[-1]) if t.dim() == 4 else None


def _fit(field: Field | None, t: torch.Tensor) -> Field | None:
    """A field carried over to a tensor made outside any module (functional code)."""
    if field is None:
        return None
    size = _spatial(t)
    if size is None:  # flattened or pooled to vectors: a reduction over the map, or nothing to reduce
        return field.whole() if field.size != (1, 1) else field
    if size == field.size:
        return field
    if size == (1, 1):
        return field.whole()
    factor = tuple(field.size[i] // size[i] if size[i] else 0 for i in range(2))
    if all(f >= 2 and field.size[i] // f == size[i] for i, f in enumerate(factor)):
        return field.window(factor, factor, size=size)  # F.max_pool2d(x, f) or the like
    return None


def _macs(module: nn.Module, inp: torch.Tensor | None, out, batch: int) -> int:
    outs = _tensors(out)
    if not outs or batch < 1:
        return 0
    out_per_image = outs[0].numel() // batch
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out_per_image * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return out_per_image * module.in_features
    return 0


def _next_field(module: nn.Module, field: Field | None, inp: torch.Tensor | None, out) -> Field | None:
    outs = _tensors(out)
    if field is None or not outs:
        return field
    out_size = _spatial(outs[0])
    in_size = _spatial(inp) if inp is not None else None
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) and out_size is not None:
        kernel, dilation = _pair(module.kernel_size), _pair(getattr(module, "dilation", 1))  # AvgPool2d has none
        padding = module.padding
        if isinstance(padding, str):  # "valid" or "same"; "same" puts the odd pixel after
            padding = tuple(0 if padding == "valid" else dilation[i] * (kernel[i] - 1) // 2 for i in range(2))
        return field.window(kernel, _pair(module.stride), _pair(padding), dilation, size=out_size)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and out_size is not None:
        if out_size == (1, 1):
            return field.whole()
        # PyTorch's windows vary in size when the sizes do not divide; this is the usual one.
        stride = tuple(max(1, field.size[i] // out_size[i]) for i in range(2))
        kernel = tuple(field.size[i] - (out_size[i] - 1) * stride[i] for i in range(2))
        return field.window(kernel, stride, size=out_size)
    if isinstance(module, nn.Linear):
        return field.whole()
    if isinstance(module, nn.Flatten):
        return field  # the positions stay apart until a layer mixes them
    if out_size is not None and out_size == in_size:
        return field
    if out_size is None and in_size is None:
        return field
    if out_size in ((1, 1), None) and in_size is not None:
        return field.whole()  # a module that pools or flattens the whole map
    return None


def inspect(model: nn.Module, input_shape: tuple = (1, 1, 28, 28), device: torch.device | str = "cpu") -> Anatomy:
    """Run one dummy batch through `model` (eval mode, no gradients, state restored) and
    describe every leaf module it calls, in the order their forward passes end.
    A module holding parameters of its own besides children gets a row too, so the rows'
    params add up to the total. Lazy modules must be materialised first (probe.materialise)."""
    rows: list[LayerRow] = []
    counted: set[int] = set()
    batch = int(input_shape[0])
    x = torch.zeros(input_shape, device=device)
    height, width = (int(d) for d in input_shape[-2:])
    # Each tensor a module made, by id, with the tensor kept alive so the id is not reused.
    fields: dict[int, tuple[torch.Tensor, Field | None]] = {}
    state: dict[str, Field | None] = {"last": Field(rf=(1, 1), jump=(1, 1), start=(0, 0), size=(height, width))}
    fields[id(x)] = (x, state["last"])

    def field_of(t: torch.Tensor | None) -> Field | None:
        if t is None:
            return state["last"]
        hit = fields.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        return _fit(state["last"], t)

    def own_params(module: nn.Module) -> int:
        total = 0
        for p in module.parameters(recurse=False):
            if id(p) not in counted:
                counted.add(id(p))
                total += p.numel()
        return total

    def hook(name: str, leaf: bool):
        def record(module, args, output):
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            outs = _tensors(output)
            if leaf:
                field = _next_field(module, field_of(first), first, output)
            else:  # a container: its children already followed the map to its output
                field = field_of(outs[0]) if outs else state["last"]
            for t in outs:
                fields[id(t)] = (t, field)
            state["last"] = field
            rows.append(
                LayerRow(
                    name=name or "(model)",
                    type=type(module).__name__,
                    input_shape=tuple(first.shape) if first is not None else None,
                    output_shape=_shape(output),
                    params=own_params(module),
                    rf=field.rf if field is not None else None,
                    jump=field.jump if field is not None else None,
                    macs=_macs(module, first, output, batch) if leaf else 0,
                )
            )

        return record

    handles = []
    for name, module in model.named_modules():
        has_children = next(module.children(), None) is not None
        has_own = next(module.parameters(recurse=False), None) is not None
        if not has_children or has_own:
            handles.append(module.register_forward_hook(hook(name, leaf=not has_children)))
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            out = model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    outs = _tensors(out)
    head = field_of(outs[0]) if outs else state["last"]
    # FLOPs of convolutions and matrix products are 2 per multiply-accumulate.
    macs = counter.get_total_flops() // (2 * batch) if batch >= 1 else None
    return Anatomy(rows=rows, input_size=(height, width), head=head, counted_macs=macs)


def layers(model: nn.Module, input_shape: tuple = (1, 1, 28, 28), device: torch.device | str = "cpu") -> list[LayerRow]:
    """The rows of `inspect`."""
    return inspect(model, input_shape, device).rows


# ---------------------------------------------------------------- the same table, read from a traced program
# The judge's `summary` reads the evaluation program the trainer loaded, never the candidate's
# module: each ATen node names the module it came from (its nn_module_stack), so the rows
# group nodes by module, the shapes come from running the graph on one dummy image, and the
# receptive fields follow the graph's own convolutions and poolings, exactly where the hooks
# above had to infer functional code.

_aten = torch.ops.aten
_CONVS = {_aten.conv2d.default, _aten.conv2d.padding}  # the second takes padding="same"/"valid"
_WINDOWS = _CONVS | {_aten.max_pool2d.default, _aten.avg_pool2d.default, _aten.max_pool2d_with_indices.default}
_WHOLE = {_aten.linear.default, _aten.mm.default, _aten.addmm.default, _aten.matmul.default}


def _module_of(node) -> tuple[str, str]:
    """(dotted path, class name) of the innermost module a node was traced in; ("", "") at the top."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, kind = list(stack.values())[-1]
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    # torch.export writes paths as L['self'].block1[0] in some releases and block1.0 in others
    path = path.replace("L['self'].", "").replace("L['self']", "")
    path = "".join(f".{p}" if p.isdigit() else p for p in path.replace("[", "").replace("]", ".").split(".") if p)
    return path.strip("."), kind.rsplit(".", 1)[-1]


def _window_args(node, field: Field, out_size) -> Field:
    args = list(node.args) + [None] * 8
    if node.target in _CONVS:
        kernel = tuple(args[1].meta["val"].shape[-2:]) if hasattr(args[1], "meta") else (1, 1)
        stride, padding, dilation = _pair(args[3] or 1), args[4] if args[4] is not None else 0, _pair(args[5] or 1)
        if isinstance(padding, str):
            padding = tuple(0 if padding == "valid" else dilation[i] * (kernel[i] - 1) // 2 for i in range(2))
        return field.window(kernel, stride, _pair(padding), dilation, size=out_size)
    kernel = _pair(args[1])
    stride = _pair(args[2]) if args[2] else kernel  # an empty stride is the kernel's, as in torch
    dilation = _pair(args[4] or 1) if node.target != _aten.avg_pool2d.default else (1, 1)
    return field.window(kernel, stride, _pair(args[3] or 0), dilation, size=out_size)


def _node_field(node, inputs: list[Field | None], value: torch.Tensor, source: torch.Tensor | None) -> Field | None:
    known = [f for f in inputs if f is not None]
    if not known:
        return None
    field = max(known, key=lambda f: f.rf[0] * f.rf[1])  # where branches meet, the deeper one
    out_size = _spatial(value)
    if node.target in _WINDOWS and out_size is not None:
        return _window_args(node, field, out_size)
    if node.target in _WHOLE:
        return field.whole() if field.size != (1, 1) else field
    if node.target in (_aten.flatten.using_ints, _aten.view.default, _aten.reshape.default):
        return field  # the positions stay apart until a layer mixes them
    if out_size is None and source is not None and _spatial(source) is not None:
        return field.whole()  # a mean or sum over the map
    return _fit(field, value)


def inspect_program(program: torch.fx.GraphModule, input_shape: tuple = (1, 1, 28, 28)) -> Anatomy:
    """The layer table of a traced evaluation program (a GraphModule from torch.export): one
    row per module the graph's nodes came from, in the order the graph meets them."""
    graph_module = program
    height, width = (int(d) for d in input_shape[-2:])
    batch = int(input_shape[0])
    values, flops = _run_recorded(graph_module, torch.zeros(input_shape))
    weights = {id(t): t for t in graph_module.parameters()}
    fields: dict = {}
    rows: list[LayerRow] = []
    counted: set[int] = set()
    current: tuple | None = None
    for node in graph_module.graph.nodes:
        value = values.get(node)
        if node.op == "placeholder":
            fields[node] = (
                Field(rf=(1, 1), jump=(1, 1), start=(0, 0), size=(height, width))
                if isinstance(value, torch.Tensor) and id(value) not in weights and value.dim() == 4
                else None
            )
            continue
        if node.op == "get_attr":
            fields[node] = None
            continue
        if node.op != "call_function" or not isinstance(value, torch.Tensor):
            fields[node] = None
            continue
        tensor_args = [a for a in node.args if isinstance(a, torch.fx.Node)]
        first = next((values[a] for a in tensor_args if _is_activation(values.get(a), weights)), None)
        fields[node] = _node_field(node, [fields.get(a) for a in tensor_args], value, first)
        own = sum(
            values[a].numel() for a in tensor_args if id(values.get(a)) in weights and id(values[a]) not in counted
        )
        counted |= {id(values[a]) for a in tensor_args if id(values.get(a)) in weights}
        macs = _node_macs(node, value, values, batch)
        path, kind = _module_of(node)
        field = fields[node]
        if current is not None and current[0] == path and rows:
            row = rows[-1]
            row.output_shape, row.params, row.macs = tuple(value.shape), row.params + own, row.macs + macs
            row.rf, row.jump = (field.rf, field.jump) if field is not None else (None, None)
            continue
        if not path and not own:
            current = None  # the model's own arithmetic between layers: no row, as with hooks
            continue
        current = (path, kind)
        rows.append(
            LayerRow(
                name=path or "(model)",
                type=kind or type(program).__name__,
                input_shape=tuple(first.shape) if first is not None else None,
                output_shape=tuple(value.shape),
                params=own,
                rf=field.rf if field is not None else None,
                jump=field.jump if field is not None else None,
                macs=macs,
            )
        )
    output = next(n for n in graph_module.graph.nodes if n.op == "output")
    result = output.args[0][0] if isinstance(output.args[0], (tuple, list)) else output.args[0]
    head = fields.get(result)
    return Anatomy(
        rows=rows,
        input_size=(height, width),
        head=head,
        counted_macs=flops // (2 * batch) if batch >= 1 else None,
    )


def _run_recorded(graph_module: nn.Module, x: torch.Tensor) -> tuple[dict, int]:
    """Every node's value for one input, and torch's count of the floating-point operations."""
    values: dict = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            values[n] = out
            return out

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        Recorder(graph_module).run(x)
    return values, counter.get_total_flops()


def _is_activation(value, weights: dict) -> bool:
    return isinstance(value, torch.Tensor) and id(value) not in weights


def _node_macs(node, value: torch.Tensor, values: dict, batch: int) -> int:
    """Multiply-accumulates per image of a convolution or linear node; 0 for anything else."""
    if node.target in _CONVS:
        w = values[node.args[1]]
        return value.numel() // batch * w.shape[1] * w.shape[2] * w.shape[3]
    if node.target == _aten.linear.default:
        return value.numel() // batch * values[node.args[1]].shape[1]
    return 0
