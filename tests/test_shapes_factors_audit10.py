"""The rotation estimate of `ganhub.data.shapes`: undefined (NaN) where the image has no k-fold
harmonic to take the phase of (a round blob, what a barely trained generator draws), with a
confidence beside it; drawn shapes keep theirs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ganhub.data.shapes import (
    MIN_ROTATION_CONFIDENCE,
    SHAPES,
    _moments,
    estimate_factors,
    render,
    sample_factors,
    true_factor_values,
)


def _blobs(n: int, size: int = 32) -> torch.Tensor:
    """Round Gaussian blobs (N, 1, size, size) in [-1, 1] at seeded centres and widths."""
    gen = torch.Generator().manual_seed(3)
    centre = 0.35 + 0.3 * torch.rand(n, 2, generator=gen)
    width = 0.06 + 0.08 * torch.rand(n, generator=gen)
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    dx = grid[None, None, :] - centre[:, 0, None, None]
    dy = grid[None, :, None] - centre[:, 1, None, None]
    blob = torch.exp(-(dx.square() + dy.square()) / (2 * width[:, None, None] ** 2))
    return (2 * blob - 1)[:, None]


def test_a_round_blob_has_no_rotation_whatever_shape_it_is_read_as() -> None:
    images = _blobs(30)
    for i, name in enumerate(SHAPES):
        found = _moments(images, torch.full((30,), i))
        assert found["rotation"].isnan().all(), name
        assert (found["rotation_confidence"] < MIN_ROTATION_CONFIDENCE / 5).all(), name
        # the other factors are still read: a blob has a place and a size
        assert torch.isfinite(found["x"]).all() and torch.isfinite(found["scale"]).all()


def test_drawn_shapes_keep_their_rotation_with_full_confidence() -> None:
    f = sample_factors(600, seed=21)
    found = _moments(render(f, 32), f[:, 0].long())
    confidence = found["rotation_confidence"]
    assert (confidence > 0.85).all() and (confidence <= 1).all()
    assert not found["rotation"].isnan().any()
    d = (found["rotation"] - true_factor_values(f)["rotation"]).abs() % (2 * math.pi)
    assert torch.minimum(d, 2 * math.pi - d).median() < 0.05


def test_an_empty_image_has_no_rotation_and_zero_confidence() -> None:
    found = _moments(-torch.ones(2, 1, 32, 32), torch.tensor([0, 2]))
    assert found["rotation"].isnan().all()
    assert (found["rotation_confidence"] == 0).all()
    assert all(torch.isfinite(v).all() for k, v in found.items() if k != "rotation")


def test_the_confidence_grows_as_a_shape_comes_out_of_a_blob() -> None:
    """An ellipse blurred less and less: its 2-fold harmonic, and so the confidence, rises."""
    ellipse = render(torch.tensor([[1.0, 1.0, 0.4, 0.5, 0.5]]), 32)
    blob = _blobs(1)
    mixed = torch.cat([t * ellipse + (1 - t) * blob for t in torch.linspace(0, 0.2, 5)])
    confidence = _moments(mixed, torch.ones(5, dtype=torch.long))["rotation_confidence"]
    assert (confidence.diff() > 0).all() and confidence[0] < 0.1 and confidence[-1] > 0.9


@pytest.mark.slow
def test_estimate_factors_reports_the_confidence(ganhub_cache: Path) -> None:
    """Through the public estimator (its shape classifier trained once, then cached)."""
    images = torch.cat([render(sample_factors(20, seed=4), 32), _blobs(20)])
    found = estimate_factors(images)
    assert not found["rotation"][:20].isnan().any() and found["rotation"][20:].isnan().all()
    assert len(found["rotation_confidence"]) == 40
    assert estimate_factors(torch.empty(0, 1, 32, 32))["rotation_confidence"].shape == (0,)
