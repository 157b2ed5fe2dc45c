"""Milliseconds per training step of one candidate, by thread count and activation layout,
and optionally an operator profile or a torch.compile comparison: the measurements behind
loop.memory_format and the README's "Speed" section.

  python benchmarks/step.py --threads 2         # NCHW vs channels-last, two threads
  python benchmarks/step.py --threads 1 --profile
  python benchmarks/step.py --threads 2 --compile
  python benchmarks/step.py --threads 1 --bf16  # autocast to bfloat16 (AMX/AVX512-BF16 CPUs)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
import torch.nn.functional as F

from harness.engine import (
    data,
    loop,
)
from harness.engine.recipe import Recipe


def stepper(model, recipe: Recipe, images, labels, layout, generator, bf16: bool = False):
    """One training step as the engine takes it, on batch i of the given images; with bf16,
    the forward pass runs under CPU autocast to bfloat16 (the engine itself never does)."""
    opt = loop.make_optimizer(model, recipe)

    def step(i: int) -> None:
        idx = torch.arange(i * recipe.batch_size, (i + 1) * recipe.batch_size)
        x = recipe.augment(images[idx].unsqueeze(1).float().div_(255), generator)
        x = ((x - recipe.mean) / recipe.std).contiguous(memory_format=layout)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = F.cross_entropy(out.float(), labels[idx], label_smoothing=recipe.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def ms_per_step(step, warmup: int, steps: int) -> float:
    for i in range(warmup):
        step(i)
    t = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    return (time.perf_counter() - t) / steps * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--candidate", default="model3")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--profile", action="store_true", help="print the operator table (NCHW)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(model) (NCHW)")
    ap.add_argument("--bf16", action="store_true", help="also time each layout under bfloat16 autocast")
    args = ap.parse_args(argv)

    from harness.judge import catalog
    from harness.runner.builder import load_builder

    torch.set_num_threads(args.threads)
    entry = catalog.scan(catalog.REPO_MODELS)[args.candidate]
    builder = load_builder(entry.file, entry.name)  # in this process: a profiling tool for your own candidates
    recipe = Recipe.from_dict(entry.recipe)
    mnist = data.load()
    n = recipe.batch_size * (args.steps + 5)
    images, labels = mnist.train_images[:n], mnist.train_labels[:n]
    for layout in (torch.contiguous_format, torch.channels_last):
        for bf16 in (False, True) if args.bf16 else (False,):
            model = loop.build(builder, 0).to(memory_format=layout)
            step = stepper(model, recipe, images, labels, layout, torch.Generator().manual_seed(0), bf16=bf16)
            print(
                f"{args.candidate} threads={args.threads} {str(layout):26s} "
                f"{ms_per_step(step, 5, args.steps):.1f} ms/step{' under bfloat16 autocast' if bf16 else ''}"
            )
    if args.compile:
        model = loop.build(builder, 0)
        compiled = torch.compile(model)
        step = stepper(compiled, recipe, images, labels, torch.contiguous_format, torch.Generator().manual_seed(0))
        t = time.perf_counter()
        step(0)
        print(
            f"torch.compile: first step (compilation) {time.perf_counter() - t:.1f} s, "
            f"then {ms_per_step(step, 4, args.steps):.1f} ms/step"
        )
    if args.profile:
        from torch.profiler import profile

        model = loop.build(builder, 0)
        step = stepper(model, recipe, images, labels, torch.contiguous_format, torch.Generator().manual_seed(0))
        ms_per_step(step, 5, 1)
        with profile() as prof:
            for i in range(5, 5 + min(args.steps, 20)):
                step(i)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    return 0


if __name__ == "__main__":
    sys.exit(main())
