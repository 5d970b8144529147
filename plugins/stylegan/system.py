"""The StyleGAN2 system: phases Dmain, Gmain, Greg (lazy path length); R1 and ADA are tricks.

As in StyleGAN2-ADA's `training/loss.py`, each phase is its own optimizer step:
  Dmain  every step        logistic loss on reals and fakes (fakes without graph)
  Dr1    every 16 steps    added by the core `r1` trick (trick.r1.interval): R1 on the reals
                           Dmain saw, times the interval, with the D optimizer's lazy correction
  Gmain  every step        non-saturating loss on fresh fakes with style mixing
  Greg   every pl_interval path-length penalty on a smaller batch, times the interval
Every D input goes through `ctx.discriminate`, so the core `ada` trick (or `diffaug`) augments
it; Dmain hands ADA its real logits in `Pair.real_logits`. The lazy path-length phase's k/(k+1)
correction of G's optimizer is in `configure_optimizers`. All state a resume needs (w_avg,
path-length mean, EMA weights) lives in buffers or modules; ADA's p is the trick's state.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from ganhub_stylegan.config import StyleGANConfig
from ganhub_stylegan.data import ImageFiles, embedded, mirrored, refuse_unusable, shard_images
from ganhub_stylegan.networks import Discriminator, Generator, mix_styles
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource, LoaderBatches, TensorBatches
from ganhub.data.images import save_image_grid
from ganhub.data.shards import is_shard
from ganhub.engine.context import TrainContext
from ganhub.engine.diagnostics import d_stats
from ganhub.engine.system import BuildHints, GANSystem, Pair, Phase, PhaseOutput


def _images(batch: Any) -> Tensor:
    """The images of a batch (embedded and folder data are image tensors)."""
    return batch[0] if isinstance(batch, tuple | list) else batch


class StyleGANSystem(GANSystem):
    """StyleGAN2 G (mapping + skip synthesis), residual D, lazy path length."""

    modality = "image"

    def __init__(self, config: StyleGANConfig, hints: BuildHints) -> None:
        super().__init__(config, hints)
        m, data = config.model, config.data
        self.channels = data.channels if data.source == "folder" else 1
        self.G = Generator(m.z_dim, m.w_dim, m.map_layers, m.image_size, self.channels,
                           m.channel_base, m.channel_max, m.fp16_res, m.map_lr_mul,
                           m.noise)  # fmt: skip
        self.D = Discriminator(m.image_size, self.channels, m.channel_base, m.channel_max,
                               m.fp16_res, m.mbstd_group)  # fmt: skip
        self.register_buffer("pl_mean", torch.zeros(()))
        self.obj = config.objective
        self._files_checked = False

    # -- training ---------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        """Dmain, Gmain, Greg (lazy path length; absent when pl_weight=0). The `r1` trick
        inserts its lazy Dr1 phase after Dmain."""
        obj = self.obj
        phases = [Phase("Dmain", "D", self.d_main), Phase("Gmain", "G", self.g_main)]
        if obj.pl_weight > 0:
            phases.append(Phase("Greg", "G", self.g_reg, interval=obj.pl_interval))
        return phases

    def configure_optimizers(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Lazy path length: G's lr * k/(k+1), betas ** (k/(k+1)) (StyleGAN2 App. B).

        Greg is a phase of its own even at k=1 (two G steps per step: ratio 1/2, as in
        StyleGAN2-ADA). D's correction for lazy R1 is the `r1` trick's
        (trick.r1.lazy_correction)."""
        k = self.obj.pl_interval
        if not self.obj.lazy_correction or self.obj.pl_weight <= 0:
            return
        ratio = k / (k + 1)
        for pg in optimizers["G"].param_groups:
            pg["lr"] = pg["lr"] * ratio
            if "betas" in pg:
                pg["betas"] = tuple(b**ratio for b in pg["betas"])

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
        """Logistic D loss on reals and fakes through the D-input tricks (ADA); hands the
        r1 trick the inputs and ADA the real logits."""
        real = _images(batch)
        with torch.no_grad():
            fake = self.G.synthesis(self.mixed_ws(len(real), update_w_avg=True))
        real_logits = ctx.discriminate(self.D, real)
        fake_logits = ctx.discriminate(self.D, fake)
        loss = ctx.loss.d_loss(real_logits, fake_logits, ctx.targets)
        rl, fl = real_logits.detach().float(), fake_logits.detach().float()
        stats = {"D_real": rl.mean(), "D_fake": fl.mean(), "D_win": (rl > fl).float().mean()}
        if ctx.diagnose:
            stats.update(d_stats(real_logits, fake_logits, real, fake, ctx.threshold, ""))
        return PhaseOutput(loss, stats, [Pair(self.D, real, fake, real_logits=rl)])

    def g_main(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Non-saturating G loss on fresh style-mixed fakes (through the D-input tricks)."""
        real = _images(batch)
        fake = self.G.synthesis(self.mixed_ws(len(real)))
        return ctx.g_loss(self.D, fake, real=real)  # real only read by relativistic losses

    def g_reg(self, batch: Any, ctx: TrainContext) -> PhaseOutput:
        """Path length: (|J_w^T y| - a)^2 with y ~ N(0, I)/sqrt(HW) and a its running mean."""
        n = max(1, len(_images(batch)) // self.obj.pl_batch_shrink)
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
        """Embedded faces/digits or a shard in memory, or a folder/zip decoded by loader
        workers after a header pass that refuses files training could not use."""
        cfg, size = self.config.data, self.config.model.image_size
        if cfg.source == "folder" and is_shard(cfg.path):
            assert cfg.path is not None
            images = shard_images(cfg.path, size, cfg.channels, cfg.resize)
            return TensorBatches(mirrored(images, cfg.mirror))  # decoded once: no per-file work
        if cfg.source == "folder":
            assert cfg.path is not None
            if not self._files_checked:  # metrics ask for data() again: one header pass
                refuse_unusable(cfg.path, size, cfg.resize)
                self._files_checked = True
            files = ImageFiles(cfg.path, size, cfg.channels, cfg.mirror, cfg.resize)
            return LoaderBatches(
                files, num_workers=self.config.trainer.num_workers, files=files.files
            )
        return TensorBatches(embedded(cfg.source, size, cfg.mirror))

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

    def capabilities(self) -> Capabilities:
        """Images from noise and real images; the dataset's name for the embedded sets; the
        digit classifier's features on digits (fd_digits), else the core rotation net trained
        on this run's real images (fd_rotnet: faces and folders, nothing downloaded)."""
        source = self.config.data.source
        return Capabilities(
            modality="image",
            dataset=None if source == "folder" else source,
            features=("digits",) if source == "digits" else ("rotnet",),
        )

    def default_metrics(self) -> list[str]:
        """The Frechet distance on the declared features (fd_rotnet, or fd_digits on digits)."""
        return ["fid"]

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
