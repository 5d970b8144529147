"""The StyleGAN2 system: phases Dmain, Dreg (lazy R1), Gmain, Greg (lazy path length).

As in StyleGAN2-ADA's `training/loss.py`, each phase is its own optimizer step:
  Dmain  every step        logistic loss on ADA-augmented reals and fakes (fakes without graph)
  Dreg   every r1_interval gamma/2 * ||grad_x D(aug(x))||^2 on reals, times the interval
  Gmain  every step        non-saturating loss on fresh fakes with style mixing
  Greg   every pl_interval path-length penalty on a smaller batch, times the interval
The lazy phases' optimizer settings get the k/(k+1) correction in `configure_optimizers`.
All state a resume needs (w_avg, path-length mean, ADA p, EMA weights) lives in buffers or
modules, so the engine's checkpoint carries it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from ganhub_stylegan.ada import AdaptiveAugment
from ganhub_stylegan.config import StyleGANConfig
from ganhub_stylegan.data import ImageFiles, embedded
from ganhub_stylegan.networks import Discriminator, Generator, mix_styles
from torch import Tensor, nn

from ganhub.data import BatchSource, LoaderBatches, TensorBatches
from ganhub.data.images import save_image_grid
from ganhub.engine.context import TrainContext
from ganhub.engine.diagnostics import d_stats
from ganhub.engine.system import BuildHints, GANSystem, Pair, Phase, PhaseOutput


class StyleGANSystem(GANSystem):
    """StyleGAN2 G (mapping + skip synthesis), residual D, ADA, lazy R1 and path length."""

    modality = "image"

    def __init__(self, config: StyleGANConfig, hints: BuildHints) -> None:
        super().__init__(config, hints)
        m, data = config.model, config.data
        self.channels = data.channels if data.source == "folder" else 1
        self.G = Generator(m.z_dim, m.w_dim, m.map_layers, m.resolution, self.channels,
                           m.channel_base, m.channel_max, m.fp16_res, m.map_lr_mul,
                           m.noise)  # fmt: skip
        self.D = Discriminator(m.resolution, self.channels, m.channel_base, m.channel_max,
                               m.fp16_res, m.mbstd_group)  # fmt: skip
        a = config.ada
        self.ada = (
            AdaptiveAugment(a.ops, a.target, a.interval, a.kimg, a.p_init) if a.enabled else None
        )
        self.register_buffer("pl_mean", torch.zeros(()))
        obj = config.objective
        self.r1_gamma = config.r1_gamma()
        self.obj = obj

    # -- training ---------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        """Dmain, Dreg (lazy R1), Gmain, Greg (lazy path length; absent when pl_weight=0)."""
        obj = self.obj
        phases = [Phase("Dmain", "D", self.d_main)]
        if self.r1_gamma > 0:
            phases.append(Phase("Dreg", "D", self.d_reg, interval=obj.r1_interval))
        phases.append(Phase("Gmain", "G", self.g_main))
        if obj.pl_weight > 0:
            phases.append(Phase("Greg", "G", self.g_reg, interval=obj.pl_interval))
        return phases

    def configure_optimizers(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Lazy regularisation correction: lr * k/(k+1), betas ** (k/(k+1)) (StyleGAN2 App. B)."""
        if not self.obj.lazy_correction:
            return
        intervals = {"D": self.obj.r1_interval if self.r1_gamma > 0 else None,
                     "G": self.obj.pl_interval if self.obj.pl_weight > 0 else None}  # fmt: skip
        for group, k in intervals.items():
            if k is None or group not in optimizers:
                continue
            ratio = k / (k + 1)
            for pg in optimizers[group].param_groups:
                pg["lr"] = pg["lr"] * ratio
                if "betas" in pg:
                    pg["betas"] = tuple(b**ratio for b in pg["betas"])

    def augment(self, x: Tensor) -> Tensor:
        """ADA on a discriminator input (identity when ADA is off)."""
        return self.ada(x) if self.ada is not None else x

    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n latent vectors z ~ N(0, I)."""
        return torch.randn(n, self.G.z_dim, device=self.device, generator=generator)

    def mixed_ws(self, n: int, update_w_avg: bool = False) -> Tensor:
        """Style vectors of n fresh latents, with style mixing at the configured probability."""
        ws = self.G.ws(self.latent(n), update_w_avg=update_w_avg)
        if self.obj.style_mixing > 0:
            ws2 = self.G.ws(self.latent(n))
            ws = mix_styles(ws, ws2, self.obj.style_mixing)
        return ws

    def d_main(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Logistic D loss on augmented reals and fakes; feeds ADA's sign(D(real))."""
        real = batch[0] if isinstance(batch, tuple | list) else batch
        with torch.no_grad():
            fake = self.G.synthesis(self.mixed_ws(len(real), update_w_avg=True))
        real_logits = ctx.discriminate(self.D, self.augment(real))
        fake_logits = ctx.discriminate(self.D, self.augment(fake))
        loss = ctx.loss.d_loss(real_logits, fake_logits, ctx.targets)
        rl, fl = real_logits.detach().float(), fake_logits.detach().float()
        stats = {"D_real": rl.mean(), "D_fake": fl.mean(), "D_win": (rl > fl).float().mean()}
        if self.ada is not None:
            self.ada.accumulate(rl)
            if (ctx.step + 1) % self.ada.interval == 0:
                stats["ada_rt"] = self.ada.heuristic()
                self.ada.adjust()
            stats["ada_p"] = self.ada.p.detach().clone()
        if ctx.diagnose:
            stats.update(d_stats(real_logits, fake_logits, real, fake, ctx.threshold, ""))
        return PhaseOutput(loss, stats, [Pair(self.D, real, fake)])

    def d_reg(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Lazy R1: gamma/2 * E||d D(aug(x)) / dx||^2 on reals, scaled by the interval."""
        real = (
            (batch[0] if isinstance(batch, tuple | list) else batch).detach().requires_grad_(True)
        )
        logits = ctx.discriminate(self.D, self.augment(real))
        grad = ctx.input_gradient(logits, real)
        penalty = grad.float().square().flatten(1).sum(1)
        loss = penalty.mean() * (self.r1_gamma / 2) * self.obj.r1_interval
        return PhaseOutput(loss, {"r1_penalty": penalty.detach().mean()})

    def g_main(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Non-saturating G loss on fresh style-mixed fakes."""
        real = batch[0] if isinstance(batch, tuple | list) else batch
        fake = self.G.synthesis(self.mixed_ws(len(real)))
        real = self.augment(real) if ctx.loss.needs_real_for_g else real  # relativistic only
        return ctx.g_loss(self.D, self.augment(fake), real=real)

    def g_reg(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Path length: (|J_w^T y| - a)^2 with y ~ N(0, I)/sqrt(HW) and a its running mean."""
        real = batch[0] if isinstance(batch, tuple | list) else batch
        n = max(1, len(real) // self.obj.pl_batch_shrink)
        ws = self.mixed_ws(n)
        img = self.G.synthesis(ws)
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        grad = ctx.input_gradient(img * noise, ws)
        lengths = grad.float().square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean(), self.obj.pl_decay)
        with torch.no_grad():
            self.pl_mean.copy_(pl_mean.detach())
        penalty = (lengths - pl_mean).square()
        loss = penalty.mean() * self.obj.pl_weight * self.obj.pl_interval
        return PhaseOutput(
            loss, {"pl_penalty": penalty.detach().mean(), "pl_mean": pl_mean.detach()}
        )

    def data(self) -> BatchSource:
        """Embedded faces/digits in memory, or a folder/zip decoded by loader workers."""
        cfg, r = self.config.data, self.config.model.resolution
        if cfg.source == "folder":
            files = ImageFiles(cfg.path, r, cfg.channels, cfg.mirror)
            return LoaderBatches(files, num_workers=self.config.trainer.num_workers)
        return TensorBatches(embedded(cfg.source, r, cfg.mirror))

    # -- sampling ---------------------------------------------------------------------

    def _eval(self, use_ema: bool) -> nn.Module:
        return self.generator(use_ema=use_ema)

    @torch.no_grad()
    def ws_for(self, z: Tensor, *, psi: float | None = None, cutoff: int | None = None,
               use_ema: bool = True) -> Tensor:  # fmt: skip
        """Style vectors of latents `z`, truncated (default: the config's sample.psi/cutoff)."""
        s = self.config.sample
        psi = s.psi if psi is None else psi
        cutoff = s.cutoff if cutoff is None else cutoff
        return self._eval(use_ema).ws(z.to(self.device), psi, cutoff)

    @torch.no_grad()
    def synthesize(self, ws: Tensor, use_ema: bool = True, noise_mode: str = "const") -> Tensor:
        """Images from style vectors, in chunks of 64, float32 in [-1, 1] (clamped)."""
        G = self._eval(use_ema)
        out = [G.synthesis(chunk, noise_mode).float() for chunk in ws.split(64)]
        return torch.cat(out).clamp(-1, 1)

    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = None, use_ema: bool = True,
               psi: float | None = 1.0, cutoff: int | None = None) -> Tensor:  # fmt: skip
        """n images from the (EMA) generator, untruncated unless `psi` < 1 (None: sample.psi).

        Metrics call this without psi, so they score the full distribution; sample grids pass
        the configured truncation.
        """
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        ws = self.ws_for(self.latent(n, gen), psi=psi, cutoff=cutoff, use_ema=use_ema)
        return self.synthesize(ws, use_ema)

    def default_metrics(self) -> list[str]:
        """Digits: the Frechet distance on the local digit classifier; else none by default."""
        return ["fid"] if self.config.data.source == "digits" else []

    def default_features(self) -> list[str]:
        """The local digit classifier for digits (fd_digits)."""
        return ["digits"] if self.config.data.source == "digits" else ["inception"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """A sample grid; from a trained model (not training) also a style-mixing grid and an
        interpolation GIF."""
        from ganhub_stylegan.sampling import interpolation_gif, style_mixing_grid

        images = self.sample(n or self.config.sample.grid, seed=seed, psi=None)
        paths = [save_image_grid(images, directory / f"{stem}.png")]
        if not self.training:
            paths.append(style_mixing_grid(self, directory / f"{stem}_mixing.png", seed=seed))
            paths.append(
                interpolation_gif(
                    self,
                    directory / f"{stem}_interp.gif",
                    seed=seed,
                    frames=self.config.sample.frames,
                )
            )
        return paths
