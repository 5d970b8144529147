"""toy2d's plain loop: the MLP GAN on a 2D Gaussian mixture with R1, an EMA generator and a
decaying learning rate, written out the way a hand-written PyTorch trainer writes them.

Each part follows its reference implementation:
- the step is the PyTorch DCGAN example's: D on a real batch and fresh fakes, then G through
  the updated D on the same fakes (one G forward per step), non-saturating BCE losses;
- R1 is Mescheder et al.'s (GAN_stability, `compute_grad2`): the reals require grad, so the
  gradient of D's real logits w.r.t. them comes from the same forward as D's loss; weighted
  gamma/2 as in the paper and StyleGAN2 (GAN_stability's `reg_param` has no 1/2). With
  `trick.r1.interval` k > 1 it is StyleGAN2's lazy R1: a D step of its own every k steps on
  that step's reals, the penalty times k, D's lr * k/(k+1) and betas ** (k/(k+1));
- the EMA of G is the foreach lerp of timm's ModelEmaV3 on the parameters (buffers copied, as
  StyleGAN2-ADA does), with TensorFlow's num_updates warm-up, min(decay, (1 + t) / (10 + t));
- the schedule is a LambdaLR on ganhub's lr_schedule count, stepped every iteration (as
  PlainCycleGAN; see docs/tricks.md for how it compares with CycleGAN's per-epoch count).
"""

from __future__ import annotations

import copy
import math
from contextlib import AbstractContextManager
from typing import Any

import torch
import torch.nn.functional as F
from plain_loops._common import update
from torch import Tensor, nn

from ganhub.config.schema import OptimizerConfig
from ganhub.engine.run import Run

KEYS: list[str] = []  # toy2d's defaults: ring, MLPs 3 x 128, batch 256, r1 + ema + lr_schedule
BATCH = 256
TRICKS = {"r1", "ema", "lr_schedule"}


def adam(params: list[nn.Parameter], cfg: OptimizerConfig, device: torch.device,
         lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:  # fmt: skip
    """Adam (or AdamW) with the config's eps and weight decay; fused on CUDA and CPU as the config asks."""
    fused = cfg.impl == "fused" or (cfg.impl == "auto" and device.type in ("cuda", "cpu"))
    kernels: dict[str, bool] = {"fused": True} if fused else {"foreach": True}
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, betas=betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **kernels)


class PlainToy2d:
    """The hand-written training step: G, D and G's EMA copy, their optimizers and schedules."""

    def __init__(self, run: Run) -> None:
        cfg = run.config
        unsupported = set(cfg.tricks) - TRICKS
        if unsupported or cfg.loss != "nonsaturating" or cfg.trainer.grad_accum != 1:
            raise ValueError(
                "the plain toy2d loop writes out the nonsaturating loss and the tricks "
                f"{sorted(TRICKS)} without gradient accumulation; this run has loss "
                f"{cfg.loss}, tricks {cfg.tricks}, grad_accum {cfg.trainer.grad_accum}"
            )
        for name in ("G", "D"):
            if getattr(cfg.optim, name).name not in ("adam", "adamw"):
                raise ValueError(f"the plain toy2d loop builds Adam; optim.{name} is not")
        s = run.system
        self.device, self.latent_dim = run.device, cfg.model.latent_dim
        self.G, self.D = copy.deepcopy(s.G), copy.deepcopy(s.D)
        self.step_index = run.step

        self.r1: Any = cfg.trick.r1 if "r1" in cfg.tricks else None
        self.r1_lazy = self.r1 is not None and self.r1.interval > 1
        d_lr, d_betas = cfg.optim.D.lr, tuple(cfg.optim.D.betas)
        if self.r1_lazy and self.r1.lazy_correction:
            # StyleGAN2: the extra D steps of lazy R1 would otherwise raise D's effective lr
            ratio = self.r1.interval / (self.r1.interval + 1)
            d_lr, d_betas = d_lr * ratio, tuple(b**ratio for b in d_betas)
        self.optG = adam(list(self.G.parameters()), cfg.optim.G, self.device,
                         cfg.optim.G.lr, tuple(cfg.optim.G.betas))  # fmt: skip
        self.optD = adam(list(self.D.parameters()), cfg.optim.D, self.device, d_lr, d_betas)

        self.ema: Any = cfg.trick.ema if "ema" in cfg.tricks else None
        if self.ema is not None:
            self.G_ema = copy.deepcopy(s.G_ema)
            # lists made once: the step lerps them in one foreach call
            self.ema_params: list[Tensor] = list(self.G_ema.parameters())
            self.G_params: list[Tensor] = list(self.G.parameters())
            self.ema_buffers = list(zip(self.G_ema.buffers(), self.G.buffers()))
            self.batch = cfg.trainer.batch_size

        self.schedule: Any = cfg.trick.lr_schedule if "lr_schedule" in cfg.tricks else None
        self.total_steps = cfg.trainer.steps
        self.schedulers: list[torch.optim.lr_scheduler.LRScheduler] = []
        if self.schedule is not None:
            self.schedulers = [
                torch.optim.lr_scheduler.LambdaLR(opt, self.lr_factor)
                for opt in (self.optG, self.optD)
            ]

        self.dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[str(cfg.precision)]
        # fp16 needs loss scaling (one scaler for both optimizers, updated once per step)
        self.scaler = torch.amp.GradScaler(self.device.type) if cfg.precision == "16" else None

    def autocast(self) -> AbstractContextManager[Any]:
        """Autocast to the run's precision (disabled for fp32)."""
        return torch.autocast(self.device.type, self.dtype, enabled=self.dtype is not None)

    def lr_factor(self, step: int) -> float:
        """LR multiplier after `step` steps: warm-up, constant, then linear or cosine decay."""
        o, total = self.schedule, self.total_steps
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        begin = max(int(o.start * total), o.warmup_steps)
        if step <= begin:
            return 1.0
        progress = min(1.0, (step - begin) / max(1, total - begin))
        shape = 1.0 - progress if o.kind == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
        return o.final + (1.0 - o.final) * shape

    def ema_decay(self, step: int) -> float:
        """The EMA decay after `step` steps: a fixed decay with the TensorFlow warm-up, or
        StyleGAN's half-life in images (with its ramp-up); 0 (a copy) up to start_step."""
        o = self.ema
        if step <= o.start_step:
            return 0.0
        if o.half_life_kimg is None:
            decay = 0.999 if o.decay is None else o.decay
            return min(decay, (1 + step) / (10 + step)) if o.warmup else decay
        half_life = o.half_life_kimg * 1000.0
        if o.rampup is not None:
            half_life = min(half_life, (step - 1) * self.batch * o.rampup)  # images before the step
        return 0.5 ** (self.batch / max(half_life, 1e-8))

    def r1_penalty(self, real_logits: Tensor, real: Tensor) -> Tensor:
        """E ||d D(x) / dx||^2 over the real batch, differentiable (GAN_stability's compute_grad2)."""
        out = real_logits.sum()
        if self.scaler is None:
            (grad,) = torch.autograd.grad(out, real, create_graph=True)
        else:  # the AMP recipe for gradient penalties: scale against fp16 underflow, unscale
            (grad,) = torch.autograd.grad(self.scaler.scale(out), real, create_graph=True)
            grad = grad / self.scaler.get_scale()
        return grad.square().sum(1).mean()

    def step(self, real: Tensor) -> tuple[Tensor, Tensor]:
        """One D update (with R1), the lazy R1 update when due, one G update, then the EMA and
        the schedules; returns (D loss with its penalty, G loss), still on the device."""
        r1_now = self.r1 is not None and not self.r1_lazy
        # R1 differentiates D's real logits w.r.t. the reals (detached: the batch may be shared)
        real = real.detach().requires_grad_(r1_now)
        with self.autocast():
            z = torch.randn(len(real), self.latent_dim, device=self.device)
            fake = self.G(z)
            out_real, out_fake = self.D(real), self.D(fake.detach())
            loss_d = F.binary_cross_entropy_with_logits(
                out_real, torch.ones_like(out_real)
            ) + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
            if r1_now:
                loss_d = loss_d + self.r1_penalty(out_real, real) * (self.r1.gamma / 2)
        update(loss_d, self.optD, self.scaler)

        if self.r1_lazy and self.step_index % self.r1.interval == 0:
            real = real.detach().requires_grad_(True)
            with self.autocast():
                penalty = self.r1_penalty(self.D(real), real)
                loss_r1 = penalty * (self.r1.gamma / 2) * self.r1.interval
            update(loss_r1, self.optD, self.scaler)

        self.D.requires_grad_(False)  # G's update needs no gradients of D's weights
        with self.autocast():
            out = self.D(fake)
            loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        update(loss_g, self.optG, self.scaler)
        self.D.requires_grad_(True)
        if self.scaler is not None:
            self.scaler.update()

        self.step_index += 1
        if self.ema is not None:
            with torch.no_grad():
                beta = self.ema_decay(self.step_index)
                torch._foreach_lerp_(self.ema_params, self.G_params, 1.0 - beta)
                for b_ema, b in self.ema_buffers:
                    b_ema.copy_(b)
        for scheduler in self.schedulers:
            scheduler.step()
        return loss_d.detach(), loss_g.detach()


def plain_loop(run: Run) -> PlainToy2d:
    """The hand-written trainer with copies of the run's G, D and EMA generator, its optimizer,
    R1, EMA and schedule settings and its precision."""
    return PlainToy2d(run)
