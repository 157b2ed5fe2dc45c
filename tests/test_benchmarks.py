"""Speed of each candidate, through the same runner the gate trains in: inference latency for
a batch of 1 and of 1,000 images, and training throughput at the recipe's batch size.

Selected with `pytest -m benchmark -p no:xdist` (pytest-benchmark turns itself off under
xdist). Inputs are random pixels: speed does not depend on what the digits show. Each timed
call crosses the wire to the runner once, so it carries many passes to keep the wire's share small.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.engine.data import MNIST
from harness.engine.recipe import Recipe, RecipeError
from harness.judge import trial

pytestmark = pytest.mark.benchmark

TRAIN_STEPS = 20  # steps timed per round; enough to hide the first step's allocations
TRAIN_ROUNDS = 3
INFER_IMAGES = 2000  # images per timed call: 2,000 passes of one image, or 2 of 1,000


@pytest.fixture
def built(candidate: str, gate):
    """The candidate built in a runner from seed 0, or skipped with the reason it cannot be."""
    entry = gate.item.config.stash[gate.ENTRIES_KEY][candidate]
    if entry.error is not None:
        pytest.skip(f"{candidate}: {entry.error}")
    with trial.runner(Path(entry.file), gate.settings()) as r:
        try:
            yield trial.build(r, candidate, 0, check_seed=False)
        except trial.TrialStopped as e:  # a broken builder is the compliance test's to report
            pytest.skip(e.reason)


@pytest.mark.parametrize("batch", [1, 1000], ids=lambda b: f"batch{b}")
def test_inference_latency(benchmark, candidate: str, batch: int, built, gate):
    repeat = max(1, INFER_IMAGES // batch)
    shape = benchmark.pedantic(trial.infer, args=(built, batch, repeat), rounds=5, warmup_rounds=1)
    assert shape == (batch, 10)
    benchmark.extra_info.update(
        candidate=candidate,
        params=built.budget.total,
        batch=batch,
        passes_per_round=repeat,
        device=built.runner.settings.device,
        threads=built.runner.settings.threads,
    )
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(batch * repeat / benchmark.stats.stats.mean, 1)


def test_training_throughput(benchmark, candidate: str, built, gate):
    entry = gate.item.config.stash[gate.ENTRIES_KEY][candidate]
    try:
        recipe = Recipe.from_dict(entry.recipe).replace(epochs=1)
    except RecipeError as e:
        pytest.skip(f"{candidate}: {e}")
    bs = recipe.batch_size
    g = torch.Generator().manual_seed(0)
    data = MNIST(
        torch.randint(0, 256, (TRAIN_STEPS * bs, 28, 28), dtype=torch.uint8, generator=g),
        torch.randint(0, 10, (TRAIN_STEPS * bs,), generator=g),
        torch.randint(0, 256, (10, 28, 28), dtype=torch.uint8, generator=g),
        torch.randint(0, 10, (10,), generator=g),
        Path("/nonexistent"),
        "random pixels",
    )

    def steps():
        # The gate's own path: one epoch of TRAIN_STEPS steps in the runner, scored by the judge.
        return trial.train(built, candidate, recipe, data, 0).result

    result = benchmark.pedantic(steps, rounds=TRAIN_ROUNDS, warmup_rounds=1, iterations=1)
    assert result.status == "completed", result.error
    benchmark.extra_info.update(
        candidate=candidate,
        params=built.budget.total,
        batch=bs,
        steps=TRAIN_STEPS,
        augment=recipe.augment.enabled,
        device=built.runner.settings.device,
        threads=built.runner.settings.threads,
    )
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(TRAIN_STEPS * bs / benchmark.stats.stats.mean, 1)
