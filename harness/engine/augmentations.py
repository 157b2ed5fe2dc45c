"""torchvision-style augmentation, written as torchvision's names and arguments, checked, and
applied per image to a whole batch on its device from a seeded generator, in batched kernels.
Each op matches torchvision.transforms.v2.functional (see tests), except ContinuousAffine, mnist8k's own."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from harness.engine.fields import did_you_mean, is_number
from harness.engine.warp import affine

SIZE = (28, 28)  # the model's input: a pipeline starts and must end at this size
MAX_SIDE = 4 * SIZE[0]  # every intermediate image side: a 20000-pixel Resize would ask for ~200 GB a batch
MAX_OPS = 32  # transforms in one list, RandomApply's included
Params = dict  # one op's draws for a batch: tensors with a leading dimension N (None: op disabled)


class AugmentError(ValueError):
    """A spec has problems; `.problems` lists every one, each naming the path of its field."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# ---------------------------------------------------------------------------------------------
# Reading a spec


def _seq(v) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes))


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _size_str(size) -> str:
    return f"{size[0]}x{size[1]}"


class _Args:
    """One op's arguments being read. Each getter returns the canonical value, or on a bad value
    records a problem naming the field's path and returns the default, so reading goes on and
    every problem in a spec is reported at once."""

    def __init__(self, args: Mapping, path: str, problems: list[str]):
        self.args, self.path, self.problems = args, path, problems

    def bad(self, key: str, why: str) -> None:
        self.problems.append(f"{self.path}.{key} = {self.args[key]!r} {why}")

    def note(self, why: str) -> None:
        self.problems.append(f"{self.path}: {why}")

    def has(self, key: str) -> bool:
        return key in self.args

    def check(self, key, default, ok, why, convert=lambda v: v):
        if key not in self.args:
            return default
        v = self.args[key]
        try:
            good = bool(ok(v))
        except TypeError:
            good = False
        if not good:
            self.bad(key, why)
            return default
        return convert(v)

    def prob(self, key: str, default: float) -> float:
        return self.check(
            key, default, lambda v: is_number(v) and 0 <= v <= 1, "must be a probability in [0, 1]", float
        )

    def number(self, key: str, default: float, ok, why: str) -> float:
        return self.check(key, default, lambda v: is_number(v) and ok(v), why, float)

    def flag(self, key: str, default: bool) -> bool:
        return self.check(key, default, lambda v: isinstance(v, bool), "must be True or False")

    def only(self, key: str, value, why: str):
        return self.check(key, value, lambda v: v == value and type(v) is type(value), why)

    def pair(self, key: str, default, ok, why: str):
        return self.check(
            key,
            default,
            lambda v: _seq(v) and len(v) == 2 and all(map(is_number, v)) and ok(*v),
            why,
            lambda v: (float(v[0]), float(v[1])),
        )

    def span(
        self,
        key: str,
        default,
        center: float = 0.0,
        floor: float | None = None,
        what: str = "a number d (meaning (-d, d)) or a pair (lo, hi)",
    ):
        """torchvision's `d or (lo, hi)` ranges: a number d >= 0 means (center - d, center + d),
        cut at `floor` where given; a pair is taken as it is, and needs lo <= hi."""
        if key not in self.args:
            return default
        v = self.args[key]
        if is_number(v):
            if v < 0:
                self.bad(key, f"must be {what}; a single number must be >= 0")
                return default
            lo, hi = center - v, center + v
            return (float(lo if floor is None else max(lo, floor)), float(hi))
        if _seq(v) and len(v) == 2 and all(map(is_number, v)):
            if v[0] > v[1]:
                self.bad(key, f"must be {what}; a pair needs lo <= hi")
                return default
            if floor is not None and v[0] < floor:
                self.bad(key, f"must be {what}; values below {_fmt(floor)} are not allowed")
                return default
            return (float(v[0]), float(v[1]))
        self.bad(key, f"must be {what}")
        return default

    def interpolation(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        if key not in self.args:
            return default
        v = self.args[key]
        if isinstance(v, enum.Enum):  # torchvision's InterpolationMode: its value is the string
            v = v.value
        if v not in allowed:
            self.bad(key, f"must be one of {', '.join(map(repr, allowed))}")
            return default
        return v

    def fill(self, key: str = "fill") -> float | None:
        """A number, a 1-tuple (torchvision's per-channel form, one channel here) or None. None is
        torchvision's plain zero padding; a number, 0 included, also blends the border with the
        fill by how much of each output pixel's sample fell inside the image."""
        if key not in self.args:
            return 0.0
        v = self.args[key]
        if v is None:
            return None
        if _seq(v) and len(v) == 1:
            v = v[0]
        if not is_number(v):
            self.bad(key, "must be a number, a 1-tuple (the images have one channel) or None")
            return 0.0
        return float(v)

    def size(self, key: str):
        """An int or a 1- or 2-sequence of positive ints: (int,) or (h, w), as given."""
        v = self.args[key]

        def ok_int(s):
            return isinstance(s, int) and not isinstance(s, bool) and s > 0

        if ok_int(v):
            v = (v,)
        if _seq(v) and len(v) in (1, 2) and all(map(ok_int, v)):
            if max(v) > MAX_SIDE:
                self.bad(
                    key,
                    f"must be at most {MAX_SIDE} pixels a side ({MAX_SIDE // SIZE[0]}x the "
                    f"{SIZE[0]}-pixel input), so every image in the pipeline stays small",
                )
                return None
            return tuple(v)
        self.bad(key, "must be a positive int or a pair (h, w) of positive ints")
        return None


# Frequent notebook transforms that have no place here, and why.
_NOT_HERE = {
    "Compose": "the list itself is the composition: write its transforms in the list",
    "ToTensor": "the batch is already a float tensor in [0, 1]: leave it out",
    "ToImage": "the batch is already a float tensor in [0, 1]: leave it out",
    "PILToTensor": "the batch is already a float tensor in [0, 1]: leave it out",
    "ToDtype": "the batch is already a float tensor in [0, 1]: leave it out",
    "ConvertImageDtype": "the batch is already a float tensor in [0, 1]: leave it out",
    "Normalize": "the recipe's mean and std normalise the batch after augmentation: leave it out",
}


def _parse_list(spec, path: str, problems: list[str], size: tuple[int, int]):
    """Parse a list of op dicts; returns (ops, output size, index of the op that set that size)."""
    if spec is None:
        return (), size, None
    if not _seq(spec):
        problems.append(f"{path} = {spec!r} must be a list of ops, each a dict with a 'name'")
        return (), size, None
    if len(spec) > MAX_OPS:
        problems.append(f"{path} holds {len(spec)} transforms; at most {MAX_OPS}")
        return (), size, None
    ops, last = [], None
    for i, entry in enumerate(spec):
        op, out = _parse_op(entry, f"{path}[{i}]", problems, size)
        if op is not None:
            ops.append(op)
        if out != size:
            last = i
        size = out
    return tuple(ops), size, last


def _parse_op(entry, path: str, problems: list[str], size):
    if not isinstance(entry, Mapping):
        problems.append(f"{path} = {entry!r} must be a dict with a 'name' (a torchvision transform)")
        return None, size
    name = entry.get("name")
    if not isinstance(name, str) or name not in _OPS:
        if not isinstance(name, str):
            problems.append(
                f"{path} has no 'name' string; give the torchvision transform's class name, one of {', '.join(_OPS)}"
            )
        elif name in _NOT_HERE:
            problems.append(f"{path}.name = {name!r} is not an op here: {_NOT_HERE[name]}")
        else:
            problems.append(
                f"{path}.name = {name!r} is not a supported op{did_you_mean(name, _OPS)} (supported: {', '.join(_OPS)})"
            )
        return None, size
    cls = _OPS[name]
    args = {k: v for k, v in entry.items() if k != "name"}
    for key in args:
        if key not in cls.ARGS:
            problems.append(
                f"{path}.{key} is not an argument of {name}{did_you_mean(key, cls.ARGS)} "
                f"({name} takes {', '.join(cls.ARGS)})"
            )
    missing = [k for k in cls.REQUIRED if k not in args]
    for key in missing:
        problems.append(f"{path}.{key} is missing: {name} needs it")
    if missing:
        return None, size
    return cls.read(_Args({k: v for k, v in args.items() if k in cls.ARGS}, path, problems), size)


def parse(spec, path: str = "augment") -> Pipeline:
    """Read a list of op dicts (torchvision's class names and arguments) into a Pipeline.
    None or [] is the identity. Raises AugmentError listing every problem in the spec."""
    if isinstance(spec, Pipeline):
        return spec
    problems: list[str] = []
    ops, size, last = _parse_list(spec, path, problems, SIZE)
    if size != SIZE:
        after = f" (after {path}[{last}], {spec[last].get('name')})" if last is not None else ""
        problems.append(
            f"{path}: the output would be {_size_str(size)}{after}, not the "
            f"{_size_str(SIZE)} the model takes; follow a smaller CenterCrop with Resize(28)"
        )
    if problems:
        raise AugmentError(problems)
    return Pipeline(ops)


# ---------------------------------------------------------------------------------------------
# Batched kernels


def _rand(generator: torch.Generator, device, *shape) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=device)


def _uniform(lo: float, hi: float, generator, device, *shape) -> torch.Tensor:
    return lo + (hi - lo) * _rand(generator, device, *shape)


def _wide(device) -> torch.dtype:
    """float64 for arithmetic on draws, except on MPS, which has no float64."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _randint(u: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """torch.randint(0, count) per image from u ~ U[0, 1); the clamp catches u * count rounding up."""
    return torch.minimum((u.to(_wide(u.device)) * count).floor().long(), count - 1)


def _select(applied: torch.Tensor | None, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return out if applied is None else torch.where(applied.view(-1, 1, 1, 1), out, x)


def _affine_theta(angle, translate, scale, shear, size) -> torch.Tensor:
    """torchvision's inverse affine matrix (_get_inverse_affine_matrix; centre of the image, F.affine's
    sign: a positive angle turns the image clockwise on screen) per image, as affine_grid's theta.
    angle: [N] degrees; translate: [N, 2] pixels or None; scale: [N] or None; shear: [N, 2] degrees
    or None. With no shear and no translation the arithmetic is harness.engine.warp.affine's, operation
    for operation, so that both give bit-identical grids (see the tests)."""
    h, w = size
    rot = angle * (math.pi / 180)
    if shear is None:
        a = d = torch.cos(rot)
        c = torch.sin(rot)
        b = -c
    else:
        sx, sy = (shear * (math.pi / 180)).unbind(1)
        cos_sy, tan_sx = torch.cos(sy), torch.tan(sx)
        a = torch.cos(rot - sy) / cos_sy
        b = -(a * tan_sx + torch.sin(rot))
        c = torch.sin(rot - sy) / cos_sy
        d = torch.cos(rot) - c * tan_sx
    m00, m01, m10, m11 = d, -b, -c, a
    if scale is not None:
        m00, m01, m10, m11 = m00 / scale, m01 / scale, m10 / scale, m11 / scale
    if translate is None:
        m02 = m12 = torch.zeros_like(m00)
    else:
        tx, ty = translate.unbind(1)
        m02, m12 = -(m00 * tx + m01 * ty), -(m10 * tx + m11 * ty)
    # torchvision applies the matrix to pixel offsets from the centre; affine_grid to the same
    # points in units of half a side: the same pixel-centre convention (align_corners=False).
    return torch.stack(
        [
            torch.stack([m00, m01 * (h / w), m02 * (2 / w)], 1),
            torch.stack([m10 * (w / h), m11, m12 * (2 / h)], 1),
        ],
        1,
    )


def _grid_transform(x: torch.Tensor, grid: torch.Tensor, mode: str, fill: float | None) -> torch.Tensor:
    """torchvision's _apply_grid_transform for a batch with one grid per image."""
    if fill is None:
        return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    # A ones channel sampled with the image tells how much of each output pixel fell inside it.
    out = F.grid_sample(
        torch.cat([x, torch.ones_like(x[:, :1])], 1), grid, mode=mode, padding_mode="zeros", align_corners=False
    )
    img, mask = out[:, :-1], out[:, -1:]
    fill_t = torch.tensor(fill, dtype=img.dtype, device=img.device)
    if mode == "nearest":
        return torch.where(mask < 0.5, fill_t, img)
    return img.sub(fill_t).mul_(mask).add_(fill_t)


def _affine(x, theta, mode, fill):
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return _grid_transform(x, grid, mode, fill)


def _source_coords(start, length, out: int, full: int, mode: str, dtype) -> torch.Tensor:
    """interpolate()'s source position of each output pixel (align_corners=False), inside the crop
    [start, start + length) of a side of `full` pixels, in grid_sample's normalised units. [N, out]"""
    k = torch.arange(out, device=start.device, dtype=dtype)
    n = length.to(dtype)[:, None]
    scale = n / out
    if mode == "nearest":  # legacy "nearest": floor(k * in / out), as torchvision's resize uses
        src = torch.minimum(torch.floor(k * scale), n - 1)
    else:  # bilinear, edge pixels repeated inside the crop rather than blended with its outside
        src = torch.minimum((scale * (k + 0.5) - 0.5).clamp(min=0), n - 1)
    src = src + start.to(dtype)[:, None]
    return (2 * src + 1) / full - 1


def _perspective_coeffs(start: list[list[int]], end: torch.Tensor) -> torch.Tensor:
    """torchvision's _get_perspective_coeffs for N quadrilaterals at once: the 8 coefficients mapping
    output (end) pixels to input (start) pixels, solved in float64 and rounded to float32 as there."""
    dt = _wide(end.device)
    e = end.to(dt)
    s = torch.tensor(start, dtype=dt, device=end.device)
    ex, ey = e[..., 0], e[..., 1]
    sx, sy = s[:, 0], s[:, 1]
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    rows_x = torch.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1)
    rows_y = torch.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)
    a = torch.stack([rows_x, rows_y], 2).reshape(len(end), 8, 8)
    b = s.reshape(1, 8, 1).expand(len(end), 8, 1)
    return torch.linalg.solve(a, b)[..., 0].to(torch.float32)


def _perspective_grid(coeffs: torch.Tensor, size, dtype) -> torch.Tensor:
    """torchvision's _perspective_grid, one per image. coeffs: [N, 8]."""
    oh, ow = size
    n, dev = len(coeffs), coeffs.device
    c = coeffs.to(dtype)
    base = torch.empty(oh, ow, 3, dtype=dtype, device=dev)
    base[..., 0] = torch.linspace(0.5, ow - 0.5, ow, dtype=dtype, device=dev)
    base[..., 1] = torch.linspace(0.5, oh - 0.5, oh, dtype=dtype, device=dev)[:, None]
    base[..., 2] = 1
    base = base.view(1, oh * ow, 3).expand(n, -1, -1)
    half = torch.tensor([0.5 * ow, 0.5 * oh], dtype=dtype, device=dev)
    theta1 = c[:, :6].view(n, 2, 3).transpose(1, 2) / half
    theta2 = torch.cat([c[:, 6:8], torch.ones_like(c[:, :1])], 1)[:, :, None].expand(n, 3, 2)
    return (base.bmm(theta1) / base.bmm(theta2) - 1).view(n, oh, ow, 2)


def _gaussian_kernels(k: int, sigma: torch.Tensor, dtype) -> torch.Tensor:
    """torchvision's _get_gaussian_kernel1d, one per sigma. [N, k]"""
    lim = (k - 1) / (2.0 * math.sqrt(2.0))
    t = torch.linspace(-lim, lim, steps=k, dtype=dtype, device=sigma.device)
    return torch.softmax(t.div(sigma.to(dtype)[:, None]).pow(2).neg(), dim=1)


# ---------------------------------------------------------------------------------------------
# Ops: each is a frozen dataclass holding its canonical arguments, with draw() and apply()


def _plain(v):
    if isinstance(v, _Op):
        return v.to_spec()
    if isinstance(v, (tuple, list)):
        return [_plain(e) for e in v]
    return v


@dataclass(frozen=True)
class _Op:
    ARGS: ClassVar[tuple[str, ...]] = ()  # torchvision's argument names, all accepted
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def read(cls, a: _Args, size: tuple[int, int]):
        """Build the op from checked arguments; returns (op, output size)."""
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        return True

    def out_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return size

    def draw(self, n: int, generator: torch.Generator, device, size: tuple[int, int]) -> Params:
        return {}

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def to_spec(self) -> dict:
        return {
            "name": type(self).__name__,
            **{f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)},
        }


_GRID_MODES = ("nearest", "bilinear")  # what torchvision's grid ops take for tensors


@dataclass(frozen=True)
class RandomRotation(_Op):
    """Turns each image by U(lo, hi) degrees, anticlockwise for positive angles, as F.rotate.
    Only expand=False and center=None: the image keeps its size and turns about its centre."""

    degrees: tuple[float, float]
    interpolation: str = "nearest"  # torchvision's default
    fill: float | None = 0.0

    ARGS: ClassVar = ("degrees", "interpolation", "expand", "center", "fill")
    REQUIRED: ClassVar = ("degrees",)

    @classmethod
    def read(cls, a, size):
        degrees = a.span("degrees", (0.0, 0.0))
        mode = a.interpolation("interpolation", "nearest", _GRID_MODES)
        a.only("expand", False, "must be False: expanding would change the image size")
        a.only("center", None, "must be None: images turn about their centre")
        return cls(degrees=degrees, interpolation=mode, fill=a.fill()), size

    @property
    def enabled(self):
        return self.degrees != (0.0, 0.0)

    def draw(self, n, generator, device, size):
        return {"angle": _uniform(*self.degrees, generator, device, n)}

    def apply(self, x, params):
        # F.rotate passes -angle to the affine matrix: rotate and affine turn opposite ways.
        theta = _affine_theta(-params["angle"], None, None, None, x.shape[-2:])
        return _affine(x, theta, self.interpolation, self.fill)


@dataclass(frozen=True)
class RandomAffine(_Op):
    """Rotation (F.affine's sign: positive turns clockwise), whole-pixel translation, scale and
    shear about the centre, as torchvision's RandomAffine with center=None."""

    degrees: tuple[float, float]
    translate: tuple[float, float] = (0.0, 0.0)  # fraction of width, of height: |dx| <= a * W
    scale: tuple[float, float] = (1.0, 1.0)
    shear: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x range, then y range
    interpolation: str = "nearest"  # torchvision's default
    fill: float | None = 0.0

    ARGS: ClassVar = ("degrees", "translate", "scale", "shear", "interpolation", "fill", "center")
    REQUIRED: ClassVar = ("degrees",)

    @classmethod
    def read(cls, a, size):
        degrees = a.span("degrees", (0.0, 0.0))
        translate = (0.0, 0.0)
        if a.has("translate") and a.args["translate"] is not None:
            translate = a.pair(
                "translate",
                translate,
                lambda x, y: 0 <= x <= 1 and 0 <= y <= 1,
                "must be a pair (a, b) of fractions in [0, 1]: the largest shift "
                "as a fraction of the width, and of the height",
            )
        scale = (1.0, 1.0)
        if a.has("scale") and a.args["scale"] is not None:
            scale = a.pair("scale", scale, lambda lo, hi: 0 < lo <= hi, "must be a pair (lo, hi) with 0 < lo <= hi")
        shear = (0.0, 0.0, 0.0, 0.0)
        v = a.args.get("shear")
        if v is not None:
            why = (
                "must be a number s (x shear in (-s, s)), a pair (lo, hi) for the x shear, or "
                "4 numbers (x_lo, x_hi, y_lo, y_hi), with lo <= hi and every angle strictly "
                "between -90 and 90 degrees"
            )
            if is_number(v) and 0 <= v < 90:
                shear = (-float(v), float(v), 0.0, 0.0)
            elif (
                _seq(v)
                and len(v) in (2, 4)
                and all(map(is_number, v))
                and all(-90 < s < 90 for s in v)
                and v[0] <= v[1]
                and (len(v) == 2 or v[2] <= v[3])
            ):
                xs = [float(x) for x in v] + ([0.0, 0.0] if len(v) == 2 else [])
                shear = (xs[0], xs[1], xs[2], xs[3])
            else:
                a.bad("shear", why)
        mode = a.interpolation("interpolation", "nearest", _GRID_MODES)
        fill = a.fill()
        a.only("center", None, "must be None: images turn about their centre")
        return cls(degrees=degrees, translate=translate, scale=scale, shear=shear, interpolation=mode, fill=fill), size

    @property
    def enabled(self):
        return self.degrees != (0.0, 0.0) or self.translate != (0.0, 0.0) or self.scale != (1.0, 1.0) or any(self.shear)

    def draw(self, n, generator, device, size):
        h, w = size
        lo, hi = self.degrees
        # Drawn as hi - (hi - lo) u rather than lo + (hi - lo) u (the same law): for degrees=d it
        # is then exactly minus harness.engine.warp's angle, which turns the other way, and the two
        # give bit-identical images. For the same reason scale comes before the shift, and the
        # shift is drawn even when translate is (0, 0), as random_affine does.
        angle = hi - (hi - lo) * _rand(generator, device, n)
        scale = _uniform(*self.scale, generator, device, n)
        # torchvision: round(U(-a W, a W)) whole pixels per axis (round half to even, as Python's)
        most = torch.tensor([self.translate[0] * w, self.translate[1] * h], device=device)
        translate = torch.round((2 * _rand(generator, device, n, 2) - 1) * most)
        params = {"angle": angle, "translate": translate, "scale": scale}
        if any(self.shear):
            u = _rand(generator, device, n, 2)
            s = self.shear
            params["shear"] = torch.stack([s[0] + (s[1] - s[0]) * u[:, 0], s[2] + (s[3] - s[2]) * u[:, 1]], 1)
        return params

    def apply(self, x, params):
        translate = params["translate"] if self.translate != (0.0, 0.0) else None
        theta = _affine_theta(params["angle"], translate, params["scale"], params.get("shear"), x.shape[-2:])
        return _affine(x, theta, self.interpolation, self.fill)


@dataclass(frozen=True)
class RandomResizedCrop(_Op):
    """A random crop (area fraction in scale, aspect w/h in ratio: torchvision's 10 tries, then its
    central-crop fallback) resized to 28x28. The crop never exceeds the input, which is never larger
    than 28x28, so the resize only enlarges: antialias, which acts only when shrinking, changes
    nothing and is kept for the record."""

    size: tuple[int, int] = SIZE
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    interpolation: str = "bilinear"
    antialias: bool = True

    ARGS: ClassVar = ("size", "scale", "ratio", "interpolation", "antialias")
    REQUIRED: ClassVar = ("size",)

    @classmethod
    def read(cls, a, size):
        out = a.size("size")
        if out is not None and (out * 2)[:2] != SIZE:
            a.bad("size", "must be 28 or (28, 28): the model takes 28x28 images")
        if size[0] > SIZE[0] or size[1] > SIZE[1]:
            a.note(
                f"RandomResizedCrop gets a {_size_str(size)} image here; its input may not be "
                f"larger than its {_size_str(SIZE)} output (only enlarging resizes are supported)"
            )
        antialias = a.check(
            "antialias", True, lambda v: v is None or isinstance(v, bool), "must be True, False or None", bool
        )
        return cls(
            scale=a.pair(
                "scale",
                (0.08, 1.0),
                lambda lo, hi: 0 < lo <= hi,
                "must be a pair (lo, hi) of area fractions with 0 < lo <= hi",
            ),
            ratio=a.pair(
                "ratio",
                (3.0 / 4.0, 4.0 / 3.0),
                lambda lo, hi: 0 < lo <= hi,
                "must be a pair (lo, hi) of aspect ratios with 0 < lo <= hi",
            ),
            interpolation=a.interpolation("interpolation", "bilinear", _GRID_MODES),
            antialias=antialias,
        ), SIZE

    def out_size(self, size):
        return self.size

    def draw(self, n, generator, device, size):
        H, W = size
        u = _rand(generator, device, n, 10, 2).to(_wide(device))
        area = H * W * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        lr = math.log(self.ratio[0]), math.log(self.ratio[1])
        ratio = torch.exp(lr[0] + (lr[1] - lr[0]) * u[..., 1])
        w = torch.round(torch.sqrt(area * ratio)).long()
        h = torch.round(torch.sqrt(area / ratio)).long()
        fits = (w > 0) & (w <= W) & (h > 0) & (h <= H)
        first = fits.to(torch.uint8).argmax(1, keepdim=True)  # the first try that fits
        found = fits.any(1)
        # torchvision's fallback: the largest central crop within the ratio range
        in_ratio = W / H
        if in_ratio < min(self.ratio):
            fw, fh = W, int(round(W / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            fw, fh = int(round(H * max(self.ratio))), H
        else:
            fw, fh = W, H
        w = torch.where(found, w.gather(1, first)[:, 0], fw)
        h = torch.where(found, h.gather(1, first)[:, 0], fh)
        v = _rand(generator, device, n, 2)
        top = torch.where(found, _randint(v[:, 0], H - h + 1), (H - fh) // 2)
        left = torch.where(found, _randint(v[:, 1], W - w + 1), (W - fw) // 2)
        return {"top": top, "left": left, "height": h, "width": w}

    def apply(self, x, params):
        (H, W), (oh, ow) = x.shape[-2:], self.size
        ys = _source_coords(params["top"], params["height"], oh, H, self.interpolation, x.dtype)
        xs = _source_coords(params["left"], params["width"], ow, W, self.interpolation, x.dtype)
        grid = torch.stack([xs[:, None, :].expand(-1, oh, -1), ys[:, :, None].expand(-1, -1, ow)], -1)
        # Every sample lies inside the image; border padding only keeps a rounding error at the
        # last pixel from blending with zeros.
        return F.grid_sample(x, grid, mode=self.interpolation, padding_mode="border", align_corners=False)


@dataclass(frozen=True)
class CenterCrop(_Op):
    """torchvision's CenterCrop: the central (h, w), padded with background where it is larger.
    Smaller than 28, it must be followed by Resize(28)."""

    size: tuple[int, int]

    ARGS: ClassVar = ("size",)
    REQUIRED: ClassVar = ("size",)

    @classmethod
    def read(cls, a, size):
        s = a.size("size")
        if s is None:
            return None, size
        op = cls(size=(s * 2)[:2])
        return op, op.size

    def out_size(self, size):
        return self.size

    def apply(self, x, params):
        ch, cw = self.size
        H, W = x.shape[-2:]
        if ch > H or cw > W:
            pad = [
                (cw - W) // 2 if cw > W else 0,
                (cw - W + 1) // 2 if cw > W else 0,
                (ch - H) // 2 if ch > H else 0,
                (ch - H + 1) // 2 if ch > H else 0,
            ]
            x = F.pad(x, pad, value=0.0)
            H, W = x.shape[-2:]
        top, left = int(round((H - ch) / 2.0)), int(round((W - cw) / 2.0))
        return x[..., top : top + ch, left : left + cw]


_RESIZE_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic")


@dataclass(frozen=True)
class Resize(_Op):
    """torchvision's Resize to (h, w); a single size s is the shorter side, as there, and is
    recorded as the (h, w) it gave. The same for every image: one interpolate call, torchvision's."""

    size: tuple[int, int]
    interpolation: str = "bilinear"
    antialias: bool = True

    ARGS: ClassVar = ("size", "interpolation", "max_size", "antialias")
    REQUIRED: ClassVar = ("size",)

    @classmethod
    def read(cls, a, size):
        a.only("max_size", None, "must be None: give the size")
        s = a.size("size")
        antialias = a.check(
            "antialias", True, lambda v: v is None or isinstance(v, bool), "must be True, False or None", bool
        )
        mode = a.interpolation("interpolation", "bilinear", _RESIZE_MODES)
        if s is None:
            return None, size
        if len(s) == 2:
            out = s
        else:  # torchvision: the shorter side becomes s, the longer keeps the aspect (truncated)
            h, w = size
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(s[0] * long / short)
            out = (new_long, s[0]) if w <= h else (s[0], new_long)
        op = cls(size=tuple(out), interpolation=mode, antialias=antialias)
        return op, op.size

    def out_size(self, size):
        return self.size

    def apply(self, x, params):
        if tuple(x.shape[-2:]) == self.size:
            return x
        smooth = self.interpolation in ("bilinear", "bicubic")
        return F.interpolate(
            x,
            size=list(self.size),
            mode=self.interpolation,
            align_corners=False if smooth else None,
            antialias=self.antialias and smooth,
        )


@dataclass(frozen=True)
class RandomErasing(_Op):
    """With probability p, sets a random rectangle (area fraction in scale, aspect h/w in ratio;
    torchvision's 10 tries, else nothing) to value. Unlike a notebook, where RandomErasing usually
    follows Normalize so that 0 is the mean grey, here it acts on the raw [0, 1] image: value=0 is
    background. value='random' (noise) is not supported."""

    p: float = 0.5
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)
    value: float = 0.0

    ARGS: ClassVar = ("p", "scale", "ratio", "value", "inplace")

    @classmethod
    def read(cls, a, size):
        a.flag("inplace", False)  # accepted and moot: the batch is never changed in place
        value = 0.0
        if a.has("value"):
            v = a.args["value"]
            v = v[0] if _seq(v) and len(v) == 1 else v
            if is_number(v):
                value = float(v)
            else:
                a.bad(
                    "value",
                    "must be a number or a 1-tuple (one channel; 0 is background, the "
                    "images being raw [0, 1]); 'random' (noise) is not supported",
                )
        return cls(
            p=a.prob("p", 0.5),
            scale=a.pair(
                "scale",
                (0.02, 0.33),
                lambda lo, hi: 0 <= lo <= hi <= 1,
                "must be a pair (lo, hi) of area fractions with 0 <= lo <= hi <= 1",
            ),
            ratio=a.pair(
                "ratio",
                (0.3, 3.3),
                lambda lo, hi: 0 < lo <= hi,
                "must be a pair (lo, hi) of aspect ratios with 0 < lo <= hi",
            ),
            value=value,
        ), size

    @property
    def enabled(self):
        return self.p > 0

    def draw(self, n, generator, device, size):
        H, W = size
        coin = _rand(generator, device, n) < self.p
        u = _rand(generator, device, n, 10, 2).to(_wide(device))
        area = H * W * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        lr = math.log(self.ratio[0]), math.log(self.ratio[1])
        ratio = torch.exp(lr[0] + (lr[1] - lr[0]) * u[..., 1])
        h = torch.round(torch.sqrt(area * ratio)).long()  # sic: h from area * ratio, as torchvision
        w = torch.round(torch.sqrt(area / ratio)).long()
        fits = (h < H) & (w < W)
        first = fits.to(torch.uint8).argmax(1, keepdim=True)
        h, w = h.gather(1, first)[:, 0], w.gather(1, first)[:, 0]
        v = _rand(generator, device, n, 2)
        return {
            "applied": coin & fits.any(1),
            "top": _randint(v[:, 0], H - h + 1),
            "left": _randint(v[:, 1], W - w + 1),
            "height": h,
            "width": w,
        }

    def apply(self, x, params):
        H, W = x.shape[-2:]
        rows = torch.arange(H, device=x.device)[None, :, None]
        cols = torch.arange(W, device=x.device)[None, None, :]
        top, left, h, w = (params[k][:, None, None] for k in ("top", "left", "height", "width"))
        inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        inside = inside & params["applied"][:, None, None]
        return torch.where(inside[:, None], torch.tensor(self.value, dtype=x.dtype, device=x.device), x)


@dataclass(frozen=True)
class RandomPerspective(_Op):
    """With probability p, moves each corner inward by up to distortion_scale of half a side (whole
    pixels), as torchvision's RandomPerspective."""

    distortion_scale: float = 0.5
    p: float = 0.5
    interpolation: str = "bilinear"
    fill: float | None = 0.0

    ARGS: ClassVar = ("distortion_scale", "p", "interpolation", "fill")

    @classmethod
    def read(cls, a, size):
        return cls(
            distortion_scale=a.number("distortion_scale", 0.5, lambda v: 0 <= v <= 1, "must be a number in [0, 1]"),
            p=a.prob("p", 0.5),
            interpolation=a.interpolation("interpolation", "bilinear", _GRID_MODES),
            fill=a.fill(),
        ), size

    @property
    def enabled(self):
        return self.p > 0 and self.distortion_scale > 0

    @staticmethod
    def startpoints(size) -> list[list[int]]:
        h, w = size
        return [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]

    def draw(self, n, generator, device, size):
        H, W = size
        coin = _rand(generator, device, n) < self.p
        bh = int(self.distortion_scale * (H // 2)) + 1
        bw = int(self.distortion_scale * (W // 2)) + 1
        rx = torch.randint(0, bw, (n, 4), generator=generator, device=device)
        ry = torch.randint(0, bh, (n, 4), generator=generator, device=device)
        # corners top-left, top-right, bottom-right, bottom-left, as (x, y)
        ox = torch.tensor([0, W - bw, W - bw, 0], device=device)
        oy = torch.tensor([0, 0, H - bh, H - bh], device=device)
        end = torch.stack([ox + rx, oy + ry], -1)
        return {"applied": coin, "endpoints": end, "coefficients": _perspective_coeffs(self.startpoints(size), end)}

    def apply(self, x, params):
        grid = _perspective_grid(params["coefficients"], x.shape[-2:], x.dtype)
        return _select(params["applied"], _grid_transform(x, grid, self.interpolation, self.fill), x)


@dataclass(frozen=True)
class ColorJitter(_Op):
    """Brightness (x * b) and contrast (blend with the image's mean) in a random order, as
    torchvision's ColorJitter. Saturation and hue do nothing to a one-channel image (torchvision
    returns it unchanged), so they are refused unless 0."""

    brightness: tuple[float, float] | None = None
    contrast: tuple[float, float] | None = None

    ARGS: ClassVar = ("brightness", "contrast", "saturation", "hue")

    @classmethod
    def read(cls, a, size):
        def factor(key):
            what = "a number v >= 0 (meaning (max(0, 1 - v), 1 + v)) or a pair (lo, hi) with lo >= 0"
            if a.args.get(key) is None:
                return None
            r = a.span(key, None, center=1.0, floor=0.0, what=what)
            return None if r == (1.0, 1.0) else r  # torchvision: no jitter

        for key, off in (("saturation", (0, (1, 1))), ("hue", (0, (0, 0)))):
            v = a.args.get(key)
            if v is not None and not (v == off[0] or (_seq(v) and tuple(v) == off[1])):
                a.bad(key, f"must be 0 or None: {key} does nothing to a one-channel image")
        return cls(brightness=factor("brightness"), contrast=factor("contrast")), size

    @property
    def enabled(self):
        return self.brightness is not None or self.contrast is not None

    def draw(self, n, generator, device, size):
        params = {}
        if self.brightness is not None and self.contrast is not None:
            # torchvision draws a permutation of its four adjustments; two of them act here
            params["brightness_first"] = _rand(generator, device, n) < 0.5
        if self.brightness is not None:
            params["brightness"] = _uniform(*self.brightness, generator, device, n)
        if self.contrast is not None:
            params["contrast"] = _uniform(*self.contrast, generator, device, n)
        return params

    @staticmethod
    def adjust_brightness(x, factor):
        return (x * factor.to(x.dtype).view(-1, 1, 1, 1)).clamp_(0, 1)

    @staticmethod
    def adjust_contrast(x, factor):
        f = factor.to(x.dtype).view(-1, 1, 1, 1)
        mean = x.mean(dim=(-3, -2, -1), keepdim=True)
        return (x * f + mean * (1 - f)).clamp_(0, 1)

    def apply(self, x, params):
        b, c = params.get("brightness"), params.get("contrast")
        if c is None:
            return self.adjust_brightness(x, b)
        if b is None:
            return self.adjust_contrast(x, c)
        bc = self.adjust_contrast(self.adjust_brightness(x, b), c)
        cb = self.adjust_brightness(self.adjust_contrast(x, c), b)
        return torch.where(params["brightness_first"].view(-1, 1, 1, 1), bc, cb)


@dataclass(frozen=True)
class GaussianBlur(_Op):
    """A Gaussian blur with sigma ~ U(lo, hi) per image, reflect padding, as torchvision's.
    kernel_size is (width, height), odd, as there."""

    kernel_size: tuple[int, int]
    sigma: tuple[float, float] = (0.1, 2.0)

    ARGS: ClassVar = ("kernel_size", "sigma")
    REQUIRED: ClassVar = ("kernel_size",)

    @classmethod
    def read(cls, a, size):
        def odd(s):
            return isinstance(s, int) and not isinstance(s, bool) and s > 0 and s % 2 == 1

        k = a.args["kernel_size"]
        k = (k,) if odd(k) else k
        if _seq(k) and len(k) in (1, 2) and all(map(odd, k)):
            k = (k[0], k[-1])
        else:
            a.bad("kernel_size", "must be an odd positive int or a pair of them (width, height)")
            k = None
        if k is not None and (k[0] // 2 >= size[1] or k[1] // 2 >= size[0]):
            a.bad(
                "kernel_size",
                f"is too large for a {_size_str(size)} image: reflect padding "
                f"needs half the kernel to be smaller than the side",
            )
        sigma = (0.1, 2.0)
        if a.has("sigma"):
            v = a.args["sigma"]
            v = (v, v) if is_number(v) else (v[0], v[0]) if _seq(v) and len(v) == 1 else v
            if _seq(v) and len(v) == 2 and all(map(is_number, v)) and 0 < v[0] <= v[1]:
                sigma = (float(v[0]), float(v[1]))
            else:
                a.bad("sigma", "must be a number > 0 or a pair (lo, hi) with 0 < lo <= hi")
        return (cls(kernel_size=k, sigma=sigma) if k is not None else None), size

    @property
    def enabled(self):
        return self.kernel_size != (1, 1)

    def draw(self, n, generator, device, size):
        return {"sigma": _uniform(*self.sigma, generator, device, n)}

    def apply(self, x, params):
        n, ch, H, W = x.shape
        kx, ky = self.kernel_size
        sigma = params["sigma"]
        kernel = _gaussian_kernels(ky, sigma, x.dtype)[:, :, None] * _gaussian_kernels(kx, sigma, x.dtype)[:, None, :]
        xp = F.pad(x, [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
        # one group per image and channel: a single convolution for the batch
        out = F.conv2d(xp.reshape(1, n * ch, *xp.shape[-2:]), kernel.repeat_interleave(ch, 0)[:, None], groups=n * ch)
        return out.view(n, ch, H, W)


@dataclass(frozen=True)
class RandomApply(_Op):
    """With probability p per image, its transforms in order; they must keep the image size."""

    transforms: tuple[_Op, ...]
    p: float = 0.5

    ARGS: ClassVar = ("transforms", "p")
    REQUIRED: ClassVar = ("transforms",)

    @classmethod
    def read(cls, a, size):
        p = a.prob("p", 0.5)
        v = a.args["transforms"]
        if not _seq(v) or not v:
            a.bad("transforms", "must be a non-empty list of ops")
            return None, size
        ops, out, _ = _parse_list(v, f"{a.path}.transforms", a.problems, size)
        if out != size:
            a.note(
                f"its transforms change the size from {_size_str(size)} to {_size_str(out)}; "
                f"inside RandomApply they must keep it (only some images get them)"
            )
        return cls(transforms=ops, p=p), size

    @property
    def enabled(self):
        return self.p > 0 and any(op.enabled for op in self.transforms)

    def draw(self, n, generator, device, size):
        applied = _rand(generator, device, n) < self.p
        return {"applied": applied, "inner": Pipeline(self.transforms).draw(n, generator, device, size)}

    def apply(self, x, params):
        return _select(params["applied"], Pipeline(self.transforms).apply(x, params["inner"]), x)


@dataclass(frozen=True)
class ContinuousAffine(_Op):
    """Not a torchvision transform: mnist8k's own. Rotation, zoom and a continuous sub-pixel shift
    drawn per image, the shift applied before the rotation, bilinear, zero padding. It is
    harness.engine.warp.random_affine draw for draw and bit for bit, so recipes written before named
    ops train as they did (torchvision's RandomAffine shifts by whole pixels, after the turn)."""

    degrees: tuple[float, float] = (0.0, 0.0)  # d means U(-d, d); a positive angle turns anticlockwise
    translate: float = 0.0  # each image shifts by U(-t, t) * 28 px per axis
    scale: tuple[float, float] = (1.0, 1.0)  # each image zooms by U(lo, hi)

    ARGS: ClassVar = ("degrees", "translate", "scale")

    @classmethod
    def read(cls, a, size):
        return cls(
            degrees=a.span("degrees", (0.0, 0.0)),
            translate=a.number(
                "translate",
                0.0,
                lambda v: 0 <= v < 1,
                "must be a fraction of the side in [0, 1): the shift is U(-t, t) times the side, per axis",
            ),
            scale=a.pair("scale", (1.0, 1.0), lambda lo, hi: 0 < lo <= hi, "must be a pair (lo, hi) with 0 < lo <= hi"),
        ), size

    @property
    def enabled(self):
        return self.degrees != (0.0, 0.0) or self.translate != 0 or self.scale != (1.0, 1.0)

    def draw(self, n, generator, device, size):
        # random_affine's order, and its draws even for a range of width 0, so the generator
        # moves on exactly as it did.
        angle = _uniform(*self.degrees, generator, device, n)
        scale = _uniform(*self.scale, generator, device, n)
        shift = _uniform(-self.translate, self.translate, generator, device, n, 2)
        return {"angle": angle, "scale": scale, "shift": shift}

    def apply(self, x, params):
        return affine(x, params["angle"], params["scale"], params["shift"])


_OPS = {
    cls.__name__: cls
    for cls in (
        RandomRotation,
        RandomAffine,
        RandomResizedCrop,
        CenterCrop,
        Resize,
        RandomErasing,
        RandomPerspective,
        ColorJitter,
        GaussianBlur,
        RandomApply,
        ContinuousAffine,
    )
}


@dataclass(frozen=True)
class Pipeline:
    """Ops applied in order, each image with its own draws. Build it with parse()."""

    ops: tuple[_Op, ...] = ()

    @property
    def enabled(self) -> bool:
        return any(op.enabled for op in self.ops)

    def to_spec(self) -> list[dict]:
        """Plain, JSON-safe data in canonical forms: parse(to_spec()) is this pipeline again."""
        return [op.to_spec() for op in self.ops]

    def draw(
        self, n: int, generator: torch.Generator, device=None, size: tuple[int, int] = SIZE
    ) -> tuple[Params | None, ...]:
        """Every op's parameters for n images of the given size, in op order; None for a
        disabled op, which draws nothing."""
        device = generator.device if device is None else torch.device(device)
        params = []
        for op in self.ops:
            params.append(op.draw(n, generator, device, size) if op.enabled else None)
            size = op.out_size(size)
        return tuple(params)

    def apply(self, x: torch.Tensor, params: Sequence[Params | None]) -> torch.Tensor:
        for op, p in zip(self.ops, params, strict=True):
            if p is not None:
                x = op.apply(x, p)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x: [N, 1, H, W] float in [0, 1], background 0; returns the same shape, dtype, device."""
        if x.ndim != 4 or x.shape[1] != 1 or not x.is_floating_point():
            raise ValueError(f"augmentation takes a float batch [N, 1, H, W], not {x.dtype} {list(x.shape)}")
        if not self.enabled:
            return x
        return self.apply(x, self.draw(len(x), generator, x.device, (x.shape[-2], x.shape[-1])))
