"""Shapes with known factors and biased digits: the renderer, the factor estimators against the
truth, the shape classifier, proportions, reference sets, and the docs section's commands."""

from __future__ import annotations

import hashlib
import math
import shlex
from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.data.biased import biased_digits, group_of
from ganhub.data.shapes import (
    FACTOR_INFO,
    FACTORS,
    RADIUS,
    SHAPES,
    SYMMETRY,
    UNIT_AREA,
    classify_shapes,
    estimate_factors,
    reference_set,
    render,
    sample_factors,
    shapes_classifier,
    true_factor_values,
)
from ganhub.errors import UsageError

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture
def cache(ganhub_cache: Path) -> Path:
    """The session's cache (tests/conftest.py), which every test shares: the classifier
    trains once a session."""
    return ganhub_cache


pytestmark = pytest.mark.usefixtures("one_thread")


def circular_error(a: torch.Tensor, b: torch.Tensor, period: float = 2 * math.pi) -> torch.Tensor:
    """|a - b| on a circle of the given period."""
    return (torch.remainder(a - b + period / 2, period) - period / 2).abs()


# -- factors and the renderer ----------------------------------------------------------------


def test_factors_are_seeded_in_range_and_in_their_proportions() -> None:
    f = sample_factors(5000, seed=3, shapes=["triangle", "square"], proportions=[0.9, 0.1])
    assert f.dtype == torch.float32 and f.shape == (5000, len(FACTORS))
    assert torch.equal(f, sample_factors(5000, seed=3, shapes=["triangle", "square"],
                                         proportions=[0.9, 0.1]))  # fmt: skip
    assert not torch.equal(f, sample_factors(5000, seed=4, shapes=["triangle", "square"],
                                             proportions=[0.9, 0.1]))  # fmt: skip
    kinds = f[:, 0].long()
    triangle, square = SHAPES.index("triangle"), SHAPES.index("square")
    assert set(kinds.tolist()) == {triangle, square}
    assert abs((kinds == triangle).float().mean().item() - 0.9) < 0.02
    scale, rotation, x, y = f[:, 1], f[:, 2], f[:, 3], f[:, 4]
    assert scale.min() >= 0.5 and scale.max() <= 1.0
    k = torch.tensor([SYMMETRY[s] for s in SHAPES], dtype=torch.float32)[kinds]
    assert (rotation >= 0).all() and (rotation < 2 * math.pi / k).all()
    for c in (x, y):
        # uniform over [RADIUS, 1 - RADIUS]: its std is (1 - 2 RADIUS) / sqrt(12)
        assert c.min() >= RADIUS and c.max() <= 1 - RADIUS
        assert abs(c.std() - (1 - 2 * RADIUS) / math.sqrt(12)) < 0.005
    hue = sample_factors(100, seed=0, colour=True)[:, 5]
    assert (hue >= 0).all() and (hue < 1).all()
    assert [FACTOR_INFO[name].kind for name in (*FACTORS, "hue")] == [
        "categorical", "continuous", "circular", "continuous", "continuous", "continuous"
    ]  # fmt: skip


def test_rendering_is_deterministic_in_range_and_keeps_every_shape_whole() -> None:
    f = sample_factors(400, seed=0)
    # the extreme corners of the factor space: every shape at scale 1 touching each edge
    corners = torch.tensor(
        [[i, 1.0, r, x, y] for i in range(3) for r in (0.0, 0.3) for x in (RADIUS, 1 - RADIUS)
         for y in (RADIUS, 1 - RADIUS)]
    )  # fmt: skip
    f = torch.cat([f, corners])
    images = render(f, 32)
    assert images.shape == (len(f), 1, 32, 32) and torch.equal(images, render(f, 32))
    assert images.min() == -1 and images.max() == 1
    assert (images.amax((1, 2, 3)) == 1).all()  # every shape covers whole pixels
    # nothing is cut off: the covered area is the shape's whole area (up to the 4 x 4 sub-pixel
    # sampling: 3 % at most for the smallest shapes)...
    area = ((images + 1) / 2).sum((1, 2, 3)) / 32**2
    unit = torch.tensor([UNIT_AREA[s] for s in SHAPES])[f[:, 0].long()]
    assert (area / (unit * (RADIUS * f[:, 1]) ** 2) - 1).abs().max() < 0.05
    # ...and a shape at an edge has the area of the same shape at the centre (up to where
    # its edges fall on the 4 x 4 sub-pixel grid: a non-integer shift of RADIUS * 32 px)
    centred = corners.clone()
    centred[:, 3:] = 0.5
    at_centre = ((render(centred, 32) + 1) / 2).sum((1, 2, 3)) / 32**2
    assert torch.allclose(area[400:], at_centre, rtol=0.04)
    assert render(f[:8], 64).shape == (8, 1, 64, 64)


def test_colour_images_have_the_hue_of_their_factor() -> None:
    f = sample_factors(200, seed=1, colour=True)
    images = render(f, 32, colour=True)
    assert images.shape == (200, 3, 32, 32)
    background = images.amax(1) == -1
    assert background.any() and (images.permute(1, 0, 2, 3)[:, background] == -1).all()
    red = torch.tensor([[0.0, 0.75, 0.0, 0.5, 0.5, 0.0]])
    centre = render(red, 32, colour=True)[0, :, 16, 16]
    assert centre.tolist() == [1.0, -1.0, -1.0]
    with pytest.raises(UsageError, match="hue"):
        render(f[:, :5], 32, colour=True)


def test_bad_shape_names_and_proportions_are_one_line_errors() -> None:
    for kwargs in ({"shapes": ["circle"]}, {"proportions": [0.5, 0.5]},
                   {"proportions": [1.2, -0.1, -0.1]}):  # fmt: skip
        with pytest.raises(UsageError) as err:
            sample_factors(10, seed=0, **kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(err.value)


# -- estimators -------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_estimators_recover_the_factors(cache: Path) -> None:
    """Measured at 32 px (2,000 images): x/y mean error 0.0004 of the width, scale correlation
    0.9999 per shape, rotation median error 0.01 rad of k theta (0.009 at scale >= 0.6),
    shapes all right; the bounds below leave room."""
    _net, spec = shapes_classifier()  # trained here once (~30 s), then read from the cache
    assert spec.accuracy >= 0.97 and spec.recipe["version"] >= 1
    assert (cache / "features" / "shapes.safetensors").is_file()
    f = sample_factors(2000, seed=11)
    est, true = estimate_factors(render(f, 32)), true_factor_values(f)
    assert (est["shape"] == true["shape"]).float().mean() >= 0.97
    for key in ("x", "y"):
        assert (est[key] - true[key]).abs().mean() < 0.01
    for i, name in enumerate(SHAPES):
        mine = true["shape"] == i
        corr = torch.corrcoef(torch.stack([est["scale"][mine], true["scale"][mine]]))[0, 1]
        assert corr > 0.98, name
        big = mine & (true["scale"] >= 0.6)
        err = circular_error(est["rotation"][big], true["rotation"][big])
        assert err.median() < 0.05 and err.quantile(0.9) < 0.15, name
    assert (est["rotation"] >= 0).all() and (est["rotation"] < 2 * math.pi).all()
    assert (est["mass"] > 0.01).all()
    # the scale is comparable across shapes: the same scale gives the same estimate
    same = torch.tensor([[i, 0.8, 0.2, 0.5, 0.5] for i in range(3)])
    assert estimate_factors(render(same, 64))["scale"].sub(0.8).abs().max() < 0.02


@pytest.mark.slow
def test_the_estimators_read_the_right_axes(cache: Path) -> None:
    """Swapping the image axes swaps x and y; a shape moved sideways moves x only."""
    f = sample_factors(300, seed=12)
    images = render(f, 32)
    est = estimate_factors(images.transpose(2, 3))
    assert (est["x"] - f[:, 4]).abs().mean() < 0.01 and (est["y"] - f[:, 3]).abs().mean() < 0.01
    moved = f.clone()
    step = torch.where(f[:, 3] < 0.5, 0.1, -0.1)  # towards the centre: the shape stays whole
    moved[:, 3] += step
    shift = estimate_factors(render(moved, 32))
    base = estimate_factors(images)
    assert (shift["x"] - base["x"] - step).abs().max() < 0.01
    assert (shift["y"] - base["y"]).abs().max() < 0.01


@pytest.mark.slow
def test_colour_estimates_and_empty_images(cache: Path) -> None:
    f = sample_factors(300, seed=13, colour=True)
    images = render(f, 32, colour=True)
    est = estimate_factors(images)
    assert circular_error(est["hue"], f[:, 5], period=1.0).max() < 1e-3
    labels, confidence = classify_shapes(images)
    assert (labels == f[:, 0].long()).float().mean() >= 0.97 and confidence.min() > 0
    empty = estimate_factors(-torch.ones(2, 1, 32, 32))
    assert (empty["mass"] == 0).all()
    # an empty image has no angle to read: its rotation is NaN, everything else finite
    assert empty["rotation"].isnan().all() and (empty["rotation_confidence"] == 0).all()
    assert all(torch.isfinite(v.float()).all() for k, v in empty.items() if k != "rotation")


def test_reference_set_is_balanced_seeded_and_apart_from_training() -> None:
    images, factors = reference_set(32, n=300, shapes=["square", "ellipse"])
    assert images.shape == (300, 1, 32, 32)
    assert torch.bincount(factors[:, 0].long(), minlength=3).tolist() == [150, 150, 0]
    assert torch.equal(factors, reference_set(32, n=300, shapes=["square", "ellipse"])[1])
    train = sample_factors(300, seed=0, shapes=["square", "ellipse"])
    assert not torch.isclose(factors[:, None, 1:], train[None, :, 1:]).all(2).any()


# -- biased digits ----------------------------------------------------------------------------


def _hashes(images: torch.Tensor) -> set[str]:
    return {hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in images}


def test_biased_digits_keep_the_shares_and_a_disjoint_balanced_reference() -> None:
    groups = ["01234", "56789"]
    train, labels, ref, ref_labels = biased_digits(32, groups, [0.9, 0.1], seed=0)
    assert train.shape[1:] == (1, 32, 32) and len(train) == len(labels)
    share = (group_of(labels, groups) == 0).float().mean().item()
    assert abs(share - 0.9) < 0.02
    assert len(train) > 2400  # as many as the shares allow: ~2,500 of the 0-4 digits
    counts = torch.bincount(group_of(ref_labels, groups), minlength=2).tolist()
    assert counts[0] == counts[1] and abs(len(ref) / len(train) - 0.1) < 0.02
    assert not _hashes(train) & _hashes(ref)
    again = biased_digits(32, groups, [0.9, 0.1], seed=0)
    assert torch.equal(again[1], labels) and torch.equal(again[3], ref_labels)
    subset = biased_digits(32, ["0", "1"], [0.5, 0.5])[1]
    assert set(subset.tolist()) == {0, 1}


def test_biased_digits_refuse_bad_groups_in_one_line() -> None:
    for groups, shares in ((["012", "23"], [0.5, 0.5]), (["01", "x"], [0.5, 0.5]),
                           (["01", "23"], [0.6, 0.6]), (["01", "23"], [1.0])):  # fmt: skip
        with pytest.raises(UsageError) as err:
            biased_digits(32, groups, shares)
        assert "\n" not in str(err.value)


# -- the docs section -------------------------------------------------------------------------


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end > 0 else None]


@pytest.mark.slow
def test_the_docs_section_runs_as_written(cache: Path) -> None:
    """docs/data.md's shapes section: its `ganhub run` lines resolve, its Python runs."""
    section = _section((DOCS / "data.md").read_text(), "## `data=shapes`")
    bash = [b.split("```", 1)[0] for b in section.split("```bash\n")[1:]]
    runs = [line.split("  #")[0] for block in bash for line in block.splitlines()
            if line.startswith("ganhub run ")]  # fmt: skip
    assert len(runs) >= 4
    sources = {resolve(shlex.split(line)[2:]).data.source for line in runs}  # type: ignore[attr-defined]
    assert sources == {"shapes", "digits"}
    python = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    assert python
    for block in python:
        exec(compile(block, "data.md", "exec"), {})
