"""Several seeds of one candidate trained back to back in one process, on one engine, each
timed; with --check-alone each seed is trained again in a process of its own and its
per-epoch numbers compared. How long a card takes for N seeds, and the evidence that training
them one after another in one process gives each seed the numbers it gets alone.

  python benchmarks/seeds.py --device cuda --seeds 0,1,2,3,4 --compile on --check-alone
  python benchmarks/seeds.py --seeds 0,1 --limit-train 1024 --epochs 1 --check-alone   # a CPU smoke

Each seed's model is built from the candidate's file in this process and traced into the
programs the gate trains (harness.runner.programs), so the step and its numbers are the gate's;
run it on candidates you trust. Compiling is set-up (`setup_seconds`), not training: with
--compile on, the first seed pays it and the later ones find inductor's kernels cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.engine import data, loop
from harness.engine.recipe import Recipe
from harness.records import store


def _seeds(text: str) -> list[int]:
    seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected distinct non-negative integers, e.g. 0,1,2")
    return seeds


def numbers(result) -> list[list]:
    """What must not depend on how a seed was run: every epoch's losses and counts."""
    return [[row.train_loss, row.test_loss, row.test_correct] for row in result.epochs]


def train_seeds(args) -> list[dict]:
    """Each seed trained in this process, one after another."""
    import torch

    from harness.judge import catalog
    from harness.runner import programs
    from harness.runner.builder import load_builder

    if args.threads:
        torch.set_num_threads(args.threads)
    entry = catalog.scan(catalog.REPO_MODELS)[args.candidate]
    recipe = Recipe.from_dict(entry.recipe)
    if args.epochs:
        recipe = recipe.replace(epochs=args.epochs)
    mnist = data.load(args.data_dir)
    if args.limit_train:
        n = args.limit_train
        mnist = dataclasses.replace(mnist, train_images=mnist.train_images[:n], train_labels=mnist.train_labels[:n])
    builder = load_builder(entry.file, entry.name)
    out = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        program, _ = programs.load(programs.export(loop.build(builder, seed)))
        result = loop.train(
            program,
            recipe,
            mnist,
            seed,
            args.device,
            cuda_graphs=args.cuda_graphs,
            compile=args.compile == "on",
        )
        if result.status != "completed":
            raise RuntimeError(f"seed {seed}: {result.status}: {result.error}")
        out.append(
            {
                "seed": seed,
                "wall_seconds": time.perf_counter() - t0,
                "setup_seconds": result.setup_seconds,
                "train_seconds": result.seconds,
                "execution": result.execution,
                "final_test_acc": result.final_acc,
                "numbers": numbers(result),
            }
        )
    return out


def alone(args, seed: int) -> list[list]:
    """The seed's numbers from a process that trains nothing else."""
    cmd = [sys.executable, __file__, "--candidate", args.candidate, "--seeds", str(seed), "--device", args.device]
    cmd += ["--cuda-graphs", args.cuda_graphs, "--compile", args.compile, "--threads", str(args.threads), "--quiet"]
    cmd += ["--epochs", str(args.epochs)] if args.epochs else []
    cmd += ["--limit-train", str(args.limit_train)] if args.limit_train else []
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"seed {seed} alone failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["runs"][0]["numbers"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--candidate", default="model3")
    ap.add_argument("--seeds", type=_seeds, default=[0, 1, 2, 3, 4], help="comma-separated")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    ap.add_argument("--cuda-graphs", choices=("auto", "off", "on"), default="auto")
    ap.add_argument("--compile", choices=("off", "on"), default="off")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    ap.add_argument("--limit-train", type=int, default=None, metavar="N", help="train on the first N images only")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--check-alone", action="store_true", help="train each seed again alone and compare")
    ap.add_argument("--out", default=None, help="folder for the JSON (default: only printed)")
    ap.add_argument("--quiet", action="store_true", help="print only the JSON line")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    runs = train_seeds(args)
    report = {
        "machine": store.machine_info(),
        "candidate": args.candidate,
        "device": args.device,
        "settings": {"cuda_graphs": args.cuda_graphs, "compile": args.compile, "epochs": args.epochs},
        "limit_train": args.limit_train,
        "runs": runs,
        "total_wall_seconds": time.perf_counter() - t0,
        "total_train_seconds": sum(r["train_seconds"] for r in runs),
    }
    if args.check_alone:
        report["same_as_alone"] = {str(r["seed"]): alone(args, r["seed"]) == r["numbers"] for r in runs}
    if not args.quiet:
        for r in runs:
            print(
                f"seed {r['seed']}: train {r['train_seconds']:.2f} s, set-up {r['setup_seconds']:.2f} s, "
                f"final {r['final_test_acc']}, {r['execution'].get('engine')}"
                + (f", same as alone: {report['same_as_alone'][str(r['seed'])]}" if args.check_alone else ""),
                flush=True,
            )
        print(
            f"{len(runs)} seeds back to back: {report['total_train_seconds']:.2f} s training, "
            f"{report['total_wall_seconds']:.2f} s in all"
        )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        kind = args.device.split(":")[0]
        path = out / f"seeds-{kind}-{args.candidate}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        if not args.quiet:
            print(f"written: {path}")
    print(json.dumps({"runs": [{"seed": r["seed"], "numbers": r["numbers"]} for r in runs]}))
    if args.check_alone and not all(report["same_as_alone"].values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
