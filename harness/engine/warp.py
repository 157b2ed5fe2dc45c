"""The affine kernel under harness.engine.augmentations.ContinuousAffine, and random_affine: the draws
recipes made before augmentation was written as named ops, kept as the reference ContinuousAffine
reproduces bit for bit (see tests/test_augmentations.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """random_affine's parameters, on the raw [0, 1] image, so padding is background (0)."""

    rotate: float = 0.0  # degrees: each image turns by U(-rotate, +rotate)
    translate: float = 0.0  # fraction of the side: each image shifts by U(-t, +t) * 28 px per axis
    scale: tuple[float, float] = (1.0, 1.0)  # each image zooms by U(lo, hi)

    @property
    def enabled(self) -> bool:
        return self.rotate != 0 or self.translate != 0 or tuple(self.scale) != (1.0, 1.0)


def affine(x: torch.Tensor, angle_deg: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Apply one affine per image. x: [N, 1, H, W] in [0, 1] with background 0;
    angle_deg, scale: [N]; shift: [N, 2] as a fraction of the side."""
    a = angle_deg * (math.pi / 180)
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    # affine_grid maps output to input coordinates; the side spans 2 units, so a shift
    # of t sides is 2t units. Zero padding equals the background of a raw MNIST image.
    theta = torch.stack(
        [
            torch.stack([cos, -sin, 2 * shift[:, 0]], 1),
            torch.stack([sin, cos, 2 * shift[:, 1]], 1),
        ],
        1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_affine(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Draw independent parameters per image and apply them; a disabled Augment is a no-op."""
    if not aug.enabled:
        return x
    n, dev = x.shape[0], x.device

    def uniform(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(n, *shape, generator=generator, device=dev)

    angle = uniform(-aug.rotate, aug.rotate)
    scale = uniform(aug.scale[0], aug.scale[1])
    shift = uniform(-aug.translate, aug.translate, 2)
    return affine(x, angle, scale, shift)
