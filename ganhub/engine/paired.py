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

`adv_scale` multiplies the registered loss in both phases, for a domain whose reference writes
the loss in another form (ganhub's `lsgan` carries Mao et al.'s 1/2; pix2pix's `MSELoss` not).

Inference (`translate`, and through it samples and metrics) runs G as `inference` says:
  eval   the conventional eval mode: dropout off, BatchNorm's running averages
  paper  pix2pix's (Isola et al. 2017, sec. 3.3): G runs as in training, dropout on and
         BatchNorm normalising by the test batch's statistics; `run_generator` below
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ganhub.engine.context import TrainContext
from ganhub.engine.environment import forked_stream
from ganhub.engine.system import BuildHints, ConfigT, GANSystem, Phase, PhaseOutput

Inference = Literal["paper", "eval"]
EVAL_CHUNK = 64  # images per forward pass of `translate` in eval mode


@contextmanager
def _as_in_training(G: nn.Module) -> Iterator[None]:
    """G in train mode with its BatchNorm layers tracking nothing: they normalise by the batch's
    statistics and leave their running averages and counts as they are. Every module's mode and
    flag is restored afterwards, also when the forward raises."""
    modes = {m: m.training for m in G.modules()}
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in norms]
    try:
        G.train()
        for m in norms:
            m.track_running_stats = False
        yield
    finally:
        for norm, flag in zip(norms, tracked):
            norm.track_running_stats = flag
        for module, mode in modes.items():
            module.training = mode


@torch.no_grad()
def run_generator(
    G: nn.Module,
    x: Tensor,
    *,
    inference: Inference = "eval",
    seed: int = 0,
    chunk: int | None = None,
) -> Tensor:
    """G(x) as float, without gradients; G's modes, buffers and the RNG streams stay as they were.

    eval:  eval mode (dropout off, BatchNorm's running averages), in chunks of `chunk` images.
    paper: as in training (pix2pix, sec. 3.3): dropout on, BatchNorm on the statistics of the
           test batch, which is each image alone, as the reference's test.py (batch 1). Each
           image's dropout draws come from `seed`, in a forked RNG: an image's output depends on
           the image and the seed only (not on the images sent with it, nor the call's
           chunking), and the training run's random stream is not advanced.
    """
    if inference == "eval" or len(x) == 0:
        modes = {m: m.training for m in G.modules()}
        G.eval()
        try:
            parts = x.split(chunk) if chunk else (x,)
            return torch.cat([G(part).float() for part in parts])
        finally:
            for m, mode in modes.items():
                m.training = mode
    assert inference == "paper", inference
    outs = []
    with forked_stream(x.device) as reseed, _as_in_training(G):
        for image in x.split(1):  # one image per batch: its own BatchNorm statistics
            reseed(seed)
            outs.append(G(image).float())
    return torch.cat(outs)


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
        adv_scale: float = 1.0,
        inference: Inference = "eval",
    ) -> None:
        super().__init__(config, hints)
        self.G = generator
        self.D = discriminator
        self.l1_weight = l1_weight
        self.d_scale = d_scale
        # multiplier on the registered loss in both phases (the module docstring)
        self.adv_scale = adv_scale
        self.inference: Inference = inference
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
        out.loss = out.loss * (self.d_scale * self.adv_scale)
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
        loss = self.adv_scale * out.loss + self.l1_weight * l1
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

    def translate(self, condition: Tensor, use_ema: bool = True, *, seed: int = 0) -> Tensor:
        """G(condition) (EMA weights when present) as `self.inference` says (`run_generator`);
        `seed` gives the paper inference's dropout draws."""
        G = self.generator(use_ema=use_ema)
        x = condition.to(self.device)
        return run_generator(G, x, inference=self.inference, seed=seed, chunk=EVAL_CHUNK)


__all__ = [
    "EVAL_CHUNK",
    "PairedTranslationGAN",
    "run_generator",
]
