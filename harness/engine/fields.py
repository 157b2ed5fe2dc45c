"""What the recipe and augmentation readers share: a finite number, the near name a user
probably meant, and a field's value as a candidate's file writes it."""

from __future__ import annotations

import difflib
import json
import keyword
import math
from collections.abc import Callable, Container, Mapping


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def did_you_mean(word, choices) -> str:
    """'; did you mean X?' for a near name: the same in another case, a prefix, or a close spelling."""
    if not isinstance(word, str) or not word:
        return ""
    choices = list(choices)
    lower = {c.lower(): c for c in choices}
    match = lower.get(word.lower())
    if match is None:
        starts = [c for c in choices if c.lower().startswith(word.lower())]
        close = difflib.get_close_matches(word.lower(), list(lower), n=1)
        if starts:
            return f"; did you mean {' or '.join(map(repr, starts[:3]))}?"
        match = lower[close[0]] if close else None
    return f"; did you mean {match!r}?" if match is not None else ""


def literal(v, leaf: Callable[[object], str] = repr, hide: Container = ()) -> str:
    """A value as a candidate's file writes it: dict(k=v) where every key can be a keyword
    argument, "strings", (tuples,), [lists]; `leaf` writes anything else, and keys in `hide` are
    left out of every mapping."""
    if isinstance(v, str):
        return json.dumps(v)

    def write(e) -> str:
        return literal(e, leaf, hide)

    if isinstance(v, Mapping):
        items = {k: e for k, e in v.items() if k not in hide}
        if all(isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k) for k in items):
            return "dict(" + ", ".join(f"{k}={write(e)}" for k, e in items.items()) + ")"
        return "{" + ", ".join(f"{write(k)}: {write(e)}" for k, e in items.items()) + "}"
    if isinstance(v, tuple):
        return "(" + ", ".join(map(write, v)) + (",)" if len(v) == 1 else ")")
    if isinstance(v, list):
        return "[" + ", ".join(map(write, v)) + "]"
    return leaf(v)
