"""What a candidate's initial weights know before the harness trains them, measured in the trainer.

Weights learned elsewhere can be hidden from any check of the tensors: written as a seed-drawn
part plus a part that the graph subtracts again, packed into bits, kept in statistics. Their
function cannot be hidden. A network that classifies digits before its first step, or that has
an inner layer whose activations already group digits by class much better than the raw pixels
do, carries learned weights. A randomly initialised network does neither. The judge compares the
figures returned here with its limits in `harness.judge.head_start`.

Two figures:
- **purity**: each predicted class is credited with its most common true label, so a head whose
  classes are permuted still counts as knowing.
- **centroid accuracy**: a nearest-class-mean classifier on each activation of each program.
  Its centroids come from one half of the images and it is scored on the other half. Raw pixels
  score about 0.8 on this.
"""

from __future__ import annotations

import torch

BATCH = 256  # images per forward: batch statistics in training mode need a real batch


def purity(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images whose label is the most common one among images given the same class."""
    counts = torch.zeros(10, 10, dtype=torch.long)
    ones = torch.ones_like(labels, dtype=torch.long)
    counts.index_put_((predicted.long().clamp(0, 9), labels.long()), ones, accumulate=True)
    return float(counts.max(1).values.sum()) / max(len(labels), 1)


class _Centroids:
    """Per-class sums of one activation over the fit half, then nearest-mean hits on the score half."""

    def __init__(self) -> None:
        self.sums: torch.Tensor | None = None
        self.counts = torch.zeros(10, dtype=torch.float64)
        self.hits = 0
        self.scored = 0

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        f = features.detach().double().reshape(len(labels), -1).cpu()
        if self.sums is None:
            self.sums = torch.zeros(10, f.shape[1], dtype=torch.float64)
        self.sums.index_add_(0, labels, f)
        self.counts += torch.bincount(labels, minlength=10).double()

    def score(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        if self.sums is None:
            return
        f = features.detach().double().reshape(len(labels), -1).cpu()
        means = self.sums / self.counts.clamp(min=1).unsqueeze(1)
        distance = (means**2).sum(1).unsqueeze(0) - 2 * f @ means.T  # ||f||² is the same for every class
        self.hits += int((distance.argmin(1) == labels).sum())
        self.scored += len(labels)

    @property
    def accuracy(self) -> float:
        return self.hits / self.scored if self.scored else 0.0


def _run(graph: torch.fx.GraphModule, x: torch.Tensor, visit) -> torch.Tensor:
    """The graph's output for `x`; `visit(name, value)` sees every float value computed from the
    input that keeps the batch as its first axis, as it is computed (none is kept)."""
    from_input: set[str] = set()

    class Watch(torch.fx.Interpreter):
        def run_node(self, n):
            value = super().run_node(n)
            if n.op == "placeholder":
                if isinstance(value, torch.Tensor) and value.data_ptr() == x.data_ptr():
                    from_input.add(n.name)
            elif any(a.name in from_input for a in n.all_input_nodes):
                from_input.add(n.name)
                if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim() >= 2:
                    if value.shape[0] == len(x):
                        visit(n.name, value)
            return value

    return Watch(graph).run(x)


def _pass(graph: torch.fx.GraphModule, images: torch.Tensor, labels: torch.Tensor, layers: dict, step: str) -> list:
    predicted = []
    for i in range(0, len(images), BATCH):
        x, y = images[i : i + BATCH], labels[i : i + BATCH]

        def visit(name: str, value: torch.Tensor, y: torch.Tensor = y) -> None:
            getattr(layers.setdefault(name, _Centroids()), step)(value, y)

        with torch.no_grad():
            out = _run(graph, x, visit)
        if isinstance(out, (tuple, list)):
            out = out[0]
        predicted.append(out.detach().float().argmax(1).cpu())
    return predicted


def measure(program, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Purity of the initial predictions in both modes, the best centroid accuracy over every
    activation of each program (with the layer), and the raw pixels' centroid accuracy. The
    program's weights are restored afterwards: training mode updates statistics."""
    # Copies: on the CPU weights() shares the program's storages, which training mode updates in place.
    saved = {k: v.clone() for k, v in program.weights().items()}
    half = len(images) // 2
    fit_x, score_x = images[:half], images[half:]
    fit_y, score_y = labels[:half].long().cpu(), labels[half:].long().cpu()
    pixels = _Centroids()
    pixels.fit(fit_x, fit_y)
    pixels.score(score_x, score_y)
    report: dict = {"pixels": pixels.accuracy, "programs": {}}
    try:
        for mode, graph in (("eval", program.eval_graph), ("train", program.train_graph)):
            layers: dict[str, _Centroids] = {}
            _pass(graph, fit_x, fit_y, layers, "fit")
            predicted = torch.cat(_pass(graph, score_x, score_y, layers, "score"))
            best = max(layers.items(), key=lambda kv: kv[1].accuracy, default=(None, _Centroids()))
            report["programs"][mode] = {
                "purity": purity(predicted, score_y),
                "accuracy": float((predicted == score_y).float().mean()),
                "layer": best[0],
                "centroid_accuracy": best[1].accuracy,
            }
    finally:
        program.load_weights(saved)
    return report
