"""The toy2d domain: config, mixtures, MLP models, mode statistics, scatter plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ganhub.config.schema import OptimConfig, OptimizerConfig, RunConfig, Section, TrainerConfig
from ganhub.data import BatchSource, TensorBatches
from ganhub.domain import Domain
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.engine.unconditional import UnconditionalGAN
from ganhub.metrics import Metric


class Toy2dData(Section):
    """The mixture to learn."""

    shorthand = "dataset"

    dataset: Literal["ring", "grid"] = Field(
        "ring", description="ring: 8 Gaussians, radius 1, std 0.01; grid: 25, spacing 2, std 0.05"
    )
    n_samples: int = Field(
        100_000, ge=1000, description="training points drawn once from the mixture"
    )


Norm1d = Literal["none", "batch", "layer"]
Activation = Literal["relu", "leaky_relu", "elu", "silu", "tanh"]


def activation(name: str) -> nn.Module:
    """An activation module by name (leaky_relu has slope 0.2)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    return {"relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh}[name]()


class Toy2dModel(Section):
    """MLP sizes."""

    latent_dim: int = Field(2, gt=0, description="noise dimension")
    g_hidden: int = Field(128, gt=0, description="generator hidden width")
    g_layers: int = Field(3, ge=1, description="generator hidden layers")
    d_hidden: int = Field(128, gt=0, description="discriminator hidden width")
    d_layers: int = Field(3, ge=1, description="discriminator hidden layers")
    g_norm: Norm1d = Field("none", description="normalisation after each generator hidden layer")
    d_norm: Norm1d = Field(
        "none", description="normalisation after each discriminator hidden layer"
    )
    g_act: Activation = Field("relu", description="generator activation")
    d_act: Activation = Field(
        "leaky_relu", description="discriminator activation (leaky: slope 0.2)"
    )
    residual: bool = Field(
        False, description="skip connections around hidden layers after the first"
    )


def _toy_optim() -> OptimConfig:
    return OptimConfig(G=OptimizerConfig(lr=1e-3), D=OptimizerConfig(lr=1e-3))


class Toy2dConfig(RunConfig):
    """Config of the toy2d domain."""

    plugin: str = "toy2d"
    data: Toy2dData = Field(default_factory=Toy2dData)
    model: Toy2dModel = Field(default_factory=Toy2dModel)
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(
            steps=2000, batch_size=256, log_every=100, sample_every=1000, checkpoint_every=1000
        )
    )
    optim: OptimConfig = Field(default_factory=_toy_optim)


def mixture(kind: str) -> tuple[Tensor, float]:
    """(mode centres (K, 2), std) of the ring (8, radius 1, std 0.01) or grid (25, spacing 2, std 0.05)."""
    if kind == "ring":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)  # no duplicated endpoint
        return torch.stack([angles.cos(), angles.sin()], 1).float(), 0.01
    ticks = torch.arange(-4.0, 5.0, 2.0)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], 1), 0.05


def draw(kind: str, n: int, generator: torch.Generator) -> Tensor:
    """n points from the mixture, modes chosen uniformly."""
    centers, std = mixture(kind)
    idx = torch.randint(len(centers), (n,), generator=generator)
    return centers[idx] + std * torch.randn(n, 2, generator=generator)


def mode_stats(
    samples: Tensor, centers: Tensor, std: float, threshold: float = 3.0
) -> dict[str, float]:
    """PacGAN / VEEGAN statistics of 2D samples against a Gaussian mixture.

    A sample is high quality when within `threshold` std of its nearest mode; a mode is captured
    when at least one high-quality sample is nearest to it; the reverse KL is KL(p_gen || uniform)
    over the nearest-mode histogram of all samples.
    """
    dist = torch.cdist(samples.double(), centers.double())
    nearest_dist, nearest = dist.min(1)
    hq = nearest_dist <= threshold * std
    k = len(centers)
    captured = torch.bincount(nearest[hq], minlength=k) > 0
    p = torch.bincount(nearest, minlength=k).double() / len(samples)
    nz = p > 0
    rkl = float((p[nz] * (p[nz] * k).log()).sum())
    return {
        "modes": float(captured.sum()),
        "hq_percent": 100.0 * float(hq.double().mean()),
        "reverse_kl": rkl,
    }


def mlp(
    n_in: int,
    hidden: int,
    layers: int,
    n_out: int,
    act: nn.Module,
    norm: str = "none",
    residual: bool = False,
) -> nn.Sequential:
    """Linear-(norm)-activation stack; `residual` adds skips around hidden layers after the first."""
    mods: list[nn.Module] = []
    width = n_in
    for i in range(layers):
        block: list[nn.Module] = [nn.Linear(width, hidden)]
        if norm != "none":
            block.append(nn.BatchNorm1d(hidden) if norm == "batch" else nn.LayerNorm(hidden))
        block.append(act)
        if residual and i > 0:
            mods.append(Residual(nn.Sequential(*block)))
        else:
            mods += block
        width = hidden
    mods.append(nn.Linear(width, n_out))
    return nn.Sequential(*mods)


class Residual(nn.Module):
    """x + f(x)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        """Add the block's output to its input."""
        return x + self.body(x)


class Toy2dSystem(UnconditionalGAN):
    """MLP G: z -> R^2; MLP D: R^(2 * pack) -> logit."""

    modality = "vector"

    def __init__(self, config: Toy2dConfig, hints: BuildHints) -> None:
        m = config.model
        super().__init__(
            config,
            hints,
            mlp(m.latent_dim, m.g_hidden, m.g_layers, 2, activation(m.g_act), m.g_norm, m.residual),
            mlp(
                2 * hints.pack, m.d_hidden, m.d_layers, 1, activation(m.d_act), m.d_norm, m.residual
            ),
            (m.latent_dim,),
        )
        self.dataset = config.data.dataset
        self.centers, self.std = mixture(self.dataset)
        self.n_points = config.data.n_samples

    def data(self) -> BatchSource:
        """Points drawn once from the mixture with the run's seed."""
        gen = torch.Generator().manual_seed(self.config.seed)
        return TensorBatches(draw(self.dataset, self.n_points, gen))

    def default_metrics(self) -> list[str]:
        """Mode coverage is what this domain is for."""
        return ["mode_coverage_2d"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A scatter plot of generated points over the real modes."""
        points = self.sample(n or 2500, seed=seed).cpu()
        stats = mode_stats(points, self.centers, self.std)
        return [scatter_plot(points, self.centers, directory / f"{stem}.png", title=_title(stats))]


def _title(stats: dict[str, float]) -> str:
    return f"modes {stats['modes']:.0f}, high quality {stats['hq_percent']:.1f}%, reverse KL {stats['reverse_kl']:.3f}"


def scatter_plot(points: Tensor, centers: Tensor, path: Path, title: str = "") -> Path:
    """Write a PNG of generated points (blue) and mode centres (red crosses), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color="tab:blue", label="generated")
    ax.scatter(centers[:, 0], centers[:, 1], s=60, marker="x", color="tab:red", label="modes")
    span = float(centers.abs().max()) * 1.5 + 0.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


class ModeCoverage2D(Metric):
    """Modes captured, % high-quality samples and reverse KL on a 2D Gaussian mixture."""

    name = "mode_coverage_2d"

    def supports(self, system: GANSystem) -> bool:
        """Only systems that expose mixture centres and std."""
        return hasattr(system, "centers") and hasattr(system, "std")

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Statistics of `n_samples` generated points (PacGAN protocol: 2,500)."""
        points = system.sample(n_samples, seed=seed).cpu()
        stats = mode_stats(points, system.centers, system.std)  # type: ignore[attr-defined]
        return {**stats, "n_samples": float(n_samples)}


class Toy2dDomain(Domain):
    """MLP GAN on a ring of 8 or a grid of 25 Gaussians; reports mode coverage; seconds on CPU."""

    name = "toy2d"
    description = (
        "MLP GAN on a 2D ring of 8 or grid of 25 Gaussians; reports modes, %HQ, reverse KL"
    )
    modality = "vector"
    supports_pack = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "ring": {"data": {"dataset": "ring"}},
        "grid": {"data": {"dataset": "grid"}, "trainer": {"steps": 4000}},
    }
    # NAS by black-box search (ganhub tune space=arch): depth, width, norm, activation, skips.
    arch_space: ClassVar[dict[str, Any]] = {
        "model.g_layers": {"type": "int", "low": 2, "high": 5},
        "model.d_layers": {"type": "int", "low": 2, "high": 5},
        "model.g_hidden": {"type": "categorical", "choices": [64, 128, 256, 512]},
        "model.d_hidden": {"type": "categorical", "choices": [64, 128, 256, 512]},
        "model.g_norm": {"type": "categorical", "choices": ["none", "batch", "layer"]},
        "model.d_norm": {"type": "categorical", "choices": ["none", "layer"]},
        "model.g_act": {"type": "categorical", "choices": ["relu", "leaky_relu", "elu", "silu"]},
        "model.d_act": {"type": "categorical", "choices": ["leaky_relu", "relu", "elu", "silu"]},
        "model.residual": {"type": "categorical", "choices": [False, True]},
    }

    @property
    def config_class(self) -> type[RunConfig]:
        """Toy2dConfig."""
        return Toy2dConfig

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """Build the MLPs (the data is drawn when the loop asks for it)."""
        assert isinstance(config, Toy2dConfig)
        return Toy2dSystem(config, hints)
