"""Programs: a candidate as the harness trains and scores it. The builder traces the
candidate's forward twice with torch.export (training mode, evaluation mode; the batch
dimension dynamic) and hands back the graphs as JSON and the tensors they read as plain
data. The trainer checks the JSON, loads it without unpickling anything, and trains and
scores the graphs; no code of the candidate's runs there. What is traced is what is judged:
the budget, the seed check, the mutation rules and the saved weights are all read from
these programs, never from the candidate's objects."""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch._export.serde import serialize as serde
from torch.export import Dim
from torch.utils import _pytree as pytree

from harness.engine.statistics import TRAINING_BATCH_NORM_OPS

EXAMPLE_SHAPE = (2, 1, 28, 28)  # the traced example; the batch dimension stays symbolic
MODES = ("train", "eval")
# Numbers written into the operators' arguments (strides, paddings, eps, dropout rates, view
# shapes): the models here write 6 to 84 per program. Weights belong in tensors, where the budget
# counts them and the seed check compares them; each literal is one the budget would not see.
MAX_LITERALS = 512
# Ops a program may call: ATen's, except those that reach outside the computation.
DENIED_ATEN = frozenset({"from_file", "_nested_tensor_from_tensor_list", "set_", "_local_scalar_dense"})
SYMBOLIC_OPS = {
    "_operator.getitem": operator.getitem,
    "_operator.add": operator.add,
    "_operator.sub": operator.sub,
    "_operator.mul": operator.mul,
    "_operator.floordiv": operator.floordiv,
}
_ATEN_TARGET = re.compile(r"torch\.ops\.aten\.([a-z0-9_]+)\.([A-Za-z0-9_]+)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Shape expressions are parsed by sympy, which evaluates them: only a batch symbol, integers,
# arithmetic and these functions may appear.
_SYMBOL_DECL = re.compile(r"Symbol\('s\d+', positive=True, integer=True\)")
_SYMPY_NAMES = frozenset({"FloorDiv", "CleanDiv", "CeilDiv", "Mod", "PythonMod", "Max", "Min"})
_EXPR_CHARS = re.compile(r"[A-Za-z0-9_+\-*/(), ]*")
MAX_EXPR = 400  # characters of a shape expression, its symbol declarations shortened
MAX_DIGITS = 12
# Attribute names a module already has: a weight called `forward` or `training` would replace them.
_RESERVED = frozenset(dir(torch.fx.GraphModule)) | {"graph", "code", "meta"}


class ProgramError(ValueError):
    """A program that cannot be trained or breaks a rule; the message names the tensor or op."""


# ---------------------------------------------------------------- the builder's side


def export(model: nn.Module, modes: tuple[str, ...] = MODES) -> dict:
    """The candidate's programs as plain data: {"graphs": {mode: JSON bytes}, "state": {name:
    tensor}, "constants": {mode: {name: tensor}}}. Raises torch's error when it cannot trace."""
    example = torch.zeros(EXAMPLE_SHAPE)
    graphs, state, constants = {}, {}, {}
    was_training = model.training
    try:
        for mode in modes:
            model.train(mode == "train")
            ep = torch.export.export(model, (example,), dynamic_shapes=({0: Dim("batch")},), strict=False)
            graphs[mode] = serde.serialize(ep).exported_program
            state.update({k: v.detach() for k, v in ep.state_dict.items()})
            constants[mode] = {k: v.detach() for k, v in ep.constants.items() if isinstance(v, torch.Tensor)}
    finally:
        model.train(was_training)
    return {"graphs": graphs, "state": state, "constants": constants}


# ---------------------------------------------------------------- checking a graph as data


def _check_expr(expr: str) -> None:
    rest = _SYMBOL_DECL.sub("s0", expr)
    # sympy computes integer arithmetic as it parses: "9**9**9**9" or a product of a million
    # large numbers would keep the trainer busy for hours before any limit is reached.
    if len(rest) > MAX_EXPR or "**" in rest or any(len(n) > MAX_DIGITS for n in re.findall(r"\d+", rest)):
        raise ProgramError(
            f"a shape expression is longer, has larger numbers or powers than any shape needs: {expr[:80]!r}"
        )
    if not _EXPR_CHARS.fullmatch(rest):
        raise ProgramError(f"a shape expression holds characters no shape needs: {expr[:80]!r}")
    for name in _NAME.findall(rest):
        if name not in _SYMPY_NAMES and not re.fullmatch(r"s\d+", name):
            raise ProgramError(f"a shape expression names {name!r}: {expr[:80]!r}")


def _check_fqn(fqn: str, what: str) -> None:
    parts = fqn.split(".")
    for part in parts:
        if (
            not re.fullmatch(r"[A-Za-z0-9_]+", part)
            or part.startswith("__")
            or (part in _RESERVED and part == parts[-1])
        ):
            raise ProgramError(f"{what} {fqn[:80]!r} is not a plain attribute path")


def _check_target(target: str) -> None:
    if target in SYMBOLIC_OPS:
        return
    m = _ATEN_TARGET.fullmatch(target)
    if m is None:
        raise ProgramError(
            f"the program calls {target[:80]!r}; only ATen operators can be trained "
            f"(a custom or higher-order op cannot: write the forward with torch's own ops)"
        )
    name, overload = m.groups()
    if name in DENIED_ATEN:
        raise ProgramError(f"the program calls aten.{name}, which reaches outside the computation")
    packet = getattr(torch.ops.aten, name, None)
    op = getattr(packet, overload, None) if packet is not None else None
    if not isinstance(op, torch._ops.OpOverload):
        raise ProgramError(f"the program calls an unknown operator aten.{name}.{overload}")


def _walk(obj, visit, key: str = "") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            visit(k, v)
            _walk(v, visit, k)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, visit, key)


def _canonical_specs() -> tuple[str, str]:
    t = torch.zeros(1)
    return (pytree.treespec_dumps(pytree.tree_structure(((t,), {}))), pytree.treespec_dumps(pytree.tree_structure(t)))


def check_graph(blob: bytes, mode: str) -> bytes:
    """The program's JSON, checked as data before torch reads it, and with what torch would run
    as code removed. torch's deserializer resolves targets by attribute path, parses shape
    expressions with sympy (an eval) and compiles guard code, so each of those is checked or
    dropped here. Returns the JSON to deserialize; raises ProgramError naming the first breach."""
    if not isinstance(blob, bytes) or len(blob) > 64 * 1024 * 1024:
        raise ProgramError(f"the {mode} program is not a JSON document of at most 64 MiB")
    try:
        doc = json.loads(blob)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProgramError(f"the {mode} program is not JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("graph_module"), dict):
        raise ProgramError(f"the {mode} program has no graph")
    doc["guards_code"] = []  # Python source torch would compile; the harness checks shapes itself
    gm = doc["graph_module"]
    gm["metadata"] = {}
    gm["treespec_namedtuple_fields"] = {}
    graph = gm.get("graph") or {}
    if graph.get("custom_obj_values"):
        raise ProgramError(f"the {mode} program holds script objects; only tensors can be weights")
    for key in doc.get("range_constraints") or {}:
        if not re.fullmatch(r"s\d+", key):
            raise ProgramError(f"the {mode} program constrains {key[:40]!r}, which is not a batch symbol")
    in_spec, out_spec = _canonical_specs()
    calls = gm.get("module_call_graph") or []
    if (
        not calls
        or (calls[0].get("signature") or {}).get("in_spec") != in_spec
        or calls[0]["signature"].get("out_spec") != out_spec
    ):
        raise ProgramError(f"the {mode} program does not take one tensor and return one tensor")
    for entry in calls[1:]:
        entry["signature"] = None
        if entry.get("fqn"):
            _check_fqn(entry["fqn"], "a module path")
    literals = [0]

    def visit(key, value):
        if key == "expr_str":
            if not isinstance(value, str):
                raise ProgramError("a shape expression is not text")
            _check_expr(value)
        elif key == "as_graph" and value is not None:
            raise ProgramError(
                f"the {mode} program holds a subgraph (control flow or a higher-order op); "
                f"write the forward without torch.cond, checkpointing or no_grad blocks"
            )
        elif key in ("parameter_name", "buffer_name", "tensor_constant_name"):
            _check_fqn(str(value), "a tensor name")

    def count(key, value):  # in the operators' arguments only: tensor metadata holds sizes too
        if key in ("as_float", "as_int"):
            literals[0] += 1
        elif key in ("as_floats", "as_ints", "as_bools") and isinstance(value, list):
            literals[0] += len(value)

    _walk(gm, visit)
    _walk([node.get("inputs") for node in graph.get("nodes") or []], count)
    for node in graph.get("nodes") or []:
        _check_target(str(node.get("target")))
        meta = node.get("metadata") or {}
        node["metadata"] = {k: str(meta[k]) for k in ("stack_trace", "nn_module_stack") if k in meta}
    if literals[0] > MAX_LITERALS:
        raise ProgramError(
            f"the {mode} program writes {literals[0]:,} numbers into its operators' arguments "
            f"(at most {MAX_LITERALS:,}); values a model learns or looks up belong in tensors, "
            f"where the budget counts them"
        )
    return json.dumps(doc).encode()


# ---------------------------------------------------------------- the trainer's side


@dataclass
class ProgramReport:
    """What the judge needs from the programs to count and check them."""

    reads: dict[str, str] = field(default_factory=dict)  # name -> parameter, buffer or constant
    free: list[str] = field(default_factory=list)  # running statistics of batch-norm ops, and their counters
    trainable: int = 0


def _deserialize(blob: bytes, state: dict, constants: dict) -> torch.export.ExportedProgram:
    example: tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]] = ((torch.zeros(EXAMPLE_SHAPE),), {})
    try:
        # SerializedArtifact declares all four fields bytes, but deserialize_torch_artifact also
        # takes them already loaded (a dict, a tuple), which is how the trainer holds them.
        artifact = serde.SerializedArtifact(blob, state, constants, example)  # type: ignore[arg-type]
        return serde.deserialize(artifact)
    except ProgramError:
        raise
    except Exception as e:
        raise ProgramError(f"the program could not be loaded ({type(e).__name__}: {str(e)[:300]})") from None


def _parameters(blob: bytes, state: dict) -> dict:
    """The state with the program's parameters as nn.Parameter, requires_grad as traced."""
    doc = json.loads(blob)
    values = doc["graph_module"]["graph"].get("tensor_values") or {}
    out = {}
    for name, t in state.items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor) or type(t) not in (torch.Tensor, nn.Parameter):
            raise ProgramError(f"the weight {str(name)[:60]!r} is not a plain tensor")
        if t.is_sparse or t.layout != torch.strided or t.is_quantized or t.is_meta:
            raise ProgramError(f"the weight {name!r} is not a dense tensor ({t.layout})")
        out[name] = t.detach()
    for spec in doc["graph_module"]["signature"]["input_specs"]:
        p = spec.get("parameter")
        if p is not None and p["parameter_name"] in out:
            meta = values.get(p["arg"]["name"]) or {}
            t = out[p["parameter_name"]]
            grad = bool(meta.get("requires_grad", True)) and (t.is_floating_point() or t.is_complex())
            out[p["parameter_name"]] = nn.Parameter(t, requires_grad=grad)
    return out


def _is_batch_norm(node) -> bool:
    return node.op == "call_function" and node.target in (
        *TRAINING_BATCH_NORM_OPS,
        torch.ops.aten._native_batch_norm_legit_no_training.default,
    )


def _uses(ep: torch.export.ExportedProgram) -> dict[str, list[tuple]]:
    """Each tensor the program reads (by its name in the state) -> [(user node, argument index)]."""
    sig = ep.graph_signature
    names = {**sig.inputs_to_parameters, **sig.inputs_to_buffers, **sig.inputs_to_lifted_tensor_constants}
    uses: dict[str, list[tuple]] = {}
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in names:
            uses[names[node.name]] = [(u, u.args.index(node) if node in u.args else -1) for u in node.users]
    return uses


def _free_statistics(programs: dict, state: dict) -> list[str]:
    """Buffers every use of which, in both programs, is a batch-norm op's running mean or variance,
    and the batch-norm counters (one integer, only ever incremented). Nothing else is free."""
    uses = {mode: _uses(ep) for mode, ep in programs.items()}
    free = []
    for name, t in state.items():
        if isinstance(t, nn.Parameter):
            continue
        seen = [u for per_mode in uses.values() for u in per_mode.get(name, [])]
        if not seen:
            continue
        if all(_is_batch_norm(node) and index in (3, 4) for node, index in seen):
            free.append(name)
        elif (
            t.dtype == torch.int64
            and t.numel() == 1
            and all(
                node.target in (torch.ops.aten.add_.Tensor, torch.ops.aten.add.Tensor)
                and index == 0
                and node.args[1] == 1
                for node, index in seen
            )
        ):
            free.append(name)
    return sorted(free)


def _check_mutations(mode: str, ep: torch.export.ExportedProgram, free: list[str]) -> None:
    """The evaluation program writes nothing; the training program writes only free statistics.
    Read from torch's own functionalisation of the program, which names every write."""
    from torch.export.graph_signature import OutputKind

    functional = ep.run_decompositions({})
    for spec in functional.graph_signature.output_specs:
        if spec.kind == OutputKind.USER_OUTPUT:
            continue
        target = spec.target or "an input"
        if mode == "eval":
            raise ProgramError(
                f"the evaluation program writes to {target!r}: nothing may learn while it is "
                f"scored (BatchNorm in eval mode reads its running statistics, it does not update them)"
            )
        if spec.kind != OutputKind.BUFFER_MUTATION or target not in free:
            raise ProgramError(
                f"the training program writes to {target!r} inside its forward; only a batch-norm "
                f"op may update its running statistics there, the optimizer updates the rest"
            )


def _check_deterministic(ep: torch.export.ExportedProgram) -> None:
    """The evaluation program draws no random numbers: a prediction is a function of its image
    alone, the same however often it is asked for (the judge sends some test images twice)."""
    for node in ep.graph.nodes:
        op = node.target
        if node.op != "call_function" or not isinstance(op, torch._ops.OpOverload):
            continue
        if torch.Tag.nondeterministic_seeded not in op.tags:
            continue
        if "dropout" in op.__name__ and (node.args[2] if len(node.args) > 2 else node.kwargs.get("train")) is False:
            continue  # a dropout in evaluation mode: the identity
        raise ProgramError(
            f"the evaluation program draws random numbers ({op.__name__}, node {node.name!r}): a prediction "
            "must be the same each time it is asked for; F.dropout(x, p) drops in evaluation mode too unless "
            "given training=self.training (nn.Dropout follows the mode)"
        )


class Program(nn.Module):
    """The two traced graphs as one module: training mode runs the training graph, evaluation
    mode the evaluation graph, both reading the same weight tensors. Its parameters are what the
    optimizer steps and its `weights()` what the judge saves."""

    train_graph: torch.fx.GraphModule  # a submodule: its weights are the program's
    eval_graph: torch.fx.GraphModule  # set past nn.Module's __setattr__, so not a submodule

    def __init__(self, train_graph: torch.fx.GraphModule, eval_graph: torch.fx.GraphModule):
        super().__init__()
        self.train_graph = train_graph
        object.__setattr__(self, "eval_graph", eval_graph)  # not a submodule: it holds no weights of its own
        self._tie()

    def train(self, mode: bool = True) -> Program:
        # The graphs are fixed in their mode (torch refuses train() on them): the flag only picks one.
        self.training = mode
        return self

    def _tensors(self, module: nn.Module) -> dict[str, torch.Tensor]:
        return {
            **dict(module.named_parameters(remove_duplicate=False)),
            **dict(module.named_buffers(remove_duplicate=False)),
        }

    def _tie(self) -> None:
        own = self._tensors(self.train_graph)
        for name in self._tensors(self.eval_graph):
            prefix, _, leaf = name.rpartition(".")
            sub = self.eval_graph.get_submodule(prefix)
            if leaf in sub._parameters:
                param = own[name]
                if not isinstance(param, nn.Parameter):  # _load checked both programs read the same parameters
                    raise ProgramError(
                        f"{name!r} is a parameter of the evaluation program, a buffer of the training one"
                    )
                sub._parameters[leaf] = param
            else:
                sub._buffers[leaf] = own[name]

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self._tie()  # moving buffers to another device makes new tensors
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.train_graph(x)
        watched = self._tensors(self.train_graph)
        before = {k: v._version for k, v in watched.items()}
        out = self.eval_graph(x)
        changed = [k for k, v in watched.items() if v._version != before[k]]
        if changed:
            raise ProgramError(f"the evaluation program changed {changed[0]!r} while scored")
        return out

    def weights(self) -> dict[str, torch.Tensor]:
        """Every parameter and buffer of the programs (non-persistent buffers too), on the CPU,
        storages shared as in the program: what the judge saves and counts."""
        return {k: v.detach().cpu() for k, v in self._tensors(self.train_graph).items()}

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Weights of exactly these names and shapes, copied in place; RuntimeError otherwise."""
        own = self._tensors(self.train_graph)
        if set(state) != set(own):
            odd = sorted(set(state) ^ set(own))
            raise RuntimeError(f"{len(odd)} names differ, e.g. {odd[0]!r}")
        for k, v in state.items():
            if not isinstance(v, torch.Tensor) or v.shape != own[k].shape:
                raise RuntimeError(
                    f"{k!r} has shape {list(getattr(v, 'shape', []))}, the program's {list(own[k].shape)}"
                )
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)


def check_output(program: Program) -> tuple[int, ...]:
    """The evaluation program's output for a batch of two zeros: a finite [2, 10] float tensor,
    else ProgramError saying what it gave."""
    program.eval()
    try:
        with torch.no_grad():
            out = program(torch.zeros(EXAMPLE_SHAPE))
    except ProgramError:
        raise
    except Exception as e:  # a graph whose trace and run disagree (an index, an allocation): the candidate's
        raise ProgramError(
            f"the evaluation program fails on a batch of two zeros ({type(e).__name__}: {str(e)[:300]})"
        ) from None
    finally:
        program.train()
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 10) or not out.is_floating_point():
        raise ProgramError(
            f"the evaluation program gives {list(getattr(out, 'shape', []))} "
            f"{getattr(out, 'dtype', type(out).__name__)} for a batch of 2, expected [2, 10] floats"
        )
    if not bool(torch.isfinite(out).all()):
        raise ProgramError("the evaluation program gives NaN or infinity at initialisation")
    return tuple(out.shape)


def load(payload: dict) -> tuple[Program, ProgramReport]:
    """The trainer's load: check the graphs as data, deserialize them over the given tensors,
    check what they read and write, and wrap them as one module. Anything a hostile program
    makes go wrong is a ProgramError, the candidate's failure."""
    try:
        return _load(payload)
    except ProgramError:
        raise
    except Exception as e:
        raise ProgramError(f"the programs could not be loaded ({type(e).__name__}: {str(e)[:300]})") from None


def _load(payload: dict) -> tuple[Program, ProgramReport]:
    graphs, state, constants = payload.get("graphs"), payload.get("state"), payload.get("constants")
    if (
        not isinstance(graphs, dict)
        or set(graphs) != set(MODES)
        or not isinstance(state, dict)
        or not isinstance(constants, dict)
    ):
        raise ProgramError("the builder did not hand in a training and an evaluation program with their tensors")
    checked = {mode: check_graph(graphs[mode], mode) for mode in MODES}
    state = _parameters(checked["train"], state)
    programs = {}
    for mode in MODES:
        consts = constants.get(mode) or {}
        if not all(isinstance(k, str) and type(v) is torch.Tensor for k, v in consts.items()):
            raise ProgramError(f"the {mode} program's constants are not plain tensors")
        programs[mode] = _deserialize(checked[mode], state, dict(consts))
    report = ProgramReport()
    for mode, ep in programs.items():
        sig = ep.graph_signature
        if len(sig.user_inputs) != 1 or len(sig.user_outputs) != 1:
            raise ProgramError(
                f"the {mode} program takes {len(sig.user_inputs)} inputs and gives "
                f"{len(sig.user_outputs)} outputs; it must take the images and give the logits"
            )
        for node in ep.graph.nodes:
            if node.op not in ("placeholder", "call_function", "output"):
                raise ProgramError(f"the {mode} program has a {node.op} node; only operator calls can be trained")
        for name in sig.parameters:
            report.reads[name] = "parameter"
        for name in sig.buffers:
            report.reads[name] = "buffer"
        for name in sig.lifted_tensor_constants:
            report.reads[f"{mode}:{name}"] = "constant"
    params = {mode: set(ep.graph_signature.parameters) for mode, ep in programs.items()}
    if params["eval"] != params["train"]:
        odd = sorted(params["eval"] ^ params["train"])[0]
        raise ProgramError(
            f"the training and evaluation programs read different parameters ({odd!r} is read "
            f"by one only); both modes must use the same weights"
        )
    if not set(programs["eval"].graph_signature.buffers) <= set(programs["train"].graph_signature.buffers):
        odd = sorted(set(programs["eval"].graph_signature.buffers) - set(programs["train"].graph_signature.buffers))[0]
        raise ProgramError(f"the evaluation program reads the buffer {odd!r}, which training never sees")
    report.free = _free_statistics(programs, state)
    for mode, ep in programs.items():
        _check_mutations(mode, ep, report.free)
    _check_deterministic(programs["eval"])
    program = Program(programs["train"].module(), programs["eval"].module())
    report.trainable = sum(p.numel() for p in program.parameters() if p.requires_grad)
    return program, report
