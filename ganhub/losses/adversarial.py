"""The built-in adversarial losses, registered through `register_losses` like any plugin's.

All take raw logits; `softplus(-x) = -log(sigmoid(x))` keeps the BCE forms stable. torch is
imported inside the methods (a cached-module lookup per call), so registering the losses, and
`ganhub plugins`, loads no torch. `real_weight` weights each real sample's term (`real_mean`);
the relativistic losses, whose terms are not separable, weight the term of each real sample:
its pair (RSGAN), and the real side's mean logit (RaSGAN) becomes the weighted mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.hookspecs import Register, hookimpl
from ganhub.losses import AdversarialLoss, Targets, real_mean

if TYPE_CHECKING:
    from torch import Tensor


def _bce(logits: Tensor, target: float, weight: Tensor | None = None) -> Tensor:
    import torch
    import torch.nn.functional as F

    # one op (a 0-dim target expanded is two): this runs three times a step
    full = torch.full_like(logits, target)
    if weight is None:
        return F.binary_cross_entropy_with_logits(logits, full)
    return real_mean(F.binary_cross_entropy_with_logits(logits, full, reduction="none"), weight)


class MinimaxLoss(AdversarialLoss):
    """Original minimax GAN: BCE for D, saturating log(1 - D(G(z))) for G (Goodfellow 2014)."""

    name = "minimax"
    uses_targets = True

    def decision_threshold(self, targets: Targets = Targets()) -> float | None:
        """Logit 0: sigmoid(D) = 1/2."""
        return 0.0

    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """BCE of real logits against the real target plus fake logits against the fake target."""
        return _bce(real, targets.real, real_weight) + _bce(fake, targets.fake)

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """Minimise log(1 - sigmoid(fake)) = -softplus(fake): saturates when D wins."""
        import torch.nn.functional as F

        return -F.softplus(fake).mean()


class NonSaturatingLoss(MinimaxLoss):
    """BCE for D and the non-saturating -log D(G(z)) for G (the usual choice)."""

    name = "nonsaturating"

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """BCE of fake logits against the generator's target (1): -log sigmoid(fake)."""
        return _bce(fake, targets.gen)


class WassersteinLoss(AdversarialLoss):
    """Wasserstein GAN critic loss (needs a Lipschitz constraint: the gp or spectral_norm trick)."""

    name = "wasserstein"
    needs_lipschitz_d = True

    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """mean(D(fake)) - mean(D(real))."""
        return fake.mean() - real_mean(real, real_weight)

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """-mean(D(fake))."""
        return -fake.mean()


class LeastSquaresLoss(AdversarialLoss):
    """LSGAN (Mao et al. 2017), a=0, b=1, c=1: D regresses real->b, fake->a; G pushes fake->c."""

    name = "lsgan"
    uses_targets = True

    def decision_threshold(self, targets: Targets = Targets()) -> float | None:
        """Halfway between the real and fake targets."""
        return (targets.real + targets.fake) / 2

    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """0.5 E[(D(x) - b)^2] + 0.5 E[(D(G(z)) - a)^2]."""
        real_term = real_mean((real - targets.real) ** 2, real_weight)
        return 0.5 * real_term + 0.5 * ((fake - targets.fake) ** 2).mean()

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """0.5 E[(D(G(z)) - c)^2]."""
        return 0.5 * ((fake - targets.gen) ** 2).mean()


class HingeLoss(AdversarialLoss):
    """Hinge loss (SAGAN, BigGAN): relu(1 - D(x)) + relu(1 + D(G(z))) for D, -D(G(z)) for G."""

    name = "hinge"

    def decision_threshold(self, targets: Targets = Targets()) -> float | None:
        """Logit 0, between the margins at +1 and -1."""
        return 0.0

    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
        import torch.nn.functional as F

        return real_mean(F.relu(1.0 - real), real_weight) + F.relu(1.0 + fake).mean()

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """-E[D(G(z))]."""
        return -fake.mean()


class RelativisticLoss(AdversarialLoss):
    """Relativistic standard GAN (RSGAN, Jolicoeur-Martineau 2018): D(x) - D(G(z)) pairwise."""

    name = "relativistic"
    needs_real_for_g = True

    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """-log sigmoid(D(x) - D(G(z))); a weight weights the pair of its real sample."""
        import torch.nn.functional as F

        return real_mean(F.softplus(-(real - fake)), real_weight)

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """-log sigmoid(D(G(z)) - D(x))."""
        assert real is not None, "relativistic G loss needs real logits"
        import torch.nn.functional as F

        return F.softplus(-(fake - real)).mean()


class RelativisticAverageLoss(AdversarialLoss):
    """Relativistic average GAN (RaSGAN): each side against the other side's mean logit.

    The means are over the batch the loss sees: with trainer.grad_accum, each micro-batch's
    own (not the same update as the whole batch, unlike the per-sample losses)."""

    name = "relativistic_average"
    needs_real_for_g = True

    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """-log sig(D(x) - E D(G(z))) - log(1 - sig(D(G(z)) - E D(x))); with weights, E D(x)
        is the weighted mean (the expectation under the distribution the weights target)."""
        import torch.nn.functional as F

        real_term = real_mean(F.softplus(-(real - fake.mean())), real_weight)
        return real_term + F.softplus(fake - real_mean(real, real_weight)).mean()

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """The D loss with real and fake swapped."""
        assert real is not None, "relativistic G loss needs real logits"
        import torch.nn.functional as F

        return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()


BUILTIN_LOSSES: tuple[type[AdversarialLoss], ...] = (
    MinimaxLoss,
    NonSaturatingLoss,
    WassersteinLoss,
    LeastSquaresLoss,
    HingeLoss,
    RelativisticLoss,
    RelativisticAverageLoss,
)


@hookimpl
def register_losses(register: Register) -> None:
    """Register the built-in adversarial losses."""
    for cls in BUILTIN_LOSSES:
        register(cls.name, cls())
