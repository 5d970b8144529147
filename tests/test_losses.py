"""Every loss against values computed by hand on fixed logits."""

from __future__ import annotations

import math

import pytest
import torch

from ganhub.losses import Targets
from ganhub.plugins import get_hub

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def sp(x: float) -> float:
    """softplus, by hand."""
    return math.log1p(math.exp(x))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


# (d_loss, g_loss) computed by hand from the papers' formulas
EXPECTED = {
    # -log sig(r) - log(1 - sig(f)) = softplus(-r) + softplus(f); G: log(1 - sig(f)) = -softplus(f)
    "minimax": (mean([sp(-2), sp(1)]) + mean([sp(0.5), sp(-3)]), -mean([sp(0.5), sp(-3)])),
    "nonsaturating": (mean([sp(-2), sp(1)]) + mean([sp(0.5), sp(-3)]), mean([sp(-0.5), sp(3)])),
    "wasserstein": (mean([0.5, -3]) - mean([2, -1]), -mean([0.5, -3])),
    # 0.5 E(r-1)^2 + 0.5 E(f-0)^2; G: 0.5 E(f-1)^2
    "lsgan": (0.5 * mean([1, 4]) + 0.5 * mean([0.25, 9]), 0.5 * mean([0.25, 16])),
    "hinge": (mean([0, 2]) + mean([1.5, 0]), -mean([0.5, -3])),
    # pairwise r - f = [1.5, 2]; G: f - r = [-1.5, -2]
    "relativistic": (mean([sp(-1.5), sp(-2)]), mean([sp(1.5), sp(2)])),
    # mean f = -1.25, mean r = 0.5: D: sp(-(r+1.25)) + sp(f-0.5); G: sp(-(f-0.5)) + sp(r+1.25)
    "relativistic_average": (
        mean([sp(-3.25), sp(-0.25)]) + mean([sp(0.0), sp(-3.5)]),
        mean([sp(0.0), sp(3.5)]) + mean([sp(3.25), sp(0.25)]),
    ),
}


def test_every_builtin_loss_has_a_hand_computed_case() -> None:
    assert set(get_hub().losses.by_plugin("ganhub.losses.adversarial")) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_matches_hand_computation(name: str) -> None:
    loss = get_hub().losses.get(name)
    d_expected, g_expected = EXPECTED[name]
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(FAKE, REAL).item() == pytest.approx(g_expected, rel=1e-6)


def test_smoothed_targets_move_bce_and_least_squares() -> None:
    hub = get_hub()
    smooth = Targets(real=0.9, fake=0.1)
    # BCE with target t on logit x: -t log sig(x) - (1-t) log(1-sig(x)) = t sp(-x) + (1-t) sp(x)
    bce = lambda x, t: t * sp(-x) + (1 - t) * sp(x)  # noqa: E731
    expected = mean([bce(2, 0.9), bce(-1, 0.9)]) + mean([bce(0.5, 0.1), bce(-3, 0.1)])
    assert hub.losses.get("nonsaturating").d_loss(REAL, FAKE, smooth).item() == pytest.approx(
        expected
    )
    ls = 0.5 * mean([(2 - 0.9) ** 2, (-1 - 0.9) ** 2]) + 0.5 * mean(
        [(0.5 - 0.1) ** 2, (-3 - 0.1) ** 2]
    )
    assert hub.losses.get("lsgan").d_loss(REAL, FAKE, smooth).item() == pytest.approx(ls)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_d_loss_rewards_separating_real_from_fake(name: str) -> None:
    """A discriminator that scores real above fake has a lower loss than one that does not."""
    loss = get_hub().losses.get(name)
    good = loss.d_loss(torch.tensor([1.0, 1.0]), torch.tensor([-1.0, -1.0]))
    bad = loss.d_loss(torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]))
    assert good < bad


def test_d_win_counts_a_tie_as_half_a_win() -> None:
    """D's pairwise win rate: 1 when every real logit is above its fake, 0.5 on ties (identical
    inputs, such as patches a translator leaves unchanged), not 0."""
    from torch import nn

    from ganhub.engine.context import TrainContext

    ctx = TrainContext(get_hub().losses.get("nonsaturating"))
    real, fake = torch.ones(4, 2), torch.zeros(4, 2)
    ranked = nn.Linear(2, 1)
    with torch.no_grad():
        ranked.weight.fill_(1.0)
        ranked.bias.zero_()
    assert float(ctx.d_loss(ranked, real, fake).stats["D_win"]) == 1.0
    constant = nn.Linear(2, 1)
    with torch.no_grad():
        constant.weight.zero_()
    assert float(ctx.d_loss(constant, real, fake).stats["D_win"]) == 0.5
