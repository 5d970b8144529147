"""The toy2d system: MLP G: z -> R^2, MLP D: R^(2 * pack) -> logit, scatter-plot samples."""

from __future__ import annotations

from pathlib import Path

import torch
from ganhub_toy2d.config import ARCH_SPACE, Toy2dConfig
from ganhub_toy2d.data import draw, mixture
from ganhub_toy2d.metrics import mode_stats
from ganhub_toy2d.networks import SuperMLP, activation, mlp
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource, TensorBatches
from ganhub.engine.system import BuildHints
from ganhub.engine.unconditional import UnconditionalGAN
from ganhub.nas import SUPERNET, SupernetPair


class Toy2dSystem(SupernetPair, UnconditionalGAN[Toy2dConfig]):
    """MLP G: z -> R^2; MLP D: R^(2 * pack) -> logit."""

    modality = "vector"

    def __init__(self, config: Toy2dConfig, hints: BuildHints) -> None:
        m = config.model
        G: nn.Module
        D: nn.Module
        if m.supernet:  # every architecture of the search space, weights shared
            G = SuperMLP(m.latent_dim, 2, "g", ARCH_SPACE)
            D = SuperMLP(2 * hints.pack, 1, "d", ARCH_SPACE)
        else:
            G = mlp(m.latent_dim, m.g_hidden, m.g_layers, 2, activation(m.g_act), m.g_norm,
                    m.residual)  # fmt: skip
            D = mlp(2 * hints.pack, m.d_hidden, m.d_layers, 1, activation(m.d_act), m.d_norm,
                    m.residual)  # fmt: skip
        super().__init__(config, hints, G, D, (m.latent_dim,))
        self.dataset = config.data.dataset
        self.centers, self.std = mixture(self.dataset)
        self.n_points = config.data.n_samples

    def data(self) -> BatchSource:
        """Points drawn once from the mixture with the run's seed."""
        gen = torch.Generator().manual_seed(self.config.seed)
        return TensorBatches(draw(self.dataset, self.n_points, gen))

    def capabilities(self) -> Capabilities:
        """2D points from noise; the mixture's name, so mode statistics know its modes; a
        supernet says so."""
        provides = frozenset({SUPERNET}) if self.config.model.supernet else frozenset()
        return Capabilities(modality="vector", dataset=self.dataset, provides=provides)

    def default_metrics(self) -> list[str]:
        """Mode coverage is what this domain is for."""
        return ["mode_coverage_2d"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A scatter plot of generated points over the real modes."""
        points = self.sample(n or 2500, seed=seed).cpu()
        stats = mode_stats(points, self.centers, self.std)
        title = _title(stats, len(points))
        return [scatter_plot(points, self.centers, directory / f"{stem}.png", title=title)]


def _title(stats: dict[str, float], n: int) -> str:
    """The plot's statistics, of its own `n` points (16 points cannot cover 25 modes: the
    count says so, where a bare "modes 6" read like the model's)."""
    return (
        f"{n:,} points: modes {stats['modes']:.0f}, high quality {stats['hq_percent']:.3g}%, "
        f"reverse KL {stats['reverse_kl']:.3f}"
    )


def scatter_plot(points: Tensor, centers: Tensor, path: Path, title: str = "") -> Path:
    """Write a PNG of generated points (blue) and mode centres (red crosses), atomically."""
    from ganhub.figures import new_figure, save_figure

    path.parent.mkdir(parents=True, exist_ok=True)
    fig = new_figure(5, 5)
    ax = fig.subplots()
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color="tab:blue", label="generated")
    ax.scatter(centers[:, 0], centers[:, 1], s=60, marker="x", color="tab:red", label="modes")
    span = float(centers.abs().max()) * 1.5 + 0.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    return save_figure(fig, path)
