"""Per-image random affine (rotation, translation, scale) for a whole batch in two kernels.

torchvision's transforms draw one parameter set per call; here every image gets its own,
from a seeded generator, so a run is reproducible and a batch is not turned as one.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .recipe import Augment


def affine(x: torch.Tensor, angle_deg: torch.Tensor, scale: torch.Tensor,
           shift: torch.Tensor) -> torch.Tensor:
    """Apply one affine per image. x: [N, 1, H, W] in [0, 1] with background 0;
    angle_deg, scale: [N]; shift: [N, 2] as a fraction of the side."""
    a = angle_deg * (math.pi / 180)
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    # affine_grid maps output to input coordinates; the side spans 2 units, so a shift
    # of t sides is 2t units. Zero padding equals the background of a raw MNIST image.
    theta = torch.stack([
        torch.stack([cos, -sin, 2 * shift[:, 0]], 1),
        torch.stack([sin, cos, 2 * shift[:, 1]], 1),
    ], 1).to(x.dtype)
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
