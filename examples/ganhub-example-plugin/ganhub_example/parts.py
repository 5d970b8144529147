"""The plugin's loss, trick and domain, built on ganhub's public interfaces."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ganhub.config.schema import RunConfig, Section, TrainerConfig
from ganhub.data import BatchSource, TensorBatches
from ganhub.domain import Domain
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.engine.unconditional import UnconditionalGAN
from ganhub.losses import AdversarialLoss, Targets
from ganhub.tricks import Trick


class SmoothHingeLoss(AdversarialLoss):
    """Hinge loss with softplus instead of relu: softplus(1 - D(x)) + softplus(1 + D(G(z)))."""

    name = "smooth_hinge"

    def d_loss(self, real: Tensor, fake: Tensor, targets: Targets = Targets()) -> Tensor:
        """E softplus(1 - D(x)) + E softplus(1 + D(G(z)))."""
        return F.softplus(1.0 - real).mean() + F.softplus(1.0 + fake).mean()

    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """-E D(G(z)), as for the hinge loss."""
        return -fake.mean()


class WeightClipConfig(Section):
    """Options of the weight_clip trick."""

    clip: float = Field(
        0.01, gt=0, description="D weights are clamped to [-clip, clip] (WGAN: 0.01)"
    )


class WeightClip(Trick):
    """WGAN weight clipping (Arjovsky et al. 2017): clamp D's weights after every step."""

    name = "weight_clip"
    Config = WeightClipConfig
    excludes = frozenset({"gp", "spectral_norm"})  # other Lipschitz constraints; use one

    def setup(self, system: GANSystem) -> None:
        """Remember the discriminators' parameters."""
        self.params = [p for d in system.discriminators() for p in d.parameters()]

    @torch.no_grad()
    def after_step(self, step: int, system: GANSystem) -> None:
        """Clamp every D parameter in place (one foreach kernel pair, no host sync)."""
        torch._foreach_clamp_min_(self.params, -self.options.clip)
        torch._foreach_clamp_max_(self.params, self.options.clip)


class MoonsConfig(RunConfig):
    """Config of the moons domain."""

    plugin: str = "moons"
    noise: float = Field(0.05, ge=0, description="std of the Gaussian noise around the moons")
    hidden: int = Field(64, gt=0, description="MLP width of G and D")
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(steps=1000, batch_size=128, log_every=100)
    )


def two_moons(n: int, noise: float, generator: torch.Generator) -> Tensor:
    """n points on two interleaved half circles (scikit-learn's make_moons, in torch)."""
    half = n // 2
    t = torch.rand(n, generator=generator) * math.pi
    upper = torch.stack([t[:half].cos(), t[:half].sin()], 1)
    lower = torch.stack([1 - t[half:].cos(), 0.5 - t[half:].sin()], 1)
    return torch.cat([upper, lower]) + noise * torch.randn(n, 2, generator=generator)


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, n_out),
    )


class MoonsSystem(UnconditionalGAN):
    """MLP GAN on two moons."""

    modality = "vector"

    def __init__(self, config: MoonsConfig, hints: BuildHints) -> None:
        super().__init__(
            config, hints, _mlp(8, config.hidden, 2), _mlp(2 * hints.pack, config.hidden, 1), (8,)
        )

    def data(self) -> BatchSource:
        """20,000 points drawn once with the run's seed."""
        cfg = self.config
        assert isinstance(cfg, MoonsConfig)
        return TensorBatches(two_moons(20_000, cfg.noise, torch.Generator().manual_seed(cfg.seed)))

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A scatter plot of generated points."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        points = self.sample(n or 1000, seed=seed).cpu()
        directory.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.scatter(points[:, 0], points[:, 1], s=2)
        path = directory / f"{stem}.png"
        tmp = directory / f".{stem}.tmp.png"
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(path)
        return [path]


class MoonsDomain(Domain):
    """MLP GAN on the two-moons dataset (a third-party example domain)."""

    name = "moons"
    description = "MLP GAN on two moons (from ganhub-example-plugin)"
    modality = "vector"
    supports_pack = True

    @property
    def config_class(self) -> type[RunConfig]:
        """MoonsConfig."""
        return MoonsConfig

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The MLP pair."""
        assert isinstance(config, MoonsConfig)
        return MoonsSystem(config, hints)
