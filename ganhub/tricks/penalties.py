"""Gradient penalties on the discriminator: WGAN-GP / DRAGAN, R1 and R2 (lazy interval)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from ganhub.config.schema import RunConfig, Section
from ganhub.engine.context import TrainContext
from ganhub.engine.system import GANSystem, Pair, Phase, PhaseOutput
from ganhub.tricks import Trick

if TYPE_CHECKING:
    from ganhub.domain import Domain
from ganhub.tricks.weights import refuse_batchnorm

_LIPSCHITZ_LOSSES = frozenset({"wasserstein", "hinge"})
_CLASSIFIER_LOSSES = frozenset({"minimax", "nonsaturating", "lsgan"})


def _per_sample(shape_of: Tensor) -> list[int]:
    return [shape_of.shape[0]] + [1] * (shape_of.ndim - 1)


class GradientPenaltyConfig(Section):
    """Options of the `gp` trick."""

    variant: Literal["wgan", "dragan"] = Field(
        "wgan",
        description="wgan: between real and fake (Gulrajani 2017); dragan: around real (Kodali 2017)",
    )
    weight: float = Field(10.0, gt=0, description="penalty coefficient lambda")
    center: float = Field(
        1.0, ge=0, description="target gradient norm (1: Lipschitz; 0: zero-centred)"
    )
    dragan_scale: float = Field(0.5, gt=0, description="DRAGAN perturbation: c * std(x) * U[0, 1]")


class GradientPenalty(Trick):
    """Gradient penalty: lambda * (||grad D(x_hat)|| - 1)^2 on per-sample interpolates."""

    name = "gp"
    Config = GradientPenaltyConfig

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: WGAN-GP suits Lipschitz losses, DRAGAN classifier losses."""
        out = super().problems(options, config, domain)
        suits = _LIPSCHITZ_LOSSES if options.variant == "wgan" else _CLASSIFIER_LOSSES
        if config.loss not in suits:
            other = "dragan" if options.variant == "wgan" else "wgan"
            out.append(
                f"trick 'gp' with trick.gp.variant={options.variant} does not suit loss "
                f"'{config.loss}' (it suits: {', '.join(sorted(suits))}); "
                f"use trick.gp.variant={other} or another loss"
            )
        return out

    def setup(self, system: GANSystem) -> None:
        """Refuse discriminators with BatchNorm."""
        refuse_batchnorm(self.name, system)

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """The penalty summed over the discriminators this phase trained."""
        if not out.pairs:
            return None
        return sum((self._penalty(pair, ctx) for pair in out.pairs), torch.zeros(()))

    def _penalty(self, pair: Pair, ctx: TrainContext) -> Tensor:
        real = pair.real.detach()
        alpha = torch.rand(_per_sample(real), device=real.device, dtype=real.dtype)
        if self.options.variant == "wgan":
            other = pair.fake.detach()
        else:
            noise = torch.rand_like(real)
            other = real + self.options.dragan_scale * real.std() * noise
        x_hat = (alpha * real + (1 - alpha) * other).requires_grad_(True)
        grad = ctx.input_gradient(ctx.discriminate(pair.discriminator, x_hat), x_hat)
        norm = grad.flatten(1).norm(2, dim=1)
        return self.options.weight * ((norm - self.options.center) ** 2).mean()


class R1Config(Section):
    """Options of the `r1` and `r2` tricks."""

    gamma: float = Field(10.0, gt=0, description="penalty weight: gamma/2 * E||grad D||^2")
    interval: int = Field(
        1, ge=1, description="lazy regularisation: apply every k steps, scaled by k (StyleGAN2: 16)"
    )


class R1Penalty(Trick):
    """R1 (Mescheder et al. 2018): gamma/2 * E||grad D(x)||^2 on real data, optionally lazy."""

    name = "r1"
    Config = R1Config
    side: Literal["real", "fake"] = "real"

    def setup(self, system: GANSystem) -> None:
        """Refuse discriminators with BatchNorm."""
        refuse_batchnorm(self.name, system)

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """The penalty on due steps (every `interval`), scaled by the interval; else None."""
        if not out.pairs or ctx.step % self.options.interval:
            return None
        total = torch.zeros(())
        for pair in out.pairs:
            x = (pair.real if self.side == "real" else pair.fake).detach().requires_grad_(True)
            grad = ctx.input_gradient(ctx.discriminate(pair.discriminator, x), x)
            total = total + grad.square().flatten(1).sum(1).mean()
        return total * (self.options.gamma / 2) * self.options.interval


class R2Penalty(R1Penalty):
    """R2: the R1 penalty on generated samples instead of real ones."""

    name = "r2"
    side = "fake"
