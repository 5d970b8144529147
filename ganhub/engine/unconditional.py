"""The standard unconditional GAN system: z -> G -> D, a D phase and a G phase.

Toy 2D, DCGAN (and later StyleGAN-like and medical generation) build on it; they supply G, D,
data and artifacts. The G phase reuses the fakes the D phase generated in the same step (one G
forward per step, as in the PyTorch DCGAN example) when the batch was not split for
accumulation; otherwise it draws new ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ganhub.config.schema import RunConfig
from ganhub.engine.context import TrainContext
from ganhub.engine.system import BuildHints, GANSystem, Phase, PhaseOutput


class UnconditionalGAN(GANSystem):
    """G maps latent noise N(0, I) of shape `latent_shape` to samples; D scores samples."""

    def __init__(
        self,
        config: RunConfig,
        hints: BuildHints,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_shape: tuple[int, ...],
    ) -> None:
        super().__init__(config, hints)
        self.G = generator
        self.D = discriminator
        self.latent_shape = latent_shape

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n latent vectors from N(0, I) on the system's device."""
        return torch.randn((n, *self.latent_shape), device=self.device, generator=generator)

    def phases(self) -> list[Phase]:
        """D then G, one step each (tricks may repeat D: n_critic, balance)."""
        # The D phase builds G's graph too, so the G phase can reuse its fakes.
        return [
            Phase("D", "D", self.d_step, grad_groups=("D", "G")),
            Phase("G", "G", self.g_step),
        ]

    def real_of(self, batch: Any) -> Tensor:
        """The real samples in a batch (datasets with labels yield (x, y))."""
        return batch[0] if isinstance(batch, tuple | list) else batch

    def d_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Discriminator loss on a real batch and as many fresh fakes."""
        real = self.real_of(batch)
        fake = self.G(self.latent(len(real)))
        ctx.cache["fake"] = fake  # the G phase of this step reuses it (graph kept)
        return ctx.d_loss(self.D, real, fake)

    def g_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Generator loss on the D phase's fakes (or new ones when sizes differ)."""
        real = self.real_of(batch)
        fake = ctx.cache.pop("fake", None)
        if fake is None or len(fake) != len(real) or not fake.requires_grad:
            fake = self.G(self.latent(len(real)))
        return ctx.g_loss(self.D, fake, real=real)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = None, use_ema: bool = True) -> Tensor:
        """n samples from the (EMA) generator, reproducible for a given seed."""
        gen = None
        if seed is not None:
            gen = torch.Generator(device=self.device).manual_seed(seed)
        G = self.generator(use_ema=use_ema)
        was_training = G.training
        G.eval()
        try:
            out: Tensor = G(self.latent(n, gen))
        finally:
            G.train(was_training)
        return out.float()
