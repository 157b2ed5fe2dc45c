"""Speed of each candidate: inference latency for a batch of 1 and of 1,000 images, and
training throughput over a fixed number of steps at the recipe's batch size.

Selected with `pytest -m benchmark -p no:xdist` (pytest-benchmark turns itself off under
xdist). Inputs are random pixels: speed does not depend on what the digits show.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness import engine
from harness.augment import random_affine
from harness.probe import CandidateError, count_parameters, materialise
from harness.recipe import Recipe, RecipeError
from models import get_candidate

pytestmark = pytest.mark.benchmark

TRAIN_STEPS = 20  # steps timed per round; enough to hide the first step's allocations
TRAIN_ROUNDS = 3


def _sync(device: torch.device) -> None:
    # Kernels run asynchronously on a GPU: the clock must stop after they finish.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(candidate: str, device: torch.device) -> torch.nn.Module:
    """Built and moved to the device, or skipped with the reason it cannot be."""
    cand = get_candidate(candidate)
    if cand.error is not None:
        pytest.skip(f"{candidate}: its file could not be imported: {cand.error}")
    try:
        model = engine.build(cand.builder, seed=0)
        materialise(model)
    except CandidateError as e:
        pytest.skip(f"{candidate}: {e}")
    except Exception as e:  # a broken builder is the compliance test's to report
        pytest.skip(f"{candidate}: the builder raised {type(e).__name__}: {e}")
    return model.to(device)


@pytest.mark.parametrize("batch", [1, 1000], ids=lambda b: f"batch{b}")
def test_inference_latency(benchmark, candidate: str, batch: int, mnist8k_device: torch.device):
    device = mnist8k_device
    model = _model(candidate, device).eval()
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)

    def infer():
        with torch.no_grad():
            out = model(x)
        _sync(device)
        return out

    out = benchmark(infer)
    assert tuple(out.shape) == (batch, 10)
    benchmark.extra_info.update(candidate=candidate, params=count_parameters(model), batch=batch,
                                device=str(device), threads=torch.get_num_threads())
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(batch / benchmark.stats.stats.mean, 1)


def test_training_throughput(benchmark, candidate: str, mnist8k_device: torch.device):
    device = mnist8k_device
    model = _model(candidate, device).train()
    try:
        recipe = Recipe.from_dict(get_candidate(candidate).recipe)
    except RecipeError as e:
        pytest.skip(f"{candidate}: {e}")
    engine.deterministic(device)  # as the gate trains, so the speed is the gate's speed
    bs = recipe.batch_size
    opt = engine.make_optimizer(model, recipe)
    cpu = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (TRAIN_STEPS * bs, 28, 28), dtype=torch.uint8, generator=cpu).to(device)
    labels = torch.randint(0, 10, (TRAIN_STEPS * bs,), generator=cpu).to(device)
    aug_gen = torch.Generator(device=device).manual_seed(0)

    def steps():
        # The engine's training step: gather, augment, normalise, forward, backward, update.
        for i in range(TRAIN_STEPS):
            x = images[i * bs:(i + 1) * bs].unsqueeze(1).float().div_(255)
            x = (random_affine(x, recipe.augment, aug_gen) - recipe.mean) / recipe.std
            loss = F.cross_entropy(model(x), labels[i * bs:(i + 1) * bs], label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        return loss.detach()

    loss = benchmark.pedantic(steps, rounds=TRAIN_ROUNDS, warmup_rounds=1, iterations=1)
    assert torch.isfinite(loss)
    benchmark.extra_info.update(candidate=candidate, params=count_parameters(model), batch=bs,
                                steps=TRAIN_STEPS, augment=recipe.augment.enabled, device=str(device),
                                threads=torch.get_num_threads())
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = round(TRAIN_STEPS * bs / benchmark.stats.stats.mean, 1)
