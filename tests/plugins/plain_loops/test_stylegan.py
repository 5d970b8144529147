"""stylegan's step equals benchmarks/plain_loops/stylegan.py's, which benchmarks/overhead.py
times against it: the same G, D, G_ema, path-length mean and ADA p after the same batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.plugins.plain_loops.helpers import assert_same_weights, train_both

pytestmark = pytest.mark.usefixtures("one_thread")

# 16 px, narrow, batch 8; ADA starts at p = 0.5 and moves by 0.064 per adjustment, so its ops
# change the D inputs and p moves both ways without sticking at 0
TINY = ["model.image_size=16", "model.z_dim=16", "model.w_dim=16", "model.channel_base=128",
        "model.channel_max=8", "trainer.batch_size=8", "trick.ada.p_init=0.5",
        "trick.ada.kimg=0.5"]  # fmt: skip
# 17 steps: lazy R1 (every 16) runs at steps 0 and 16, ADA adjusts p after steps 4, 8, 12, 16
STEPS = 17


def check_same(keys: list[str]) -> None:
    """Train both sides STEPS steps; their G, D, G_ema, ADA p and path-length mean agree."""
    run, plain = train_both("stylegan", [*TINY, *keys], steps=STEPS)
    s: Any = run.system
    assert_same_weights([("G", s.G, plain.G), ("D", s.D, plain.D), ("G_ema", s.G_ema, plain.G_ema)])
    ada: Any = next(t for t in run.tricks if t.name == "ada")
    assert abs(float(ada.p) - 0.5) > 1e-3, "p never moved: the ADA check would be vacuous"
    assert torch.allclose(ada.p, plain.ada_p, atol=1e-6), (float(ada.p), float(plain.ada_p))
    assert torch.allclose(s.pl_mean, plain.pl_mean, atol=1e-5)


def test_defaults_equal_the_plain_loop(workdir: Path) -> None:
    """The domain's defaults (no path length, no mixing, no noise inputs): Dmain, lazy R1,
    Gmain, EMA with ramp-up and ADA."""
    check_same([])


def test_stylegan2_regularisers_equal_the_plain_loop(workdir: Path) -> None:
    """StyleGAN2's path length (every 4 steps, fired 5 times), style mixing 0.9 and noise."""
    check_same(["objective.pl_weight=2", "objective.style_mixing=0.9", "model.noise=true"])
