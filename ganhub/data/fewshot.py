"""Few-shot subsets of labelled in-memory data, for any domain: keep some classes, then `n`
images of them picked by the run's seed; the rest of the kept classes is held out.

A domain applies `few_shot` to its (images, labels) tensors in `data()` (training reads only
the shots) and in `validation_samples()` (what `eval.real=validation` compares with), so the
two never overlap. The pick depends only on the data, the classes, `n` and the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ganhub.errors import ConfigError
from ganhub.plural import counted

HELD_OUT_CAP = 1000  # held-out images kept for evaluation: enough for feature statistics


@dataclass(frozen=True)
class FewShot:
    """The training subset (`index`: its rows in the full data, ascending) and the held-out
    rest of the kept classes (None without `n_shots`; at most HELD_OUT_CAP rows)."""

    images: Tensor
    labels: Tensor
    index: Tensor
    held_out: Tensor | None = None
    held_out_labels: Tensor | None = None
    held_out_index: Tensor | None = None


def few_shot(
    images: Tensor,
    labels: Tensor,
    *,
    classes: Sequence[int] | None = None,
    n_shots: int | None = None,
    seed: int = 0,
    held_out_cap: int = HELD_OUT_CAP,
    key: str = "data",
) -> FewShot:
    """Keep the images of `classes` (all when None), then `n_shots` of them chosen by a
    permutation seeded with `seed`; the next `held_out_cap` of that permutation are held out.

    `key` names the config section in errors (`data.classes`, `data.n_shots`).
    """
    if labels.ndim != 1 or len(images) != len(labels):
        raise ValueError("few_shot needs one class index per image (1-d labels)")
    if classes is None:
        kept = torch.arange(len(labels))
    else:
        present = set(labels.unique().tolist())
        missing = [c for c in classes if c not in present]
        if missing:
            shown = ",".join(str(c) for c in classes)
            raise ConfigError(
                f"{key}.classes=[{shown}]: class {missing[0]} has no images in this data "
                f"(its classes: {_ranges(sorted(present))})"
            )
        kept = torch.isin(labels, torch.tensor(list(classes), dtype=labels.dtype)).nonzero()[:, 0]
    if n_shots is None:
        return FewShot(images[kept], labels[kept], kept)
    problem = shots_problem(labels, classes, n_shots, key=key)
    if problem is not None:
        raise ConfigError(problem)
    order = kept[torch.randperm(len(kept), generator=torch.Generator().manual_seed(seed))]
    shots = order[:n_shots].sort().values
    rest = order[n_shots : n_shots + held_out_cap].sort().values
    return FewShot(images[shots], labels[shots], shots, images[rest], labels[rest], rest)


def shots_problem(
    labels: Tensor | Sequence[int],
    classes: Sequence[int] | None,
    n_shots: int,
    *,
    key: str = "data",
    name: str = "class",
) -> str | None:
    """Why `n_shots` images cannot be picked from the images of `classes` (all when None)
    whose class per image is `labels`: one line naming the key, each kept class and its count
    (`name`: what a class is called, "digit"); None when they can."""
    counts: dict[int, int] = {}
    for label in labels.tolist() if isinstance(labels, Tensor) else labels:
        counts[int(label)] = counts.get(int(label), 0) + 1
    kept = sorted(counts) if classes is None else list(classes)
    total = sum(counts.get(c, 0) for c in kept)
    if n_shots <= total:
        return None
    if classes is None:
        which = f"the data has only {counted(total, 'images')}"
    else:
        each = ", ".join(f"{name} {c}: {counts.get(c, 0)}" for c in kept)
        which = f"the kept classes have only {counted(total, 'images')} ({each})"
    return f"{key}.n_shots={n_shots}: {which}; give {key}.n_shots={total} or fewer"


def _ranges(values: list[int]) -> str:
    """'0-9' for 0,1,...,9; '0, 3, 5' otherwise."""
    if values and values == list(range(values[0], values[-1] + 1)) and len(values) > 2:
        return f"{values[0]}-{values[-1]}"
    return ", ".join(str(v) for v in values)


__all__ = ["HELD_OUT_CAP", "FewShot", "few_shot", "shots_problem"]
