"""Checks of data shares that configs and data builders share (no torch: configs import them).

`data.proportions` gives one share per value of a sensitive attribute (shapes, digit groups),
and `data.digit_groups` splits the digits into such values; each check returns why a value is
wrong, in one line, or None.
"""

from __future__ import annotations

from collections.abc import Sequence


def proportions_problem(proportions: Sequence[float], count: int, of: str) -> str | None:
    """Why `proportions` cannot be shares of `count` things (`of` names one), or None."""
    shares = [float(p) for p in proportions]
    if len(shares) != count:
        return f"{shares}: give one share per {of} ({count}), not {len(shares)}"
    if any(not p > 0 for p in shares):
        return f"{shares}: every share must be positive"
    if abs(sum(shares) - 1) > 1e-6:
        return f"{shares}: the shares sum to {sum(shares):.6g}, not 1"
    return None


def digit_groups_problem(groups: Sequence[str]) -> str | None:
    """Why `groups` cannot be disjoint groups of digits, or None: two or more non-empty
    strings of the characters 0-9, no digit in two groups."""
    shown = list(groups)
    if len(shown) < 2:
        return f"{shown}: give two or more groups of digits, e.g. ['01234', '56789']"
    seen: dict[str, str] = {}
    for group in shown:
        if not group or any(c not in "0123456789" for c in group):
            return f"{shown}: '{group}' is not a group of digits (the characters 0-9)"
        for c in group:
            if c in seen:
                return f"{shown}: digit {c} is in both '{seen[c]}' and '{group}'"
            seen[c] = group
    return None


__all__ = [
    "digit_groups_problem",
    "proportions_problem",
]
