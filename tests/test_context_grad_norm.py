"""`TrainContext.log_gradient_norm`: the norm of the gradient one term sends through a tensor,
recorded in the phase's stats during backward (CycleGAN's per-discriminator gradient)."""

from __future__ import annotations

import torch

from ganhub.engine.context import TrainContext
from ganhub.plugins import get_hub


def test_the_recorded_norm_is_that_terms_gradient_alone() -> None:
    """Two terms read x; only the view given to the first is measured: its gradient is 3."""
    ctx = TrainContext(get_hub().losses.get("nonsaturating"))
    x = torch.randn(4, 5, requires_grad=True)
    stats: dict[str, torch.Tensor] = {}
    seen = ctx.log_gradient_norm(stats, "G_adv_grad", x)
    assert stats == {}  # nothing before backward
    ((seen * 3).sum() + (x**2).sum()).backward()
    torch.testing.assert_close(stats["G_adv_grad"], torch.tensor(3.0 * 20**0.5))
    torch.testing.assert_close(x.grad, 3 + 2 * x.detach())  # the view changes no gradient


def test_a_scaled_backward_is_recorded_unscaled() -> None:
    """Under a GradScaler (fp16) the hook sees scaled gradients: the stat divides the scale
    out on the device (no sync)."""
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    ctx = TrainContext(get_hub().losses.get("nonsaturating"), scaler=scaler)
    x = torch.ones(2, 2, requires_grad=True)
    stats: dict[str, torch.Tensor] = {}
    scaler.scale((ctx.log_gradient_norm(stats, "g", x) * 0.5).sum()).backward()
    torch.testing.assert_close(stats["g"], torch.tensor(1.0))  # |0.5 x 4 entries| = 1
