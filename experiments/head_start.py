"""How much do randomly initialised candidates know before training, and how far is that from the
head-start check's limits (harness/judge/head_start.py)?

Claim tested: at initialisation, no honest candidate comes near either limit:
- purity 0.5;
- an activation's nearest-centroid error under half the raw pixels'.

Weights trained here come far past both.

Evidence: every candidate in the folder, built in the gate's runners under each seed and probed
exactly as the judge probes before training. With --trained, the weights saved beside each
seed's evidence (results/evidence/NAME/NAME-seedN.pt) are probed too, for scale.
  python experiments/head_start.py --seeds 0,1,2 --trained > results/search/head-start.txt
"""

import argparse
import sys
from pathlib import Path

import torch
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.engine import data as mdata  # noqa: E402
from harness.engine.loop import normalise  # noqa: E402
from harness.engine.recipe import Recipe  # noqa: E402
from harness.judge import catalog, head_start, sandbox, trial  # noqa: E402

EVIDENCE = ROOT / "results" / "evidence"


def row(name: str, seed: int, weights: str, report: dict) -> list:
    pixels_error = 1 - report["pixels"]
    cells = [name, seed, weights]
    for mode in ("eval", "train"):
        found = report["programs"][mode]
        ratio = (1 - found["centroid_accuracy"]) / pixels_error
        cells += [f"{found['purity']:.3f}", f"{ratio:.2f}", found["layer"]]
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=catalog.REPO_MODELS)
    parser.add_argument("--seeds", default="0", help="comma-separated, e.g. 0,1,2")
    parser.add_argument("--trained", action="store_true", help="probe the saved evidence weights too")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    mnist = mdata.load()
    images, labels = head_start.sample(mnist)
    settings = trial.Settings(sandbox.choose("auto"), "cpu", threads=1)
    rows, purities, ratios = [], [], []
    for name, entry in sorted(catalog.scan(args.models_dir).items()):
        if entry.error is not None:
            print(f"{name}: skipped: {entry.error}", file=sys.stderr)
            continue
        x = normalise(images, Recipe.from_dict(entry.recipe))
        for seed in seeds:
            with trial.runner(Path(entry.file), settings) as r:
                try:
                    built = trial.build(r, name, seed)
                except trial.TrialStopped as e:
                    print(f"{name} seed {seed}: not built: {e.reason}", file=sys.stderr)
                    continue
                report = trial.initial_skill(built, x, labels)
                rows.append(row(name, seed, "initial", report))
                for found in report["programs"].values():
                    purities.append(found["purity"])
                    ratios.append((1 - found["centroid_accuracy"]) / (1 - report["pixels"]))
                saved = EVIDENCE / name / f"{name}-seed{seed}.pt"
                if args.trained and saved.exists():
                    trial.predict(built, torch.load(saved, weights_only=True), x[:2])  # loads the weights
                    rows.append(row(name, seed, "trained", trial.initial_skill(built, x, labels)))
    print(f"{len(labels)} training images; pixels' nearest-centroid accuracy {report['pixels']:.3f}")
    print(
        "purity: predicted classes mapped to their most common label; ratio: the best activation's "
        "nearest-centroid error over the pixels'"
    )
    columns = [f"{mode} {what}" for mode in ("eval", "train") for what in ("purity", "ratio", "layer")]
    headers = ["candidate", "seed", "weights", *columns]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(
        f"\ninitial weights: highest purity {max(purities):.3f} (limit {head_start.PURITY}), "
        f"lowest ratio {min(ratios):.2f} (limit {head_start.ERROR_RATIO})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
