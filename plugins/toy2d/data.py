"""The 2D Gaussian mixtures: a ring of 8 and a grid of 25 modes."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def mixture(kind: str) -> tuple[Tensor, float]:
    """(mode centres (K, 2), std) of the ring (8, radius 1, std 0.01) or grid (25, spacing 2, std 0.05)."""
    if kind == "ring":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)  # no duplicated endpoint
        return torch.stack([angles.cos(), angles.sin()], 1).float(), 0.01
    ticks = torch.arange(-4.0, 5.0, 2.0)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], 1), 0.05


def draw(kind: str, n: int, generator: torch.Generator) -> Tensor:
    """n points from the mixture, modes chosen uniformly."""
    centers, std = mixture(kind)
    idx = torch.randint(len(centers), (n,), generator=generator)
    return centers[idx] + std * torch.randn(n, 2, generator=generator)
