"""Course pipeline vs mnist8k's tensor path: a full training of a candidate, timed both ways
on the same machine in one run, with the ratio and each pipeline's peak memory.

  python benchmarks/pipeline.py                      # model3, 15 epochs, this machine
  python benchmarks/pipeline.py --course-epochs 2 --candidates model3,model4 --device cuda
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate  # noqa: E402

from harness import bench, data, engine, results  # noqa: E402
from harness.recipe import Recipe  # noqa: E402


def run_part(args) -> dict:
    """One pipeline in this process, so its peak RSS is its own."""
    import torch

    from models import get_candidate

    cand = get_candidate(args.name)
    recipe = Recipe.from_dict(cand.recipe)
    if args.epochs:
        recipe = recipe.replace(epochs=args.epochs)
    device = engine.resolve_device(args.device)
    mnist = data.load(args.data_dir)
    if args.part == "course":
        out = bench.course_pipeline(cand.builder, recipe, mnist.folder.parent.parent, args.seed, device,
                                    epochs_timed=min(args.course_epochs, recipe.epochs))
    else:
        out = bench.tensor_pipeline(cand.builder, recipe, mnist, args.seed, device)
    out.update(candidate=args.name, device=str(device), threads=torch.get_num_threads())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--candidates", default="model3", help="comma-separated names")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs for both")
    ap.add_argument("--course-epochs", type=int, default=1,
                    help="epochs of the course pipeline actually timed; scaled to the recipe's epochs")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench"), help="folder for the JSON")
    ap.add_argument("--part", choices=["course", "tensor"], help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.part:
        print(json.dumps(run_part(args)))
        return 0

    rows, report = [], {"machine": results.machine_info(), "runs": []}
    for name in [n.strip() for n in args.candidates.split(",") if n.strip()]:
        parts = {}
        for part in ("course", "tensor"):
            cmd = [sys.executable, __file__, "--part", part, "--name", name, "--device", args.device,
                   "--seed", str(args.seed), "--course-epochs", str(args.course_epochs)]
            cmd += ["--epochs", str(args.epochs)] if args.epochs else []
            cmd += ["--data-dir", args.data_dir] if args.data_dir else []
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"error: {name} {part} pipeline failed:\n{done.stderr.strip()}", file=sys.stderr)
                return 1
            parts[part] = json.loads(done.stdout.strip().splitlines()[-1])
        c, t = parts["course"], parts["tensor"]
        speedup = bench.ratio(c, t)
        report["runs"].append({"candidate": name, "course": c, "tensor": t, "ratio": speedup})
        for p in (c, t):
            scaled = f" (timed {p['epochs_timed']}, scaled)" if p["scaled"] else ""
            rows.append([name, p["pipeline"], p["device"], p["threads"], f"{p['seconds_per_epoch']:.2f}",
                         f"{p['total_seconds']:.1f}{scaled}", f"{p['images_per_second']:,.0f}",
                         f"{p['warmup_seconds']:.2f}", f"{p['peak_rss_mb']:,.0f}",
                         "" if p["peak_gpu_mb"] is None else f"{p['peak_gpu_mb']:,.0f}"])
        rows.append([name, "ratio course / mnist8k", "", "", "", f"{speedup:.2f}x", "", "", "", ""])
    print(tabulate(rows, headers=["candidate", "pipeline", "device", "threads", "s/epoch", "total s",
                                  "images/s", "warm-up s", "peak RSS MB", "peak GPU MB"]))
    out = Path(args.out)
    kind = report["runs"][0]["tensor"]["device"].split(":")[0] if report["runs"] else "none"
    path = out / f"{kind}-{platform.node() or 'host'}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    results.write_json(path, report)
    print(f"written: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
