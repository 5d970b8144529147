"""The moons system: an MLP generator and discriminator on two interleaved half circles."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource, TensorBatches
from ganhub.engine.system import BuildHints
from ganhub.engine.unconditional import UnconditionalGAN
from ganhub_example.domain import MoonsConfig


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


class MoonsSystem(UnconditionalGAN[MoonsConfig]):
    """MLP GAN on two moons (`self.config` is a MoonsConfig)."""

    def __init__(self, config: MoonsConfig, hints: BuildHints) -> None:
        super().__init__(
            config, hints, _mlp(8, config.hidden, 2), _mlp(2 * hints.pack, config.hidden, 1), (8,)
        )

    def capabilities(self) -> Capabilities:
        """2D points from noise, and real points to compare with."""
        return Capabilities(modality="vector")

    def data(self) -> BatchSource:
        """20,000 points drawn once with the run's seed."""
        gen = torch.Generator().manual_seed(self.config.seed)
        return TensorBatches(two_moons(20_000, self.config.noise, gen))

    def write_samples(
        self,
        directory: Path,
        stem: str,
        *,
        n: int | None = None,
        seed: int = 0,
        run_dir: Path | None = None,
        step: int | None = None,
    ) -> list[Path]:
        """A scatter plot of generated points; the title says the step and the PNG's Source
        text the run, which the engine passes (None where it does not know)."""
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

        points = self.sample(n or 1000, seed=seed).cpu()
        directory.mkdir(parents=True, exist_ok=True)
        figure = Figure(figsize=(4, 4))
        axes = figure.subplots()
        axes.scatter(points[:, 0], points[:, 1], s=2)
        made = f"seed {seed}" if step is None else f"step {step}, seed {seed}"
        axes.set_title(made)
        run = "" if run_dir is None else f", run {run_dir.name}"
        path = directory / f"{stem}.png"
        tmp = directory / f".{stem}.tmp.png"
        figure.savefig(tmp, metadata={"Source": f"ganhub moons: {made}{run}"})
        tmp.replace(path)
        return [path]
