"""The builder: the one process that runs a candidate's code. It imports the candidate file,
builds the network under the judge's seeds, checks one forward pass, traces the training-mode
and evaluation-mode forward with torch.export and hands back the programs as data. Then it
exits; nothing it left behind reaches the process that trains (harness.runner.trainer)."""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
import types
from pathlib import Path

import torch

from harness.engine import loop
from harness.engine.checks import CandidateError, materialise
from harness.runner import channel, programs, registry


def _where(e: BaseException, file: str) -> str:
    """The deepest line of the candidate's own file in a traceback, else nothing: a line inside
    torch (`_trace.py:2214`) tells the candidate's author nothing they can change."""
    own = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == file]
    return f" ({Path(file).name}:{own[-1].lineno})" if own else ""


def load_builder(file: str, name: str):
    """The candidate's builder, imported from its file alone: `models` is a bare package here,
    so no other candidate file is imported beside it."""
    package = types.ModuleType("models")
    package.__path__ = [str(Path(file).parent)]
    sys.modules["models"] = package
    package.__dict__["registry"] = registry
    sys.modules["models.registry"] = registry  # what `from models.registry import ...` gets
    spec = importlib.util.spec_from_file_location(f"models.{Path(file).stem}", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"{Path(file).name} cannot be imported: Python has no loader for it")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    builder = module.__dict__.get(name)
    if not callable(builder):
        raise CandidateError(f"{Path(file).name} defines no function {name!r}")
    return builder


EXPORT_HINT = (
    "the gate trains the traced graph, so the forward must be traceable by torch.export: "
    "no Python branches on tensor values, no data-dependent shapes, no custom ops"
)


BATCH_HINT = (
    "the gate traces the batch dimension as any size, since an epoch's last batch and the test batches "
    "differ from the training batch: write the forward for every batch size (a ghost batch norm that "
    "splits each batch into a fixed number of groups cannot be traced; nn.BatchNorm2d can)"
)


def build(request: dict) -> dict:
    """The reply to a build request: ("built", programs) or ("error", stage, message)."""
    file, stage = request["file"], "import"
    try:
        builder = load_builder(file, request["name"])
        reply: dict = {"kind": "built"}
        for seed in request["seeds"]:  # the trial's seed last, so its programs are the ones traced in full
            stage = "build"
            model = loop.build(builder, seed)
            stage = "forward"
            materialise(model)
            stage = "export"
            # Both modes under the check seed too: a table only the evaluation program reads must
            # change with the seed like any other.
            exported = programs.export(model)
            if seed == request["seeds"][-1]:
                reply["programs"] = exported
            else:
                reply["check"] = {
                    "state": exported["state"],
                    "constants": exported["constants"]["train"],
                    "eval_constants": exported["constants"]["eval"],
                }
        return reply
    except CandidateError as e:  # the output check: its message says what the forward pass gave
        return {"kind": "error", "stage": stage, "message": str(e)}
    except (Exception, SystemExit) as e:
        if stage == "export" and (guard := _batch_guard(str(e))):
            message = f"{guard}{_where(e, file)}; {BATCH_HINT}"
        else:
            message = f"{type(e).__name__}: {str(e)[:2000]}{_where(e, file)}"
            if stage == "export":
                message += f"; {EXPORT_HINT}"
        return {"kind": "error", "stage": stage, "message": message}


def _batch_guard(text: str) -> str | None:
    """torch.export's "Constraints violated (batch)" error, said as what it means: the forward
    holds only for some batch sizes. Its first guard is kept, the batch size named `batch`."""
    if "Constraints violated (batch)" not in text:
        return None
    found = re.search(r"satisfy the generated guard (.+?)\.?$", text, re.MULTILINE)
    if found is None:
        return "the forward traces only for some batch sizes"
    guard = found.group(1).replace("L['input'].size()[0]", "batch")[:200]
    return f"the forward traces only for some batch sizes (torch needs {guard})"


def main() -> int:
    wire_in, wire_out = channel.process_wire()
    try:
        request = channel.receive(wire_in)
        channel.limit_memory(request.get("memory_limit"))  # before any candidate code runs
        threads = int(request.get("threads") or 0)
        if threads > 0:
            torch.set_num_threads(threads)
        reply = build(request)
        kind = reply.pop("kind")
        channel.send(wire_out, kind, **reply)
    except (channel.ChannelError, OSError):
        return 3  # the judge went away or broke the protocol: nothing left to tell it
    except KeyboardInterrupt:
        return 130
    return 0
