"""Paired translation (pix2pix, Isola et al. 2017): G(condition) -> target; D judges pairs.

Shared by every domain with aligned input/target pairs (cyclegan's `mode=paired`, medgan's
lesion simulation and modality translation), so the objective lives in one place:

  D phase: adversarial loss on D(cond, target) vs D(cond, G(cond)), scaled by `d_scale`
           (pix2pix halves it to slow D down)
  G phase: adversarial loss on D(cond, G(cond)) + l1_weight * |G(cond) - target|
           (+ feature_matching_weight * L1 between D's features of real and fake pairs,
           MedGAN's perceptual term, from the `d_features(pair) -> list[Tensor]` it is given)

D sees the condition and the image concatenated along channels, so a PatchGAN judges whether
each patch of the output is a plausible translation of that patch of the input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ganhub.engine.context import TrainContext
from ganhub.engine.system import BuildHints, ConfigT, GANSystem, Phase, PhaseOutput


class PairedTranslationGAN(GANSystem[ConfigT]):
    """A conditional GAN on (condition, target) batches with an L1 reconstruction term."""

    graph_safe = True  # no noise, no host state: both phases are device work on the batch

    def __init__(
        self,
        config: ConfigT,
        hints: BuildHints,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        l1_weight: float = 100.0,
        d_scale: float = 0.5,
        feature_matching_weight: float = 0.0,
        d_features: Callable[[Tensor], list[Tensor]] | None = None,
    ) -> None:
        super().__init__(config, hints)
        self.G = generator
        self.D = discriminator
        self.l1_weight = l1_weight
        self.d_scale = d_scale
        self.feature_matching_weight = feature_matching_weight
        # D's intermediate features of a (condition, image) pair, for feature matching
        self.d_features = d_features
        if feature_matching_weight > 0 and d_features is None:
            raise TypeError("feature matching needs d_features: D's features of a pair")

    @staticmethod
    def pair(condition: Tensor, image: Tensor) -> Tensor:
        """What D sees: condition and image stacked along channels."""
        return torch.cat([condition, image], dim=1)

    def phases(self) -> list[Phase]:
        """D on pairs, then G with adversarial + L1 (+ feature matching)."""
        return [
            Phase("D", "D", self.d_step, grad_groups=("D", "G")),
            Phase("G", "G", self.g_step),
        ]

    def d_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """The discriminator's loss on real and generated pairs (fakes cached for the G phase)."""
        condition, target = batch
        fake = self.G(condition)
        ctx.cache["fake"] = fake
        out = ctx.d_loss(self.D, self.pair(condition, target), self.pair(condition, fake))
        out.loss = out.loss * self.d_scale
        return out

    def g_step(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Adversarial + weighted L1 (+ feature matching) for the generator."""
        condition, target = batch
        fake = ctx.cache.pop("fake", None)
        if fake is None or len(fake) != len(target) or not fake.requires_grad:
            fake = self.G(condition)
        real_pair, fake_pair = self.pair(condition, target), self.pair(condition, fake)
        out = ctx.g_loss(self.D, fake_pair, real=real_pair)
        l1 = (fake - target).abs().mean()
        out.stats["G_l1"] = l1.detach()
        out.stats["G_adv"] = out.loss.detach()
        loss = out.loss + self.l1_weight * l1
        if self.feature_matching_weight > 0:
            assert self.d_features is not None
            with torch.no_grad():
                real_feats = self.d_features(ctx.d_input(real_pair))
            fake_feats = self.d_features(ctx.d_input(fake_pair))
            fm = sum(
                ((f - r).abs().mean() for f, r in zip(fake_feats, real_feats)),
                torch.zeros((), device=fake.device),
            )
            out.stats["G_feature_matching"] = fm.detach()
            loss = loss + self.feature_matching_weight * fm
        out.loss = loss
        return out

    @torch.no_grad()
    def translate(self, condition: Tensor, use_ema: bool = True) -> Tensor:
        """G(condition) in eval mode (EMA weights when present)."""
        G = self.generator(use_ema=use_ema)
        was_training = G.training
        G.eval()
        try:
            out: Tensor = G(condition.to(self.device))
        finally:
            G.train(was_training)
        return out.float()
