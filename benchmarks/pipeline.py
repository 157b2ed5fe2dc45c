"""Course pipeline vs the mnist8k gate: a full training of a candidate, timed both ways on
the same machine in one run, with the ratio and each pipeline's peak memory; with --in-process,
also the engine called beside the candidate, which prices the judge/runner split.

  python benchmarks/pipeline.py                      # model3, 15 epochs, this machine
  python benchmarks/pipeline.py --in-process --threads 1 --skip-course
  python benchmarks/pipeline.py --course-epochs 2 --candidates model3,model4 --device cuda
  python benchmarks/pipeline.py --device cuda --in-process --eager   # course, eager, captured, gate on a GPU
  python benchmarks/pipeline.py --device cuda --skip-course --eager --in-process --compiled   # every lever

The course and in-process parts import the candidate into their own process: run them on
candidates you trust. The gate part runs it in the sandboxed runner, as the gate does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate

from harness.engine import data, loop
from harness.engine.recipe import Recipe
from harness.judge import (
    catalog,
    sandbox,
    trial,
)
from harness.records import store
from harness.report import bench

PARTS = ("course", "eager", "in-process", "compiled", "compiled-captured", "gate")


def run_part(args) -> dict:
    """One pipeline in this process, so its peak RSS is its own."""
    import torch

    from harness.runner.builder import load_builder

    if args.threads:
        torch.set_num_threads(args.threads)
    entry = catalog.scan(catalog.REPO_MODELS)[args.name]
    recipe = Recipe.from_dict(entry.recipe)
    if args.epochs:
        recipe = recipe.replace(epochs=args.epochs)
    device = loop.resolve_device(args.device)
    mnist = data.load(args.data_dir)
    if args.limit_train:
        mnist = dataclasses.replace(
            mnist,
            train_images=mnist.train_images[: args.limit_train],
            train_labels=mnist.train_labels[: args.limit_train],
        )
    if args.part == "gate":
        settings = trial.Settings(sandbox.choose("auto"), str(device), threads=torch.get_num_threads())
        out = bench.gate_pipeline(Path(entry.file), args.name, recipe, mnist, args.seed, settings)
    elif args.part in ("in-process", "eager", "compiled", "compiled-captured"):
        out = bench.in_process_pipeline(
            load_builder(entry.file, args.name),
            recipe,
            mnist,
            args.seed,
            device,
            cuda_graphs="off" if args.part in ("eager", "compiled") else "auto",
            compile=args.part.startswith("compiled"),
        )
    else:
        out = bench.course_pipeline(
            load_builder(entry.file, args.name),
            recipe,
            mnist.folder.parent.parent,
            args.seed,
            device,
            epochs_timed=min(args.course_epochs, recipe.epochs),
        )
    out.update(candidate=args.name, device=str(device), threads=torch.get_num_threads())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--candidates", default="model3", help="comma-separated names")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs for both")
    ap.add_argument(
        "--limit-train",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N images only (a shorter comparison of the same paths)",
    )
    ap.add_argument(
        "--course-epochs",
        type=int,
        default=1,
        help="epochs of the course pipeline actually timed; scaled to the recipe's epochs",
    )
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch threads in every part (0: torch's default)")
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="also time loop.train in-process, the reference for the runner's overhead",
    )
    ap.add_argument("--skip-course", action="store_true", help="leave the course pipeline out")
    ap.add_argument(
        "--eager",
        action="store_true",
        help="on CUDA, also time loop.train in this process with the eager loop (no CUDA graphs)",
    )
    ap.add_argument(
        "--compiled",
        action="store_true",
        help="also time loop.train in this process with the step compiled by torch.compile, and on "
        "CUDA compiled and captured (the compiling is reported as warm-up)",
    )
    ap.add_argument("--out", default=str(ROOT / "results" / "bench"), help="folder for the JSON")
    ap.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.part:
        print(json.dumps(run_part(args)))
        return 0

    rows, report = [], {"machine": store.machine_info(), "runs": []}
    for name in [n.strip() for n in args.candidates.split(",") if n.strip()]:
        parts = {}
        on_cuda = args.device.startswith("cuda")
        asked = {
            "course": not args.skip_course,
            "eager": args.eager,
            "in-process": args.in_process,
            "compiled": args.compiled,
            "compiled-captured": args.compiled and on_cuda,
            "gate": True,
        }
        wanted = [p for p in PARTS if asked[p]]
        for part in wanted:
            cmd = [
                sys.executable,
                __file__,
                "--part",
                part,
                "--name",
                name,
                "--device",
                args.device,
                "--seed",
                str(args.seed),
                "--course-epochs",
                str(args.course_epochs),
                "--threads",
                str(args.threads),
            ]
            cmd += ["--epochs", str(args.epochs)] if args.epochs else []
            cmd += ["--limit-train", str(args.limit_train)] if args.limit_train else []
            cmd += ["--data-dir", args.data_dir] if args.data_dir else []
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"error: {name} {part} pipeline failed:\n{done.stderr.strip()}", file=sys.stderr)
                return 1
            parts[part] = json.loads(done.stdout.strip().splitlines()[-1])
            p = parts[part]  # as each part ends, so a run cut short still shows what it measured
            print(
                f"{name} {part}: total {p['total_seconds']:.2f} s, train {p.get('train_seconds', 0):.2f} s, "
                f"final {p['final_test_acc']}, {p.get('execution', '')}",
                flush=True,
            )
        g = parts["gate"]
        run = {"candidate": name, **parts}
        for p in parts.values():
            scaled = f" (timed {p['epochs_timed']}, scaled)" if p["scaled"] else ""
            rows.append(
                [
                    name,
                    p["pipeline"],
                    p["device"],
                    p["threads"],
                    f"{p['seconds_per_epoch']:.2f}",
                    f"{p['total_seconds']:.1f}{scaled}",
                    f"{p.get('train_seconds', p['total_seconds']):.1f}",
                    f"{p['images_per_second']:,.0f}",
                    f"{p['warmup_seconds']:.2f}",
                    f"{p['peak_rss_mb']:,.0f}",
                    "" if p["peak_gpu_mb"] is None else f"{p['peak_gpu_mb']:,.0f}",
                ]
            )
        if "course" in parts:
            run["ratio"] = bench.ratio(parts["course"], g)
            rows.append([name, "ratio course / mnist8k gate", "", "", "", f"{run['ratio']:.2f}x", "", "", "", "", ""])
        if "in-process" in parts:
            extra = g["total_seconds"] - parts["in-process"]["total_seconds"]
            run["split_overhead"] = {
                "seconds": extra,
                "fraction": extra / parts["in-process"]["total_seconds"],
                "same_test_counts": g["test_correct"] == parts["in-process"]["test_correct"],
            }
            rows.append(
                [
                    name,
                    "gate - in-process (the split's cost)",
                    "",
                    "",
                    "",
                    f"{extra:+.1f} ({100 * run['split_overhead']['fraction']:+.2f}%)",
                    "",
                    "",
                    "",
                    "",
                    "same test counts" if run["split_overhead"]["same_test_counts"] else "COUNTS DIFFER",
                ]
            )
        report["runs"].append(run)
    print(
        tabulate(
            rows,
            headers=[
                "candidate",
                "pipeline",
                "device",
                "threads",
                "s/epoch",
                "total s",
                "train s",
                "images/s",
                "warm-up s",
                "peak RSS MB",
                "peak GPU MB",
            ],
        )
    )
    out = Path(args.out)
    kind = report["runs"][0]["gate"]["device"].split(":")[0] if report["runs"] else "none"
    path = out / f"{kind}-{platform.node() or 'host'}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    store.write_json(path, report)
    print(f"written: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
