"""The standard noise-to-sample GAN system: z -> G -> D, a D phase and a G phase, optionally
class-conditional.

Toy 2D, DCGAN (and later StyleGAN-like and medical generation) build on it; they supply G, D,
data and artifacts. The G phase reuses the fakes the D phase generated in the same step (one G
forward per step, as in the PyTorch DCGAN example) when the batch was not split for
accumulation; otherwise it draws new ones.

Conditional runs (`labels` given) train on (x, label) batches: fakes are drawn for the batch's
own labels (so their class frequencies are the data's), G is called `G(z, labels)` and D is
bound to the labels (`ganhub.conditioning.nets.given`), so losses, penalties and D-input tricks
apply unchanged. An unconditional run takes exactly the same steps as before this existed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ganhub.conditioning import LabelSpec
from ganhub.conditioning.nets import given, grid_labels, random_labels, split_batch_labels
from ganhub.engine.context import TrainContext
from ganhub.engine.draws import batch_draw
from ganhub.engine.system import (
    BuildHints,
    ConfigT,
    ExportFunction,
    ExportInput,
    ExportSpec,
    GANSystem,
    Phase,
    PhaseOutput,
)
from ganhub.latent import seeded_generator, seeded_normal


class UnconditionalGAN(GANSystem[ConfigT]):
    """G maps latent noise N(0, I) of shape `latent_shape` (and, with `labels`, a class) to
    samples; D scores samples (given their class)."""

    graph_safe = True  # noise, labels and fakes are drawn on the device; no host state

    def __init__(
        self,
        config: ConfigT,
        hints: BuildHints,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_shape: tuple[int, ...],
        labels: LabelSpec | None = None,
    ) -> None:
        super().__init__(config, hints)
        self.G = generator
        self.D = discriminator
        self.latent_shape = latent_shape
        self.label_spec = labels

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n latent vectors from N(0, I) on the system's device: training's are drawn there; a
        seeded draw on its `generator`'s device (`seeded_normal`: the CPU for a seed's samples,
        one copy per call) and moved there."""
        if generator is None:  # the training step's draws: on the device, no host copy
            return torch.randn((n, *self.latent_shape), device=self.device)
        return seeded_normal(n, self.latent_shape, generator, self.device)

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

    def split(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        """(samples, labels) of a batch; labels are None for an unconditional run."""
        return split_batch_labels(batch, self.label_spec is not None)

    def generate(self, z: Tensor, labels: Tensor | None, G: nn.Module | None = None) -> Tensor:
        """G(z), or G(z, labels) for a conditional run."""
        G = G if G is not None else self.G
        out: Tensor = G(z) if labels is None else G(z, labels)
        return out

    def d_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Discriminator loss on a real batch and as many fresh fakes."""
        real, labels = self.split(batch)
        # drawn once for the whole batch, each micro-batch its rows (`ganhub.engine.draws`)
        z = batch_draw(ctx, "latent", real.shape[0], self.latent)  # shape: len() is a Python call
        fake = self.generate(z, labels)
        # The G phase of this step uses the same noise, micro-batch by micro-batch, so a step
        # split by trainer.grad_accum equals the whole batch. The last micro-batch keeps its
        # graph for G to reuse; earlier ones keep only the noise (G runs again on it), since
        # keeping every graph would hold the whole batch's activations that accumulation saves.
        ctx.cache[f"noise/{ctx.micro}"] = (z, labels)
        if ctx.micro == ctx.micro_batches - 1:
            ctx.cache["fake"] = fake
        return ctx.d_loss(given(self.D, labels), real, fake)

    def g_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Generator loss on the D phase's fakes of this micro-batch (new ones when it had none
        of this size)."""
        real, labels = self.split(batch)
        z, cached_labels = ctx.cache.pop(f"noise/{ctx.micro}", (None, None))
        fake = ctx.cache.pop("fake", None) if ctx.micro == ctx.micro_batches - 1 else None
        rows = real.shape[0]
        if fake is not None and fake.shape[0] == rows and fake.requires_grad:
            labels = cached_labels
        elif z is not None and z.shape[0] == rows:
            labels = cached_labels
            fake = self.generate(z, labels)
        else:  # no D noise left (none this step, a repeated G phase): drawn for the whole batch
            fake = self.generate(batch_draw(ctx, "latent", rows, self.latent), labels)
        return ctx.g_loss(given(self.D, labels), fake, real=real)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        use_ema: bool = True,
        labels: Tensor | None = None,
    ) -> Tensor:
        """n samples from the (EMA) generator, reproducible for a given seed; a conditional
        run's samples are of the given `labels` (default: drawn uniformly over the classes).
        A seed's latents and labels are drawn on the CPU (`ganhub.latent`): the same samples on
        every device."""
        self.refuse_labels(labels)
        gen = None if seed is None else seeded_generator(seed)
        z = self.latent(n, gen)
        if self.label_spec is not None:
            if labels is None:  # a seed's after its latents, on the same CPU generator
                where = self.device if gen is None else gen.device
                labels = random_labels(self.label_spec, n, where, gen)
            labels = labels.to(self.device)
        return self._eval_forward(z, labels, use_ema)

    def export_spec(self) -> ExportSpec:
        """noise (and labels) -> samples: `sample` without its seeded draws, the (EMA)
        generator called as G(noise) or G(noise, labels); images and volumes lie in [-1, 1]."""
        inputs = [ExportInput("noise", self.latent_shape)]
        if self.label_spec is not None:
            sizes = self.label_spec.sizes
            shape = () if len(sizes) == 1 else (len(sizes),)
            inputs.append(ExportInput("labels", shape, "int64", "labels", sizes))
        bounded = self.capabilities().modality in ("image", "volume")
        function = ExportFunction(
            "generator", self.generator(), tuple(inputs), (-1.0, 1.0) if bounded else None
        )
        return ExportSpec(state={"G": self.generator()}, functions=(function,))

    def class_grid(self, columns: int = 8, rows: int = 10, seed: int = 0) -> Tensor:
        """A conditional run's samples by class: one row per class (`grid_labels`), one
        column per latent, so a column shows one latent across classes."""
        assert self.label_spec is not None
        row_labels = grid_labels(self.label_spec, rows).to(self.device)
        z = self.latent(columns, seeded_generator(seed))
        z = z.repeat(len(row_labels), *([1] * len(self.latent_shape)))
        labels = row_labels.repeat_interleave(columns, dim=0)
        with torch.no_grad():
            return self._eval_forward(z, labels, use_ema=True)

    def _eval_forward(self, z: Tensor, labels: Tensor | None, use_ema: bool) -> Tensor:
        G = self.generator(use_ema=use_ema)
        was_training = G.training
        G.eval()
        try:
            out = self.generate(z, labels, G)
        finally:
            G.train(was_training)
        return out.float()


__all__ = [
    "UnconditionalGAN",
]
