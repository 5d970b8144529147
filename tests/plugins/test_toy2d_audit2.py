"""toy2d's statistics against the definitions of the mode-collapse literature (VEEGAN, PacGAN):
a sample is high quality within 3 std of its nearest mode, a mode is captured when a
high-quality sample is nearest to it, and the reverse KL is over the nearest-mode histogram."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_toy2d.data import mixture
from ganhub_toy2d.metrics import mode_stats


def test_the_mixtures_are_the_published_ones() -> None:
    ring, ring_std = mixture("ring")
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    expected = torch.stack([angles.cos(), angles.sin()], 1).float()
    assert ring_std == 0.01 and torch.allclose(ring, expected)
    grid, grid_std = mixture("grid")
    assert grid_std == 0.05 and len(grid) == 25
    assert {(int(x), int(y)) for x, y in grid.tolist()} == {
        (-4 + 2 * i, -4 + 2 * j) for i in range(5) for j in range(5)
    }


@pytest.mark.parametrize("kind", ["ring", "grid"])
def test_a_mode_counts_only_with_a_sample_within_three_std(kind: str) -> None:
    centers, std = mixture(kind)
    k = len(centers)
    offset = torch.tensor([1.0, 0.0])
    inside = centers + 2.9 * std * offset  # every mode has one sample within 3 std
    stats = mode_stats(inside, centers, std)
    assert stats == {"modes": k, "hq_percent": 100.0, "reverse_kl": 0.0, "balanced_hq": 100.0}
    outside = centers.clone()
    outside[0] += 3.1 * std * offset  # mode 0's only sample is just outside 3 std
    stats = mode_stats(outside, centers, std)
    assert stats["modes"] == k - 1
    assert stats["hq_percent"] == pytest.approx(100.0 * (k - 1) / k)
    assert stats["reverse_kl"] == pytest.approx(0.0)  # it is still nearest to mode 0


def test_the_reverse_kl_is_of_the_nearest_mode_histogram() -> None:
    centers, std = mixture("ring")
    one_mode = centers[:1].repeat(100, 1)
    stats = mode_stats(one_mode, centers, std)
    assert stats["modes"] == 1 and stats["reverse_kl"] == pytest.approx(math.log(8))
    assert stats["balanced_hq"] == pytest.approx(100.0 / 8)  # a missed mode costs 100/K
    two = torch.cat([centers[:1].repeat(3, 1), centers[1:2]])  # p = (3/4, 1/4, 0, ...)
    kl = 0.75 * math.log(0.75 * 8) + 0.25 * math.log(0.25 * 8)
    assert mode_stats(two, centers, std)["reverse_kl"] == pytest.approx(kl)


def test_tiny_on_the_grid_is_written_with_data_not_a_second_preset(cli: Any) -> None:
    code, _out, err = cli(
        "run", "plugin=toy2d", "preset=tiny", "data=grid", "trainer.steps=2",
        "trainer.progress=false", "name=g",
    )  # fmt: skip
    assert code == 0, err
    assert "dataset: grid" in Path("runs/g/config.yaml").read_text()
