"""Does an honest candidate's output for an image depend on the other images in its batch?

Claim tested: no. Evaluated twice, each time in a different secret order (so in batches of
1,000 with other images), every test image gets bitwise equal outputs, on the CPU, for
every candidate in the folder: the judge's tolerance for the two copies of a repeated test
image (trial.COMPANY_TOLERANCE, 1e-5 of the image's largest output) is room for a kernel's
rounding on other devices, not for anything a model does.

Evidence: every candidate in the folder, built in the gate's runners under seed 0, its
10,000 test outputs asked for twice through trial.predict (which also checks its own repeated
copies); with --trained, the weights saved beside seed 0's evidence
(results/evidence/NAME/NAME-seed0.pt) too.
  python experiments/batch_mates.py --trained > results/search/batch-mates.txt
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
from harness.judge import catalog, sandbox, trial  # noqa: E402

EVIDENCE = ROOT / "results" / "evidence"


def gap(built: trial.Built, state: dict, x: torch.Tensor) -> tuple[float, bool]:
    """(largest difference between two evaluations, whether they are bitwise equal)."""
    a, b = trial.predict(built, state, x), trial.predict(built, state, x)
    return float((a.float() - b.float()).abs().max()), torch.equal(a, b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=catalog.REPO_MODELS)
    parser.add_argument("--trained", action="store_true", help="the saved evidence weights of seed 0 too")
    args = parser.parse_args()
    mnist = mdata.load()
    settings = trial.Settings(sandbox.choose("auto"), "cpu", threads=1)
    rows, failed = [], []
    for name, entry in sorted(catalog.scan(args.models_dir).items()):
        if entry.error is not None:
            print(f"{name}: skipped: {entry.error}", file=sys.stderr)
            continue
        x = normalise(mnist.test_images, Recipe.from_dict(entry.recipe))
        with trial.runner(Path(entry.file), settings) as r:
            try:
                built = trial.build(r, name, 0)
            except trial.TrialStopped as e:
                print(f"{name}: not built: {e.reason}", file=sys.stderr)
                continue
            weights = {"initial": built.state}
            saved = EVIDENCE / name / f"{name}-seed0.pt"
            if args.trained and saved.exists():
                weights["trained"] = torch.load(saved, weights_only=True)
            for kind, state in weights.items():
                try:
                    largest, equal = gap(built, state, x)
                except trial.RunnerFailed as e:  # the copies disagreed, or the trainer could not evaluate
                    failed.append(name)
                    print(f"{name} ({kind}): failed: {e}", file=sys.stderr)
                    continue
                rows.append([name, kind, "yes" if equal else "no", f"{largest:.3g}"])
    print(f"{len(mnist.test_images)} test images, each evaluated twice in a different secret order")
    print(tabulate(rows, ["candidate", "weights", "bitwise equal", "largest difference"], tablefmt="github"))
    print(
        f"{len(rows)} evaluations: {sum(r[2] == 'yes' for r in rows)} bitwise equal; "
        f"failed (see the errors): {len(failed)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
