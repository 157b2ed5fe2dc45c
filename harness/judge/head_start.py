"""The head-start check: a candidate starts from what the harness's seed drew, not from weights
learned elsewhere, however they are hidden.

The seed check (`harness.judge.seeds`) compares tensors. It cannot see a weight written as a
seed-drawn part plus a part the graph takes away again, or bits unpacked into weights. This
check measures function instead. Before the first step, the trainer runs both programs on
2,048 training images (`harness.runner.initial_skill`). A candidate is refused when, at that point:
- its predictions already sort the digits by class, or
- an inner activation groups them by class far better than the raw pixels do.

Measured at initialisation on the 15 models in `models/`, seeds 0 to 2
(`experiments/head_start.py`, output in `results/search/head-start.txt`):
- purity 0.11 to 0.28;
- the best activation's nearest-centroid error is at least 0.80 times that of the pixels.

The trained weights saved with their evidence give purity 0.99 or more and an error ratio of 0.01
to 0.14."""

from __future__ import annotations

import torch

from harness.engine.data import MNIST

IMAGES = 2048  # the last training images: the same every time, never test images
PURITY = 0.5  # share of images whose predicted class, mapped to its most common label, is right
ERROR_RATIO = 0.5  # an activation's nearest-centroid error below this share of the pixels' error


def sample(data: MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """The images the check runs on (uint8, as stored) and their labels."""
    return data.train_images[-IMAGES:], data.train_labels[-IMAGES:]


def problem(name: str, report: dict) -> str | None:
    """Why the candidate's initial weights are refused, or None. `report` is the trainer's
    (harness.runner.initial_skill.measure)."""
    pixels_error = 1.0 - float(report["pixels"])
    for mode, found in sorted(report["programs"].items()):
        program = f"{mode} program"
        if found["purity"] >= PURITY:
            return (
                f"{name}: classifies {found['purity']:.0%} of {IMAGES} training images by class before "
                f"any training ({program}; chance is about 11%): its initial weights were learned "
                "elsewhere. The harness owns the initialisation: remove pretrained weights from the "
                "file, however they are stored"
            )
        error = 1.0 - float(found["centroid_accuracy"])
        if found["layer"] is not None and error < ERROR_RATIO * pixels_error:
            return (
                f"{name}: before any training, activation {found['layer']!r} ({program}) groups "
                f"{IMAGES} training images by class with {error:.1%} nearest-centroid error, against "
                f"{pixels_error:.1%} for the raw pixels: its initial weights were learned elsewhere. "
                "The harness owns the initialisation: remove pretrained weights from the file, "
                "however they are stored"
            )
    return None
