"""Tricks on what the discriminator sees: label smoothing, instance noise, DiffAugment, PacGAN."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ganhub.config.schema import RunConfig, Section
from ganhub.engine.context import TrainContext
from ganhub.engine.system import BuildHints
from ganhub.losses import Targets
from ganhub.tricks import Trick

if TYPE_CHECKING:
    from ganhub.domain import Domain


class LabelSmoothingConfig(Section):
    """Options of the `label_smoothing` trick."""

    mode: Literal["one_sided", "two_sided"] = Field(
        "one_sided", description="one_sided: only the real target moves (Salimans et al. 2016)"
    )
    real: float = Field(0.9, gt=0, le=1, description="discriminator target for real samples")
    fake: float = Field(0.1, ge=0, lt=1, description="target for fakes (two_sided only)")


class LabelSmoothing(Trick):
    """Label smoothing: D's real target 0.9 (one-sided) and optionally fake target 0.1."""

    name = "label_smoothing"
    Config = LabelSmoothingConfig
    suits_losses = frozenset({"minimax", "nonsaturating", "lsgan"})

    def targets(self, targets: Targets) -> Targets:
        """Move the discriminator's targets; the generator's target is unchanged."""
        fake = self.options.fake if self.options.mode == "two_sided" else targets.fake
        return Targets(real=self.options.real, fake=fake, gen=targets.gen)


class InstanceNoiseConfig(Section):
    """Options of the `instance_noise` trick."""

    std: float = Field(0.1, gt=0, description="noise standard deviation at step 0")
    anneal_steps: int | None = Field(
        None, gt=0, description="linear decay to 0 over this many steps (default: the whole run)"
    )


class InstanceNoise(Trick):
    """Instance noise (Sønderby et al. 2016): Gaussian noise on every D input, annealed to zero."""

    name = "instance_noise"
    Config = InstanceNoiseConfig
    d_input_order = 20

    def std_at(self, step: int) -> float:
        """Noise std after `step` steps: linear decay from `std` to 0."""
        span = self.options.anneal_steps or self.config.trainer.steps
        return self.options.std * max(0.0, 1.0 - step / span)

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """x + sigma(step) * N(0, 1)."""
        std = self.std_at(ctx.step)
        return x + std * torch.randn_like(x) if std > 0 else x


class DiffAugmentConfig(Section):
    """Options of the `diffaug` trick."""

    policy: list[Literal["color", "translation", "cutout"]] = Field(
        ["color", "translation", "cutout"], description="augmentations, applied in this order"
    )
    translation: float = Field(0.125, ge=0, lt=1, description="max shift as a fraction of size")
    cutout: float = Field(0.5, gt=0, lt=1, description="cutout square side as a fraction of size")


class DiffAugment(Trick):
    """Differentiable augmentation (Zhao et al. 2020) of real and fake D inputs alike.

    Because both sides are augmented and gradients flow through the augmentation, G learns
    the clean distribution: the augmentation does not leak into samples.
    """

    name = "diffaug"
    Config = DiffAugmentConfig
    modalities = frozenset({"image"})
    d_input_order = 10

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """Apply the policy with fresh random parameters per sample."""
        for op in self.options.policy:
            if op == "color":
                x = augment_color(x)
            elif op == "translation":
                x = augment_translation(x, self.options.translation)
            else:
                x = augment_cutout(x, self.options.cutout)
        return x


def _rand(x: Tensor) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def augment_color(x: Tensor) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per sample."""
    x = x + (_rand(x) - 0.5)
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * (_rand(x) * 2) + mean_c
    mean_all = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean_all) * (_rand(x) + 0.5) + mean_all


def augment_translation(x: Tensor, ratio: float) -> Tensor:
    """Shift each sample by up to `ratio` of its size, filling with zeros."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij"
    )
    iy = (gy.unsqueeze(0) + ty + 1).clamp(0, h + 1)
    ix = (gx.unsqueeze(0) + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[batch, iy, ix].permute(0, 3, 1, 2)


def augment_cutout(x: Tensor, ratio: float) -> Tensor:
    """Zero a random square of side `ratio * size` in each sample."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    dy = torch.arange(h, device=x.device).view(1, h, 1) - oy + ch // 2
    dx = torch.arange(w, device=x.device).view(1, 1, w) - ox + cw // 2
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


class PacGANConfig(Section):
    """Options of the `pacgan` trick."""

    pack: int = Field(2, ge=2, description="samples packed into one discriminator input")


class PacGAN(Trick):
    """PacGAN (Lin et al. 2018): D judges m samples at once, which penalises mode collapse."""

    name = "pacgan"
    Config = PacGANConfig
    modalities = frozenset({"vector", "image", "volume"})
    d_input_order = 90  # after augmentation and noise, which act per sample

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: the domain must build packed Ds; micro-batches must divide."""
        out = super().problems(options, config, domain)
        if not domain.supports_pack:
            out.append(
                f"trick 'pacgan': domain '{config.plugin}' does not build packed discriminators"
            )
        micro = config.trainer.batch_size // config.trainer.grad_accum
        if micro % options.pack:
            out.append(
                f"trick.pacgan.pack={options.pack} must divide the micro-batch "
                f"(trainer.batch_size / trainer.grad_accum = {micro})"
            )
        return out

    def adjust_build(self, hints: BuildHints) -> None:
        """Ask the domain for a D with `pack` times the input channels."""
        hints.pack = self.options.pack

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """(B, C, ...) -> (B / m, m * C, ...): consecutive samples stacked along channels."""
        m = self.options.pack
        return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])
