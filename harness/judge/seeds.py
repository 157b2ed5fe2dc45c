"""The seed check: the judge builds every candidate under two seeds and compares, tensor by
tensor, what the two builds' programs read. Weights chosen in advance (a forged generator
state, a table carried in the source) come out the same under both seeds, exactly or up to
noise added to hide them; independent draws do not. Only a constant fill, an identity or a
dirac init may ignore the seed: two values in a simple pattern, with or without noise."""

from __future__ import annotations

import math

import torch

FIXED_VALUES = 2  # a tensor the seed does not change may hold at most this many distinct values
# Two draws from different seeds are uncorrelated: a correlation this high, and this many standard
# errors (1/sqrt(n)) from zero, is the same table twice. Independent draws never reach 8 sigma.
SHARED = 0.5
SIGMAS = 8.0
POOLED = 0.25  # over all tensors together, so a table cut into small pieces is caught as well
LEVELS_EXPLAIN = 10.0  # between- over within-level variance where two levels are the shared part


def _flat(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().cpu()
    if t.is_complex():
        t = torch.view_as_real(t)
    return torch.nan_to_num(t.reshape(-1).to(torch.float64), nan=0.0, posinf=0.0, neginf=0.0)


def _changes(levels: torch.Tensor) -> int:
    """How often the flattened pattern switches value: an identity, a dirac or a block switches
    about twice per row; a table of learned signs about every other element."""
    return int((levels[1:] != levels[:-1]).sum()) if levels.numel() > 1 else 0


def _simple(levels: torch.Tensor) -> bool:
    return _changes(levels) <= 2 * math.isqrt(levels.numel()) + 2


def _two_levels(c: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The best approximation of `c` by two values (exact 1-D two-means, by sorting) and how much
    of c's variance those two levels explain (between over within)."""
    n = c.numel()
    order = torch.argsort(c)
    s = c[order]
    left = torch.cumsum(s, 0)[:-1]
    k = torch.arange(1, n, dtype=torch.float64)
    total = s.sum()
    gain = left**2 / k + (total - left) ** 2 / (n - k) - total**2 / n  # between-level sum of squares
    split = int(torch.argmax(gain))
    levels = torch.empty_like(c)
    low, high = order[: split + 1], order[split + 1 :]
    levels[low], levels[high] = c[low].mean(), c[high].mean()
    within = float(((c - levels) ** 2).sum())
    between = float(gain[split])
    return levels, (between / within if within > 0 else math.inf)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(a.norm() * b.norm())
    return float((a * b).sum()) / norm if norm > 0 else 0.0


def _identical(a: torch.Tensor) -> bool:
    """An identical tensor is a fill, an identity or a dirac, or it was chosen in advance."""
    values = torch.unique(a)
    return values.numel() > FIXED_VALUES or (values.numel() == FIXED_VALUES and not _simple(a))


def _near(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """The two draws' correlation, or None where what they share is two levels in a simple
    pattern (an identity plus noise)."""
    r = _correlation(a, b)
    if r > 0:
        levels, explained = _two_levels((a + b) / 2)
        if explained > LEVELS_EXPLAIN and _simple(levels):
            return None
    return r


def blind(mine: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], free) -> tuple[str, str] | None:
    """(name, what is wrong with it) for the first tensor the seed does not change, or None. `mine` and `theirs` are
    the tensors read under the trial's seed and under the check seed, by name."""
    pooled, seen, worst = 0.0, 0, (0.0, "")
    for key, value in mine.items():
        if key in free:
            continue
        twin = theirs.get(key)
        if twin is None or twin.shape != value.shape or twin.dtype != value.dtype:
            return key, "changes its name, shape or type with the seed (the architecture must not)"
        if value.numel() <= FIXED_VALUES:
            continue
        a, b = _flat(value), _flat(twin)
        if torch.equal(a, b):
            if _identical(a):
                return key, "does not depend on the seed (identical under both)"
            continue
        r = _near(a, b)
        if r is None:
            continue
        n = a.numel()
        if r > SHARED and r * math.sqrt(n) > SIGMAS:
            return key, f"does not depend on the seed (the same values up to noise, correlation {r:.2f})"
        pooled, seen = pooled + r * n, seen + n
        worst = max(worst, (r * math.sqrt(n), key))
    if seen and pooled / seen > POOLED and pooled / math.sqrt(seen) > SIGMAS:
        r = pooled / seen
        why = f"does not depend on the seed (with the rest: the same values up to noise, correlation {r:.2f})"
        return worst[1], why
    return None
