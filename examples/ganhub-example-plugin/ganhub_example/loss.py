"""A loss from outside ganhub: the hinge loss with softplus instead of relu."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.losses import AdversarialLoss, Targets

if TYPE_CHECKING:
    from torch import Tensor


class SmoothHingeLoss(AdversarialLoss):
    """Hinge loss with softplus instead of relu: softplus(1 - D(x)) + softplus(1 + D(G(z)))."""

    name = "moons_smooth_hinge"

    def d_loss(self, real: Tensor, fake: Tensor, targets: Targets = Targets()) -> Tensor:
        """E softplus(1 - D(x)) + E softplus(1 + D(G(z)))."""
        import torch.nn.functional as F

        return F.softplus(1.0 - real).mean() + F.softplus(1.0 + fake).mean()

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """-E D(G(z)), as for the hinge loss."""
        return -fake.mean()
