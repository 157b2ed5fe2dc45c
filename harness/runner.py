"""The runner: the child process, one per candidate and seed, that imports a candidate
file, builds it from the judge's seed and trains it with the engine. It receives the
training set and the test images, never the test labels; everything it reports, the judge checks."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import traceback
import types
from pathlib import Path

import torch

from . import anatomy, channel, engine
from .data import MNIST
from .probe import CandidateError, materialise
from .recipe import Recipe

_wire: dict = {}  # "in" and "out": set by main(), the only entry point of a runner process


def send(kind: str, **payload) -> None:
    channel.send(_wire["out"], kind, **payload)


def receive() -> dict:
    return channel.receive(_wire["in"])


def _where(e: BaseException, file: str) -> str:
    """The deepest line of the candidate's own file in a traceback, else the deepest of all."""
    frames = traceback.extract_tb(e.__traceback__)
    own = [f for f in frames if f.filename == file] or frames
    return f" ({Path(own[-1].filename).name}:{own[-1].lineno})" if own else ""


def load_builder(file: str, name: str):
    """The candidate's builder, imported from its file alone: `models` is a bare package here,
    so no other candidate file is imported beside it."""
    models_dir = str(Path(file).parent)
    package = types.ModuleType("models")
    package.__path__ = [models_dir]
    sys.modules["models"] = package
    spec = importlib.util.spec_from_file_location(f"models.{Path(file).stem}", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    builder = module.__dict__.get(name)
    if not callable(builder):
        raise CandidateError(f"{Path(file).name} defines no function {name!r}")
    return builder


def _state(model: torch.nn.Module) -> dict:
    """The state dict on the CPU, storages shared as they are in the model (tied weights stay
    tied), so the judge counts what the model really holds."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _hidden(model: torch.nn.Module) -> dict[str, int]:
    """Tensors a module holds outside its state dict (non-persistent buffers, plain tensor
    attributes): they cost memory a lookup table could hide in, so the judge counts them too."""
    found = {}
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        for name in getattr(module, "_non_persistent_buffers_set", ()):
            buf = module._buffers.get(name)
            if buf is not None:
                found[dot + name] = buf.numel()
        for name, value in vars(module).items():
            if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
                found[dot + name] = value.numel()
    return found


class _Reporter:
    """engine.Hooks that forward progress to the judge; the test scores come back from it."""

    def __init__(self, progress: bool):
        self.progress = progress

    def epoch_start(self, epoch: int, steps: int) -> None:
        if self.progress:
            send("epoch_start", epoch=epoch, steps=steps)

    def step(self, step: int, loss: torch.Tensor, correct: torch.Tensor, seen: int) -> None:
        if self.progress:
            send("step", step=step, loss=float(loss), correct=int(correct), seen=seen)

    def epoch_end(self, row) -> None:
        send("epoch", row=dataclasses.asdict(row))


def _scorer(epoch: int, outputs: torch.Tensor) -> tuple[float, int]:
    send("outputs", epoch=epoch, outputs=outputs.detach().cpu())
    reply = receive()
    if reply["kind"] != "score":
        raise channel.ChannelError(f"expected the judge's score, got {reply['kind']!r}")
    return float(reply["loss_sum"]), int(reply["correct"])


def serve(request: dict) -> None:
    device = torch.device(request["device"])
    engine.deterministic(device)
    stage = "import"
    file = request["file"]
    try:
        builder = load_builder(file, request["name"])
        stage = "build"
        states = {}
        for seed in request["seeds"]:
            model = engine.build(builder, seed)
            stage = "forward"
            materialise(model)
            states[seed] = _state(model)
            stage = "build"
        hidden = _hidden(model)
    except CandidateError as e:  # the output check: its message says what the forward pass gave
        send("error", stage=stage, message=str(e))
        return
    except (Exception, SystemExit) as e:
        send("error", stage=stage, message=f"{type(e).__name__}: {e}{_where(e, file)}")
        return
    info = {}
    if request.get("anatomy"):
        found = anatomy.inspect(model)
        info = {"rows": [dataclasses.asdict(r) for r in found.rows], "input_size": tuple(found.input_size),
                "head": dataclasses.asdict(found.head) if found.head is not None else None,
                "counted_macs": found.counted_macs}
    trainable = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values() if p.requires_grad)
    send("built", states=states, hidden=hidden, anatomy=info, trainable=trainable)

    while True:
        order = receive()
        if order["kind"] == "stop":
            return
        if order["kind"] == "predict":
            # Weights the judge holds, checked to fit this candidate exactly.
            try:
                model.load_state_dict(order["state"], strict=True)
            except (RuntimeError, KeyError, TypeError) as e:
                send("error", stage="weights", message=f"the weights do not fit {request['name']}: {e}")
                continue
            model.to(device)
            send("outputs", outputs=engine.predict(model, order["images"].to(device)).cpu())
            continue
        if order["kind"] == "gradients":
            # One training-mode step's worth of backward on a random batch: which parameters
            # get no gradient (dead branches the budget still pays for).
            model.to(device).train()
            x = torch.randn(order["batch"], 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
            model.zero_grad(set_to_none=True)
            model(x).float().logsumexp(1).mean().backward()
            send("gradients", missing=[n for n, p in model.named_parameters() if p.requires_grad and p.grad is None],
                 output_shape=tuple(model(x).shape))
            continue
        if order["kind"] == "infer":
            # Timed from the judge across the wire, so many passes per order keep the wire's share small.
            model.to(device).eval()
            x = torch.randn(order["batch"], 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
            with torch.no_grad():
                for _ in range(order["repeat"]):
                    out = model(x)
            engine._sync(device)
            send("inferred", shape=tuple(out.shape))
            continue
        if order["kind"] != "train":
            raise channel.ChannelError(f"unknown order {order['kind']!r}")
        recipe = Recipe.from_dict(order["recipe"])
        data = MNIST(order["train_images"], order["train_labels"], order["test_images"], None,
                     Path("/nonexistent"), "the judge")
        checkpoint = (lambda state: send("checkpoint", state=state)) if order.get("checkpoints") else None
        try:
            result = engine.train(model, recipe, data, order["seed"], device, name=request["name"],
                                  limit_train=order.get("limit_train"), hooks=_Reporter(order.get("progress", False)),
                                  resume=order.get("resume"), checkpoint=checkpoint, scorer=_scorer,
                                  cuda_graphs=order.get("cuda_graphs", "auto"))
        except (channel.ChannelError, OSError):
            raise
        except Exception as e:  # before the first step (the optimizer or schedule would not build)
            send("done", status="crashed", error=f"{type(e).__name__} while setting up training: {e}"
                                                 f"{_where(e, file)}", seconds=0.0, setup_seconds=0.0, state=None)
            continue
        send("done", status=result.status, error=result.error, seconds=result.seconds,
             setup_seconds=result.setup_seconds, execution=result.execution,
             state=_state(model) if result.status == "completed" else None)


def main() -> int:
    # The wire is this process's original stdout; whatever a candidate prints goes to stderr.
    _wire["out"] = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _wire["in"] = sys.stdin.buffer
    request = receive()
    threads = int(request.get("threads") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        serve(request)
    except (channel.ChannelError, OSError):
        return 3  # the judge went away or broke the protocol: nothing left to tell it
    except KeyboardInterrupt:
        return 130
    return 0
