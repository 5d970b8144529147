"""Reading a sensitive attribute (`Capabilities.attribute`) from images, and real images of
known attribute value for measuring how well that reading works.

An attribute names a classifier ("digits": the local MNIST classifier; "shapes": the shapes
classifier of `ganhub.data.shapes`) and which of its classes make up each value ("01234" and
"56789" for two digit groups). A class outside every group reads as -1 ("other"): a triangle
when the attribute is square vs ellipse, say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ganhub.errors import UsageError

if TYPE_CHECKING:
    from ganhub.capabilities import Attribute

CLASSIFIERS = ("digits", "shapes")


def _classes(attribute: Attribute, images: Tensor) -> Tensor:
    """The named classifier's class of each image (N,), on the CPU."""
    if attribute.classifier == "digits":
        from ganhub.metrics.featurenet import classify_digits

        # the digit classifier reads one channel; a colour digit is read as its grey level
        grey = images if images.shape[1] == 1 else images.mean(1, keepdim=True)
        labels, _ = classify_digits(grey)
        return labels
    if attribute.classifier == "shapes":
        from ganhub.data.shapes import classify_shapes

        index, _ = classify_shapes(images)
        return index.cpu()
    raise UsageError(
        f"attribute '{attribute.name}': classifier '{attribute.classifier}' is unknown; "
        f"valid: {', '.join(CLASSIFIERS)}"
    )


def value_of_class(attribute: Attribute, classes: Tensor) -> Tensor:
    """The attribute value (index into `attribute.values`) of each classifier class; -1 for a
    class outside every group."""
    largest = max(c for group in attribute.groups for c in group)
    if len(classes):
        largest = max(largest, int(classes.max()))
    table = torch.full((largest + 1,), -1, dtype=torch.long)
    for value, group in enumerate(attribute.groups):
        table[list(group)] = value
    return table[classes.long()]


def classify_attribute(attribute: Attribute, images: Tensor) -> Tensor:
    """The attribute value of each image in [-1, 1] (N,) as an index into `attribute.values`,
    -1 where the classifier's class belongs to no value ("other"); on the CPU."""
    if images.ndim != 4:
        raise UsageError(
            f"attribute '{attribute.name}' is read from images (N, C, H, W); "
            f"got shape {list(images.shape)}"
        )
    if len(images) == 0:
        return torch.zeros(0, dtype=torch.long)
    return value_of_class(attribute, _classes(attribute, images.float().cpu()))


def labelled_reference(
    attribute: Attribute, n: int, seed: int, size: int, channels: int
) -> tuple[Tensor, Tensor]:
    """Up to `n` real images (N, channels, size, size) in [-1, 1] with known attribute values
    (N,), the same number of each value: what the attribute classifier's confusion is measured
    on. Digits come from the embedded digits the digit classifier held out (it never trained
    on them), shapes are rendered from sampled factors."""
    per_value = n // len(attribute.values)
    if per_value < 1:
        raise UsageError(
            f"labelled_reference: n={n} is fewer than the {len(attribute.values)} values of "
            f"attribute '{attribute.name}'"
        )
    if attribute.classifier == "digits":
        images, values = _digit_reference(attribute, per_value, seed, size)
        return images.expand(-1, channels, -1, -1).contiguous(), values
    if attribute.classifier == "shapes":
        return _shape_reference(attribute, per_value, seed, size, channels)
    raise UsageError(
        f"attribute '{attribute.name}': classifier '{attribute.classifier}' is unknown; "
        f"valid: {', '.join(CLASSIFIERS)}"
    )


def _digit_reference(
    attribute: Attribute, per_value: int, seed: int, size: int
) -> tuple[Tensor, Tensor]:
    from ganhub.data.images import digits
    from ganhub.metrics.featurenet import DIGITS_RECIPE

    images, labels = digits(size)
    # the digit classifier's held-out split (train_feature_net: the first `held_out` of a
    # permutation seeded by its recipe), so its confusion is not measured on its training set
    recipe_gen = torch.Generator().manual_seed(int(DIGITS_RECIPE["seed"]))
    held_out = torch.randperm(len(images), generator=recipe_gen)[: int(DIGITS_RECIPE["held_out"])]
    value = value_of_class(attribute, labels[held_out])
    pools = [held_out[value == v] for v in range(len(attribute.values))]
    # as many of each value as the smallest group holds (about 500 of 1,000 for two groups)
    k = min(per_value, *(len(pool) for pool in pools))
    if k == 0:
        raise UsageError(f"attribute '{attribute.name}': a value has no held-out digits")
    gen = torch.Generator().manual_seed(seed)
    picked = [pool[torch.randperm(len(pool), generator=gen)[:k]] for pool in pools]
    idx = torch.cat(picked)
    values = torch.arange(len(pools)).repeat_interleave(k)
    return images[idx], values


def _shape_reference(
    attribute: Attribute, per_value: int, seed: int, size: int, channels: int
) -> tuple[Tensor, Tensor]:
    from ganhub.data.shapes import SHAPES, render, sample_factors

    images, values = [], []
    for v, group in enumerate(attribute.groups):
        names = tuple(SHAPES[c] for c in group)
        # one seed per value: the values' factors are independent draws
        factors = sample_factors(
            per_value, seed=seed * 1009 + v, shapes=names, colour=channels == 3
        )
        images.append(render(factors, size, colour=channels == 3))
        values.append(torch.full((per_value,), v, dtype=torch.long))
    return torch.cat(images).float(), torch.cat(values)


def confusion_matrix(attribute: Attribute, images: Tensor, values: Tensor) -> Tensor:
    """C (V, V + 1) float64: C[i, j] the share of images of value i the classifier reads as
    value j; the last column is "other" (no value). Rows sum to 1."""
    n_values = len(attribute.values)
    read = classify_attribute(attribute, images)
    read = torch.where(read < 0, torch.full_like(read, n_values), read)
    counts = torch.zeros(n_values, n_values + 1, dtype=torch.float64)
    counts.index_put_(
        (values.long(), read), torch.ones(len(read), dtype=torch.float64), accumulate=True
    )
    return counts / counts.sum(1, keepdim=True).clamp_min(1)


__all__ = [
    "CLASSIFIERS",
    "classify_attribute",
    "confusion_matrix",
    "labelled_reference",
    "value_of_class",
]
