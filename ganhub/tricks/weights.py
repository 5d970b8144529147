"""Tricks that act on weights: initialisation, spectral normalisation, EMA, L1/L2 penalties."""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ganhub.config.schema import Section
from ganhub.engine.system import GANSystem, Phase, PhaseOutput
from ganhub.errors import ConfigError
from ganhub.tricks import Trick, group_params

Group = Literal["G", "D"]
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d, nn.Linear, nn.Embedding)  # fmt: skip
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm,
          nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)  # fmt: skip


class InitConfig(Section):
    """Options of the `init` trick."""

    scheme: Literal["normal", "xavier", "kaiming", "orthogonal"] = Field(
        "normal", description="normal: N(0, std) as in DCGAN; xavier; kaiming (He); orthogonal"
    )
    std: float = Field(0.02, gt=0, description="standard deviation for scheme=normal")
    groups: list[Group] = Field(["G", "D"], description="which sides to initialise")


class WeightInit(Trick):
    """Weight initialisation: N(0, 0.02) (DCGAN), Xavier, Kaiming or orthogonal; norms to 1/0."""

    name = "init"
    Config = InitConfig
    setup_order = 0

    def setup(self, system: GANSystem) -> None:
        """Re-initialise conv/linear weights (biases to 0) and norm layers (weight 1, bias 0)."""
        for group in self.options.groups:
            names = system.generator_names if group == "G" else system.discriminator_names
            for name in names:
                getattr(system, name).apply(self._init_module)

    @torch.no_grad()
    def _init_module(self, m: nn.Module) -> None:
        if isinstance(m, _WEIGHTED):
            w = m.weight
            scheme = self.options.scheme
            if scheme == "normal":
                nn.init.normal_(w, 0.0, self.options.std)
            elif scheme == "xavier":
                nn.init.xavier_normal_(w)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(w, a=0.2, nonlinearity="leaky_relu")
            else:
                nn.init.orthogonal_(w)
            bias = getattr(m, "bias", None)
            if isinstance(bias, Tensor):
                nn.init.zeros_(bias)
        elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class SpectralNormConfig(Section):
    """Options of the `spectral_norm` trick."""

    groups: list[Group] = Field(["D"], description="which sides get spectral normalisation")
    power_iterations: int = Field(1, ge=1, description="power iterations per forward pass")


class SpectralNorm(Trick):
    """Spectral normalisation of every conv/linear weight (Miyato et al. 2018): 1-Lipschitz layers."""

    name = "spectral_norm"
    Config = SpectralNormConfig
    setup_order = 10

    def setup(self, system: GANSystem) -> None:
        """Wrap every conv/linear weight of the chosen sides in a spectral-norm parametrisation."""
        from torch.nn.utils.parametrizations import spectral_norm

        for group in self.options.groups:
            names = system.generator_names if group == "G" else system.discriminator_names
            for name in names:
                for module in list(getattr(system, name).modules()):
                    if isinstance(module, _WEIGHTED) and not isinstance(module, nn.Embedding):
                        spectral_norm(module, n_power_iterations=self.options.power_iterations)


class EMAConfig(Section):
    """Options of the `ema` trick."""

    decay: float = Field(0.999, ge=0, lt=1, description="EMA decay per step (beta)")
    half_life_kimg: float | None = Field(
        None, gt=0, description="set the decay by half-life in thousands of images (StyleGAN)"
    )
    rampup: float | None = Field(
        None, gt=0, description="half-life ramp-up ratio: half-life <= images_seen * rampup"
    )
    start_step: int = Field(0, ge=0, description="copy weights (no averaging) before this step")


class EMA(Trick):
    """Exponential moving average of generator weights; samples and `ganhub.load` use it."""

    name = "ema"
    Config = EMAConfig
    setup_order = 90

    def setup(self, system: GANSystem) -> None:
        """Add a frozen `<name>_ema` copy of every generator to the system."""
        self.pairs: list[tuple[nn.Module, nn.Module]] = []
        for name in system.generator_names:
            module = getattr(system, name)
            ema = copy.deepcopy(module).eval().requires_grad_(False)
            system.add_module(f"{name}_ema", ema)
            self.pairs.append((module, ema))
        self.batch = self.config.trainer.batch_size * _world_size()

    def decay_at(self, step: int) -> float:
        """The decay used after `step` completed steps (0 before start_step)."""
        if step <= self.options.start_step:
            return 0.0
        if self.options.half_life_kimg is None:
            return self.options.decay
        half_life = self.options.half_life_kimg * 1000.0
        if self.options.rampup is not None:
            half_life = min(half_life, step * self.batch * self.options.rampup)
        return half_life_decay(self.batch, max(half_life, 1e-8))

    @torch.no_grad()
    def after_step(self, step: int, system: GANSystem) -> None:
        """ema <- decay * ema + (1 - decay) * weights; buffers are copied."""
        beta = self.decay_at(step)
        for module, ema in self.pairs:
            src = [p.detach() for p in module.parameters()]
            dst: list[Tensor] = list(ema.parameters())
            torch._foreach_lerp_(dst, src, 1.0 - beta)
            for b_ema, b in zip(ema.buffers(), module.buffers()):
                b_ema.copy_(b)


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class WeightPenaltyConfig(Section):
    """Options of the `weight_penalty` trick."""

    kind: Literal["l1", "l2"] = Field("l2", description="l1: sum |w|; l2: sum w^2")
    weight: float = Field(1e-4, gt=0, description="penalty coefficient")
    groups: list[Group] = Field(["G", "D"], description="which sides are penalised")


class WeightPenalty(Trick):
    """L1 or L2 penalty on weights (matrices and kernels, not biases or norm scales)."""

    name = "weight_penalty"
    Config = WeightPenaltyConfig

    def setup(self, system: GANSystem) -> None:
        """Collect the penalised weights per group once."""
        self.weights: dict[str, list[Tensor]] = {
            g: [p for p in group_params(system, [g]) if p.ndim > 1] for g in self.options.groups
        }

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: Any) -> Tensor | None:
        """weight * sum |w| (l1) or weight * sum w^2 (l2) over the phase's group."""
        params = self.weights.get(phase.group)
        if not params:
            return None
        order = 1 if self.options.kind == "l1" else 2
        norms = torch.stack(torch._foreach_norm(params, order))
        total = norms.sum() if order == 1 else norms.square().sum()
        return self.options.weight * total


def has_batchnorm(module: nn.Module) -> bool:
    """Whether a module contains BatchNorm (per-sample gradient penalties are invalid with it)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def refuse_batchnorm(trick: str, system: GANSystem) -> None:
    """Raise a config error when a discriminator uses BatchNorm (WGAN-GP paper, section 4)."""
    for name in system.discriminator_names:
        if has_batchnorm(getattr(system, name)):
            raise ConfigError(
                f"trick '{trick}' penalises per-sample gradients, which BatchNorm in discriminator "
                f"'{name}' makes invalid; choose a D without BatchNorm (e.g. model.d_norm=none "
                "or layer) or another trick"
            )


def half_life_decay(batch: int, half_life_images: float) -> float:
    """EMA decay for a half-life in images: 0.5 ** (batch / half_life)."""
    return math.pow(0.5, batch / half_life_images)
