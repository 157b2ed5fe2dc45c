"""Checks the recipe and augmentation readers share: a finite number, and the near name a user
probably meant."""

from __future__ import annotations

import difflib
import math


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
