"""Per-image affine augmentation: identity at zero, one draw per image, reproducible from
the generator's seed, and background (0) wherever the image does not reach."""

from __future__ import annotations

import pytest
import torch

from harness.engine.warp import Augment, affine, random_affine

STRONG = Augment(rotate=30.0, translate=0.15, scale=(0.8, 1.2))


def images(n: int = 8, seed: int = 0) -> torch.Tensor:
    """Random [0, 1] images with a lopsided bright stroke, so any turn or shift shows."""
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 0.3
    x[:, :, 5:9, 4:20] = 1.0
    x[:, :, 9:22, 16:19] = 1.0
    return x


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_zero_rotation_shift_and_unit_scale_return_the_input():
    x = images()
    n = len(x)
    out = affine(x, torch.zeros(n), torch.ones(n), torch.zeros(n, 2))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_disabled_augment_returns_the_input():
    x = images()
    out = random_affine(x, Augment(), gen(0))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_output_keeps_shape_dtype_and_range():
    for dtype in (torch.float32, torch.float64):
        x = images(5).to(dtype)
        out = random_affine(x, STRONG, gen(0))
        assert out.shape == x.shape and out.dtype == dtype
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6


def test_each_image_gets_its_own_parameters():
    x = images(1).repeat(6, 1, 1, 1)  # six copies of one image
    out = random_affine(x, STRONG, gen(0))
    assert not torch.allclose(out[0], x[0], atol=1e-3)
    for i in range(6):
        for j in range(i + 1, 6):
            assert (out[i] - out[j]).abs().max() > 1e-3, (i, j)


def test_same_seed_same_output_other_seed_other_output():
    x = images()
    a = random_affine(x, STRONG, gen(7))
    b = random_affine(x, STRONG, gen(7))
    c = random_affine(x, STRONG, gen(8))
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_rotation_of_an_empty_image_stays_background():
    x = torch.zeros(4, 1, 28, 28)
    n = len(x)
    out = affine(x, torch.tensor([10.0, 45.0, -90.0, 180.0]), torch.ones(n), torch.zeros(n, 2))
    assert torch.equal(out, torch.zeros_like(x))
    out = random_affine(x, Augment(rotate=180, translate=0.5, scale=(0.5, 2.0)), gen(0))
    assert torch.equal(out, torch.zeros_like(x))


def test_shifted_image_border_is_background():
    x = torch.ones(1, 1, 28, 28)
    # A shift of a quarter side is exactly 7 pixels: the output samples 7 columns to the right.
    out = affine(x, torch.zeros(1), torch.ones(1), torch.tensor([[0.25, 0.0]]))
    assert torch.equal(out[..., :, 21:], torch.zeros(1, 1, 28, 7))
    torch.testing.assert_close(out[..., :, :21], torch.ones(1, 1, 28, 21))
    out = affine(x, torch.zeros(1), torch.ones(1), torch.tensor([[0.0, -0.25]]))
    assert torch.equal(out[..., :7, :], torch.zeros(1, 1, 7, 28))
    torch.testing.assert_close(out[..., 7:, :], torch.ones(1, 1, 21, 28))


def test_random_shift_uncovers_background_never_other_values():
    x = torch.ones(16, 1, 28, 28)
    out = random_affine(x, Augment(translate=0.2), gen(3))
    # Each image lost part of an edge to zero padding, and nothing became brighter.
    assert bool((out.flatten(1).min(1).values < 0.99).all())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
    assert bool((out.flatten(1).sum(1) < 28 * 28 - 0.01).all())
    # Sampling is separable: a shift of (dx, dy) pixels keeps (28 - |dx|)(28 - |dy|) of the ink.
    dx, dy = torch.tensor(3.5), torch.tensor(-2.25)
    one = affine(x[:1], torch.zeros(1), torch.ones(1), torch.stack([dx, dy]).view(1, 2) / 28)
    torch.testing.assert_close(one.sum(), (28 - dx.abs()) * (28 - dy.abs()))


@pytest.mark.parametrize("angle", [90.0, -90.0])
def test_quarter_turn_moves_pixels_like_rot90(angle):
    x = images(2)
    out = affine(x, torch.full((2,), angle), torch.ones(2), torch.zeros(2, 2))
    turns = [torch.rot90(x, k, dims=(2, 3)) for k in (1, -1)]
    matches = [torch.allclose(out, t, atol=1e-4) for t in turns]
    assert matches.count(True) == 1, "a quarter turn must equal exactly one of rot90(+1), rot90(-1)"


def test_opposite_quarter_turns_differ():
    x = images(1)
    plus = affine(x, torch.tensor([90.0]), torch.ones(1), torch.zeros(1, 2))
    minus = affine(x, torch.tensor([-90.0]), torch.ones(1), torch.zeros(1, 2))
    assert (plus - minus).abs().max() > 0.5


def test_zoom_in_enlarges_the_ink():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 12:16, 12:16] = 1.0
    big = affine(x, torch.zeros(1), torch.tensor([2.0]), torch.zeros(1, 2))
    small = affine(x, torch.zeros(1), torch.tensor([0.5]), torch.zeros(1, 2))
    assert float(big.sum()) > 2 * float(x.sum()) > 4 * float(small.sum())
