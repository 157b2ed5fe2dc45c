"""Would recomputing BatchNorm statistics for the scored weights lift the level? (issue #24)

Claim tested: an EMA averages the weights and, separately, the running statistics of the live
weights at each step; and those statistics were taken on warped digits. Recomputing them once
for the averaged weights over the clean training images (torch.optim.swa_utils.update_bn, as
SWA does) might add the few test images the 4,000-parameter frontier lacks.

Evidence: the final weights saved with each candidate's evidence (results/evidence/NAME/
NAME-seedN.pt), scored on the test set as saved and after recalibration. Our own model files
only: this script imports them, so it is never pointed at a candidate from outside.
  python experiments/bn_recalibration.py model6 model5 model4 model3
"""

import sys
from pathlib import Path

import torch
from torch.optim.swa_utils import update_bn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.engine import data as mdata  # noqa: E402
from harness.engine.loop import normalise, predict  # noqa: E402
from harness.engine.recipe import Recipe  # noqa: E402
from harness.judge import catalog  # noqa: E402
from harness.runner import builder  # noqa: E402

BATCH = 500


def accuracy(model, images, labels) -> float:
    return (predict(model, images).argmax(1) == labels).float().mean().item() * 100


def main(names):
    torch.set_num_threads(2)
    mnist = mdata.load()
    entries = catalog.scan(ROOT / "models")
    for name in names:
        build = builder.load_builder(entries[name].file, name)
        recipe = Recipe.from_dict(entries[name].recipe)
        train_x, test_x = normalise(mnist.train_images, recipe), normalise(mnist.test_images, recipe)
        for weights in sorted((ROOT / "results/evidence" / name).glob(f"{name}-seed*.pt")):
            model = build()
            model.load_state_dict(torch.load(weights, weights_only=True))
            before = accuracy(model, test_x, mnist.test_labels)
            update_bn([train_x[i : i + BATCH] for i in range(0, len(train_x), BATCH)], model)
            after = accuracy(model, test_x, mnist.test_labels)
            print(
                f"{name} {weights.stem.split('-')[-1]}: {before:.2f} -> {after:.2f} ({after - before:+.2f})", flush=True
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["model6"])
