"""The candidate registry: `@register_model` files a builder under its function name,
with the recipe and the claim its author declares beside the code. Candidate files import
it as `models.registry`: the builder process serves this module under that name, so a
folder of candidates needs nothing but the candidate files."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

import torch.nn as nn


@dataclass(frozen=True)
class Candidate:
    name: str  # the builder's function name
    builder: Callable[[], nn.Module] | None  # None when its file failed to import
    recipe: dict = field(default_factory=dict)  # plain fields; the harness validates them
    claim: dict | None = None  # e.g. dict(seeds=(0, 1, 2), last_k=3): the rules it holds on those seeds
    file: str = ""  # the file that defines it
    error: str | None = None  # why its file could not be imported, if it could not


_REGISTRY: dict[str, Candidate] = {}


def register_model(*, recipe: dict, claim: dict | None = None, complies: bool | None = None):
    """Decorator: `@register_model(recipe=dict(...), claim=dict(seeds=(0, 1, 2), last_k=3))` over
    `def name(): ...`; no claim means none. `complies=True` is the older spelling of `claim=dict()`.
    The judge reads these arguments from the source; here they only label the builder."""
    if claim is None and complies:
        claim = {}

    def wrap(fn):
        name, file = fn.__name__, fn.__code__.co_filename
        if name in _REGISTRY:
            # Neither version runs: whichever file sorted first must not win silently.
            first = _REGISTRY[name].file
            why = f"candidate name {name!r} is registered twice ({first} and {file}); rename one"
            _REGISTRY[name] = Candidate(name, None, {}, {}, file, why)
            raise ValueError(why)
        _REGISTRY[name] = Candidate(name, fn, dict(recipe), None if claim is None else dict(claim), file)
        return fn

    return wrap


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a glob (several globs may be joined by commas)."""
    globs = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    return sorted(n for n in _REGISTRY if any(fnmatch.fnmatchcase(n, g) for g in globs))


def get_candidate(name: str) -> Candidate:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"no candidate named {name!r}; registered: {known}") from None


def create_model(name: str) -> nn.Module:
    cand = get_candidate(name)
    if cand.builder is None:
        raise ImportError(f"candidate {name!r} could not be imported: {cand.error}")
    return cand.builder()
