"""Biased variants of the embedded digits: groups of digits in chosen shares, and a balanced
reference set that fairness tools hold generated samples against (Choi et al. 2020).

`biased_digits(32, ["01234", "56789"], [0.9, 0.1])` keeps as many of the 5,000 digits as
those shares allow (about 2,600: every "01234" digit that the reference set leaves, and a ninth
as many of the others), and sets aside a reference set balanced over the groups, about a tenth
of the training size, that shares no image with it. Digits in no group are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ganhub.capabilities import Attribute
from ganhub.config.shares import digit_groups_problem, proportions_problem
from ganhub.data.images import digits
from ganhub.errors import UsageError, one_line

REFERENCE_SHARE = 0.1  # the reference set's size, as a share of the training set's


def _check(groups: Sequence[str], proportions: Sequence[float]) -> None:
    problem = digit_groups_problem(groups)
    if problem:
        raise UsageError(one_line(f"groups={problem}"))
    problem = proportions_problem(proportions, len(groups), "group")
    if problem:
        raise UsageError(f"proportions={problem}")


def biased_digits(
    size: int, groups: Sequence[str], proportions: Sequence[float], *, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train images, train digit labels, reference images, reference labels) of the digits
    in `groups`, the training set in the given shares of the groups and as large as they allow,
    the reference set equal shares of the groups (about a tenth of the training size),
    disjoint from it. Seeded: which digits are kept depends on `seed` only."""
    _check(groups, proportions)
    images, labels = digits(size)
    gen = torch.Generator().manual_seed(seed)
    pools = []
    for group in groups:
        members = torch.isin(labels, torch.tensor([int(c) for c in group])).nonzero().flatten()
        pools.append(members[torch.randperm(len(members), generator=gen)])
    g = len(groups)
    # the largest N with p_i N + REFERENCE_SHARE N / g <= available_i in every group
    n = min(
        math.floor(len(pool) / (p + REFERENCE_SHARE / g))
        for pool, p in zip(pools, proportions, strict=True)
    )
    per_ref = max(1, round(REFERENCE_SHARE * n / g))
    counts = [min(round(p * n), len(pool) - per_ref) for pool, p in zip(pools, proportions)]
    if min(counts) < 1:
        raise UsageError(
            f"groups={list(groups)} with proportions={list(proportions)}: too few digits to "
            "keep one of each group besides the reference set"
        )
    reference = torch.cat([pool[:per_ref] for pool in pools])
    train = torch.cat([pool[per_ref : per_ref + c] for pool, c in zip(pools, counts)])
    train = train[torch.randperm(len(train), generator=gen)]
    return images[train], labels[train], images[reference], labels[reference]


def digit_group_attribute(groups: Sequence[str], proportions: Sequence[float]) -> Attribute:
    """The digit group as a sensitive attribute, read by the digits classifier."""
    digits = tuple(tuple(int(c) for c in group) for group in groups)
    return Attribute("digit group", tuple(groups), tuple(proportions), "digits", digits)


def group_of(labels: Tensor, groups: Sequence[str]) -> Tensor:
    """The index of each digit label's group (-1 for digits in no group)."""
    lookup = torch.full((10,), -1, dtype=torch.long)
    for i, group in enumerate(groups):
        lookup[[int(c) for c in group]] = i
    return lookup[labels.long()]


__all__ = [
    "REFERENCE_SHARE",
    "biased_digits",
    "digit_group_attribute",
    "group_of",
]
