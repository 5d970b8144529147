"""WGAN-GP as the reference toy code trains it (Gulrajani et al. 2017, gan_toy.py).

The gp trick's penalty is the paper's, term by term; toy2d takes the reference's toy lambda
(0.1) and has its whole recipe as `preset=wgan_gp` (with lambda 10, the trick's image setting,
`loss=wasserstein tricks=[gp]` kept 0 of the ring's 8 modes in 2,000 steps: docs/toy2d.md).
"""

from __future__ import annotations

import torch
from torch import nn

from ganhub.config.resolve import resolve
from ganhub.engine.context import TrainContext
from ganhub.engine.system import Pair, Phase, PhaseOutput
from ganhub.plugins import get_hub

TOY = ["plugin=toy2d", "preset=tiny"]


def _gp(*overrides: str):  # type: ignore[no-untyped-def]
    cfg = resolve([*TOY, "loss=wasserstein", "tricks=[gp]", *overrides])
    return get_hub().tricks.get("gp")(cfg.trick.gp, cfg)


def test_penalty_is_the_papers_on_a_nonlinear_critic() -> None:
    """lambda * mean((||grad D(x_hat)|| - 1)^2), x_hat = a * real + (1 - a) * fake with one
    a ~ U[0, 1] per sample, the norm over all of a sample's dims; fakes are detached, so the
    penalty trains D, never G."""
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    G = nn.Linear(2, 2)
    real, fake = torch.randn(4, 2), G(torch.randn(4, 2))
    phase = Phase("D", "D", lambda b, c: PhaseOutput(torch.zeros(()), {}))
    out = PhaseOutput(torch.zeros(()), {}, [Pair(D, real, fake)])
    ctx = TrainContext(get_hub().losses.get("wasserstein"))
    torch.manual_seed(1)
    penalty = _gp("trick.gp.weight=3").extra_loss(phase, out, ctx)

    torch.manual_seed(1)
    a = torch.rand(4, 1)
    x_hat = (a * real + (1 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat)
    expected = 3 * ((grad.pow(2).sum(1).sqrt() - 1) ** 2).mean()
    assert torch.allclose(penalty, expected, rtol=1e-6)
    penalty.backward()
    assert all(p.grad is None for p in G.parameters())
    assert D[0].weight.grad is not None  # (the last bias moves no input gradient)


def test_toy2d_takes_the_reference_toy_lambda() -> None:
    """toy2d's WGAN-GP lambda is gan_toy.py's 0.1; a weight the user gives wins, and DRAGAN
    keeps the trick's own."""
    assert _gp().options.weight == 0.1
    assert _gp("trick.gp.weight=10").options.weight == 10
    dragan = resolve([*TOY, "loss=nonsaturating", "tricks=[gp]", "trick.gp.variant=dragan"])
    assert dragan.trick.gp.weight == 10  # type: ignore[attr-defined]


def test_wgan_gp_preset_is_the_reference_recipe() -> None:
    """`preset=wgan_gp`: 5 critic steps per G step, lambda 0.1, Adam 1e-4 (toy2d's betas)."""
    cfg = resolve(["plugin=toy2d", "preset=wgan_gp"])
    gp, n_critic = cfg.trick.gp, cfg.trick.n_critic  # type: ignore[attr-defined]
    assert (cfg.loss, cfg.tricks) == ("wasserstein", ["gp", "n_critic"])
    assert (gp.variant, gp.weight, gp.center, n_critic.n) == ("wgan", 0.1, 1.0, 5)
    for side in (cfg.optim.G, cfg.optim.D):
        assert (side.name, side.lr, side.betas) == ("adam", 1e-4, (0.5, 0.999))
