"""The trainer: the process that trains and scores a candidate without ever running its code.
It loads the programs the builder traced (harness.runner.programs checks them as data first), trains
the training program with the harness's loop, optimizer and seeds on tensors the harness
owns, and hands the evaluation program's test outputs to the judge, once per epoch. It gets
the training set and the test images, never the test labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from harness.engine import loop
from harness.engine.data import MNIST
from harness.engine.recipe import Recipe
from harness.runner import anatomy, channel, derived, initial_skill, programs

MONITORED_TEST = ("test_loss", "test_acc")  # recipe numbers only the judge can give back


class Trainer:
    """One loaded candidate and the wire to the judge."""

    def __init__(self, wire_in, wire_out, request: dict):
        self.wire_in, self.wire_out = wire_in, wire_out
        self.device = torch.device(request["device"])
        self.name = str(request.get("name", ""))
        loop.deterministic(self.device)
        self.program, self.report = programs.load(request)
        programs.check_output(self.program)

    def send(self, kind: str, **payload) -> None:
        channel.send(self.wire_out, kind, **payload)

    def receive(self) -> dict:
        return channel.receive(self.wire_in)

    # ------------------------------------------------------------ orders

    def predict(self, order: dict) -> None:
        """Outputs for the judge's images with weights the judge holds, checked to fit exactly."""
        try:
            self.program.load_weights(order["state"])
        except (RuntimeError, KeyError, TypeError) as e:
            self.send("error", stage="weights", message=f"the weights do not fit {self.name}: {e}")
            return
        self.program.to(self.device)
        self.send("outputs", outputs=loop.predict(self.program, order["images"].to(self.device)).cpu())

    def gradients(self, order: dict) -> None:
        """One training-mode backward on a random batch: the parameters that get no gradient
        (dead branches the budget still pays for)."""
        model = self.program.to(self.device).train()
        x = torch.randn(order["batch"], 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(self.device)
        model.zero_grad(set_to_none=True)
        out = model(x)
        out.float().logsumexp(1).mean().backward()
        missing = [n for n, p in model.train_graph.named_parameters() if p.requires_grad and p.grad is None]
        self.send("gradients", missing=missing, output_shape=tuple(out.shape))

    def anatomy(self, order: dict) -> None:
        """The layer table of the evaluation program, for `summary`."""
        found = anatomy.inspect_program(self.program.eval_graph)
        self.send(
            "anatomy",
            rows=[dataclasses.asdict(r) for r in found.rows],
            input_size=tuple(found.input_size),
            head=dataclasses.asdict(found.head) if found.head is not None else None,
            counted_macs=found.counted_macs,
        )

    def initial_skill(self, order: dict) -> None:
        """What the initial weights know: measured on training images, weights restored after."""
        program = self.program.to(self.device)
        try:
            report = initial_skill.measure(program, order["images"].to(self.device), order["labels"])
        except Exception as e:  # the candidate's graph failed on real images: its failure, said as such
            self.send("error", stage="initial skill", message=f"{type(e).__name__}: {str(e)[:300]}")
            return
        self.send("initial_skill", report=report)

    def derived(self, order: dict) -> None:
        """What both programs compute from their weights alone, under this seed and the check seed."""
        try:
            mine, theirs = derived.compare(self.program, order["check"])
        except derived.TooMany as e:
            self.send("error", stage="derived", message=str(e))
            return
        except Exception as e:  # a computation the graph traced but cannot run: the candidate's
            self.send(
                "error",
                stage="derived",
                message=f"computing from its weights failed: {type(e).__name__}: {str(e)[:300]}",
            )
            return
        self.send("derived", mine=mine, theirs=theirs)

    def infer(self, order: dict) -> None:
        """`repeat` evaluation passes, timed by the judge across the wire."""
        model = self.program.to(self.device).eval()
        x = torch.randn(order["batch"], 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(self.device)
        with torch.no_grad():
            for _ in range(order["repeat"]):
                out = model(x)
        loop.synchronize(self.device)
        self.send("inferred", shape=tuple(out.shape))

    def train(self, order: dict) -> None:
        recipe = Recipe.from_dict(order["recipe"])
        data = MNIST(
            order["train_images"], order["train_labels"], order["test_images"], None, Path("/nonexistent"), "the judge"
        )
        needs_score = recipe.schedule is not None and recipe.schedule.monitor in MONITORED_TEST

        def scorer(epoch: int, outputs: torch.Tensor) -> tuple[float, int, int]:
            self.send("outputs", epoch=epoch, outputs=outputs.detach().cpu())
            if not needs_score:
                return float("nan"), 0, 1  # the judge scores; this run never looks at the result
            reply = self.receive()
            if reply["kind"] != "score":
                raise channel.ChannelError(f"expected the judge's score, got {reply['kind']!r}")
            # The sums are over the judge's test set: some of the images sent were repeats.
            return float(reply["loss_sum"]), int(reply["correct"]), int(reply["images"])

        checkpoint = (lambda state: self.send("checkpoint", state=state)) if order.get("checkpoints") else None
        try:
            result = loop.train(
                self.program,
                recipe,
                data,
                order["seed"],
                self.device,
                name=self.name,
                limit_train=order.get("limit_train"),
                hooks=_Reporter(self, order.get("progress", False)),
                resume=order.get("resume"),
                checkpoint=checkpoint,
                scorer=scorer,
                cuda_graphs=order.get("cuda_graphs", "auto"),
                compile=order.get("compile") is True,
            )
        except (channel.ChannelError, OSError):
            raise
        except Exception as e:  # before the first step (the optimizer or schedule would not build)
            self.send(
                "done",
                status="crashed",
                error=f"{type(e).__name__} while setting up training: {e}",
                seconds=0.0,
                setup_seconds=0.0,
                state=None,
            )
            return
        self.send(
            "done",
            status=result.status,
            error=result.error,
            seconds=result.seconds,
            setup_seconds=result.setup_seconds,
            execution=result.execution,
            state=self.program.weights() if result.status == "completed" else None,
        )

    def serve(self) -> None:
        orders = {
            "predict": self.predict,
            "gradients": self.gradients,
            "infer": self.infer,
            "train": self.train,
            "anatomy": self.anatomy,
            "initial_skill": self.initial_skill,
            "derived": self.derived,
        }
        while True:
            order = self.receive()
            if order["kind"] == "stop":
                return
            if order["kind"] not in orders:
                raise channel.ChannelError(f"unknown order {order['kind']!r}")
            orders[order["kind"]](order)


class _Reporter:
    """engine.Hooks that forward progress to the judge."""

    def __init__(self, trainer: Trainer, progress: bool):
        self.trainer, self.progress = trainer, progress

    def epoch_start(self, epoch: int, steps: int) -> None:
        if self.progress:
            self.trainer.send("epoch_start", epoch=epoch, steps=steps)

    def step(self, step: int, loss: torch.Tensor, correct: torch.Tensor, seen: int) -> None:
        if self.progress:
            self.trainer.send("step", step=step, loss=float(loss), correct=int(correct), seen=seen)

    def epoch_end(self, row) -> None:
        self.trainer.send("epoch", row=dataclasses.asdict(row))


def main() -> int:
    wire_in, wire_out = channel.process_wire()
    try:
        request = channel.receive(wire_in)
        if not str(request.get("device", "cpu")).startswith("cuda"):
            # On CUDA the host limit is left off: the driver's own mappings are not ours to
            # budget, and what a graph allocates there lives on the card.
            channel.limit_memory(request.get("memory_limit"))
        threads = int(request.get("threads") or 0)
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            trainer = Trainer(wire_in, wire_out, request)
        except programs.ProgramError as e:
            channel.send(wire_out, "error", stage="program", message=str(e))
            return 0
        channel.send(wire_out, "loaded", report=dataclasses.asdict(trainer.report))
        trainer.serve()
    except (channel.ChannelError, OSError):
        return 3
    except KeyboardInterrupt:
        return 130
    return 0
