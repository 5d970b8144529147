"""stylegan's plain loop: StyleGAN2 with G EMA, lazy R1 and ADA, written as one PyTorch class.

It follows NVIDIA's StyleGAN2-ADA `training/training_loop.py` and `training/loss.py`
(logistic D loss, non-saturating G loss, lazy R1 with the lr/beta correction, lazy path length
with its running mean, style mixing, G EMA by half-life with ramp-up, ADA's sign heuristic),
on deep copies of the ganhub run's networks and with its settings. Where ganhub's stylegan
differs from NVIDIA's reference it follows ganhub, so both sides compute the same update and
draw the same random numbers in the same order (tests/plugins/plain_loops/test_stylegan.py):
the phases run D first (Dmain, Dr1, Gmain, Greg; NVIDIA runs G first), w_avg moves only with
Dmain's fakes (as in StyleGAN3's code), and ADA's ops are ganhub's (`ganhub.tricks.augment`,
reused as plain functions).
"""

from __future__ import annotations

import copy
import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from ganhub_stylegan.config import StyleGANConfig
from ganhub_stylegan.networks import Generator
from ganhub_stylegan.system import StyleGANSystem
from plain_loops._common import update
from torch import Tensor, nn

from ganhub.engine.run import Run
from ganhub.tricks.ada_augment import AdaPipeline

KEYS: list[str] = []  # the domain's defaults: 32 px faces, batch 32, ema + lazy r1 + ada
BATCH = 32


class PlainStyleGAN2:
    """A hand-written StyleGAN2-ADA step on given G (mapping + synthesis), D and G_ema."""

    def __init__(
        self, G: Generator, D: nn.Module, G_ema: Generator | None, *,
        lr: tuple[float, float] = (0.0025, 0.0025), betas: tuple[float, float] = (0.0, 0.99),
        eps: float = 1e-8, r1_gamma: float | None = 0.0064, r1_interval: int = 16,
        pl_weight: float = 0.0, pl_interval: int = 4, pl_decay: float = 0.01,
        pl_batch_shrink: int = 2, style_mixing: float = 0.0, r1_correction: bool = True,
        pl_correction: bool = True,
        ema_kimg: float = 10.0, ema_rampup: float | None = 0.05, batch_size: int = 32,
        ada_ops: AdaPipeline | None = None, ada_target: float = 0.6, ada_interval: int = 4,
        ada_kimg: float = 20.0, ada_p: float = 0.0,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:  # fmt: skip
        self.G, self.D, self.G_ema = G, D, G_ema
        device = next(G.parameters()).device
        self.device = device
        self.z_dim, self.num_ws = G.z_dim, G.num_ws
        self.r1_gamma, self.r1_interval = r1_gamma, r1_interval
        self.pl_weight, self.pl_interval, self.pl_decay = pl_weight, pl_interval, pl_decay
        self.pl_batch_shrink, self.style_mixing = pl_batch_shrink, style_mixing
        self.pl_mean = torch.zeros((), device=device)
        self.ema_kimg, self.ema_rampup, self.batch_size = ema_kimg, ema_rampup, batch_size
        self.ada_ops, self.ada_target = ada_ops, ada_target
        self.ada_interval, self.ada_kimg = ada_interval, ada_kimg
        self.ada_p = torch.tensor(float(ada_p), device=device)  # on the device: no host sync
        self.ada_signs = torch.zeros((), device=device)
        self.ada_count = 0
        self.dtype = autocast_dtype
        # fp16 needs loss scaling; bf16 and fp32 need none
        self.scaler = torch.amp.GradScaler(device.type) if autocast_dtype == torch.float16 else None
        fused = device.type in ("cuda", "cpu")  # as impl=auto: fused where torch has it
        kernels: dict[str, Any] = {"fused": True} if fused else {"foreach": True}

        def adam(module: nn.Module, lr: float, interval: int | None) -> torch.optim.Adam:
            # a lazy regulariser every k steps: lr * k/(k+1), betas ** (k/(k+1)) (StyleGAN2
            # appendix B; training_loop.py's mb_ratio)
            ratio = interval / (interval + 1) if interval else 1.0
            b = (betas[0] ** ratio, betas[1] ** ratio)
            return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=b, eps=eps, **kernels)

        # NVIDIA corrects G for its Greg phase even when pl_weight = 0; ganhub only with it on
        self.opt_G = adam(G, lr[0], pl_interval if pl_weight > 0 and pl_correction else None)
        lazy_r1 = r1_gamma is not None and r1_interval > 1 and r1_correction
        self.opt_D = adam(D, lr[1], r1_interval if lazy_r1 else None)
        self.step_count = 0

    # -- helpers -------------------------------------------------------------------------

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, self.dtype, enabled=self.dtype is not None)

    def _train(self, module: nn.Module) -> None:
        """Let autograd track only `module`'s weights (loss.py's requires_grad_ per phase)."""
        self.G.requires_grad_(module is self.G)
        self.D.requires_grad_(module is self.D)

    def _input_grad(self, out: Tensor, x: Tensor) -> Tensor:
        """d(sum out)/dx with a graph; under fp16 scaled, then unscaled, against underflow."""
        if self.scaler is None:
            return torch.autograd.grad(out.sum(), x, create_graph=True)[0]
        grad = torch.autograd.grad(self.scaler.scale(out.sum()), x, create_graph=True)[0]
        return grad / self.scaler.get_scale()

    def _augment(self, x: Tensor) -> Tensor:
        """ADA: each op on each image with probability p (every D input, penalties too)."""
        return x if self.ada_ops is None else self.ada_ops(x, self.ada_p)

    def _mapping(self, n: int, update_w_avg: bool = False) -> Tensor:
        w = self.G.mapping(torch.randn(n, self.z_dim, device=self.device), update_w_avg)
        return w[:, None].repeat(1, self.num_ws, 1)

    def _ws(self, n: int) -> Tensor:
        """Style vectors of n fresh latents, the first ones moving w_avg; with probability
        `style_mixing` the batch's ones from a random crossover on come from second latents
        (loss.py's run_G, in every phase)."""
        ws = self._mapping(n, update_w_avg=True)
        if self.style_mixing > 0:
            ws2 = self._mapping(n)
            cut = torch.randint(1, self.num_ws, (1,), device=self.device)
            mixed = torch.rand(1, device=self.device) < self.style_mixing
            cut = torch.where(mixed, cut, torch.full_like(cut, self.num_ws))
            # where, not NVIDIA's ws[:, cutoff:] = ..., which reads the device index on the host
            ws = torch.where(
                (torch.arange(self.num_ws, device=self.device) >= cut)[None, :, None], ws2, ws
            )
        return ws

    # -- the step ------------------------------------------------------------------------

    def step(self, real: Tensor) -> tuple[Tensor, Tensor]:
        """Dmain, lazy Dr1, Gmain, lazy Gpl, G EMA, ADA's p; returns the (D, G) losses."""
        k, n = self.step_count, len(real)
        # Dmain: the logistic loss softplus(-D(real)) + softplus(D(fake)) (loss.py's), written
        # as the equal BCE with logits: its rounding differs from softplus's, and 17 steps of
        # GAN dynamics grow a 1e-7 difference to 1e-4 (the equality test would read noise)
        self._train(self.D)
        with self._autocast():
            with torch.no_grad():
                fake = self.G.synthesis(self._ws(n))
            real_logits = self.D(self._augment(real))
            fake_logits = self.D(self._augment(fake))
            loss_d = F.binary_cross_entropy_with_logits(
                real_logits, torch.ones_like(real_logits)
            ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        update(loss_d, self.opt_D, self.scaler)
        self.ada_signs += real_logits.detach().float().sign().sum()  # ADA's overfitting measure
        self.ada_count += real_logits.numel()
        # Dr1 (lazy): gamma/2 * E||grad_x D(aug(x))||^2 on the same reals, times the interval
        if self.r1_gamma is not None and k % self.r1_interval == 0:
            with self._autocast():
                x = real.detach().requires_grad_(True)
                grad = self._input_grad(self.D(self._augment(x)), x)
                penalty = grad.float().square().flatten(1).sum(1).mean()
                loss_r1 = penalty * (self.r1_gamma / 2) * self.r1_interval
            update(loss_r1, self.opt_D, self.scaler)
        # Gmain: the non-saturating softplus(-D(G(z))) = BCE(D(G(z)), 1), fresh mixed fakes
        self._train(self.G)
        with self._autocast():
            fake_logits = self.D(self._augment(self.G.synthesis(self._ws(n))))
            loss_g = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        update(loss_g, self.opt_G, self.scaler)
        # Gpl (lazy): (|J_w^T y| - a)^2, y ~ N(0, I) / sqrt(HW), a the lengths' running mean
        if self.pl_weight > 0 and k % self.pl_interval == 0:
            with self._autocast():
                ws = self._ws(max(1, n // self.pl_batch_shrink))
                img = self.G.synthesis(ws)
                y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
                grad = self._input_grad(img * y, ws)
                lengths = grad.float().square().sum(2).mean(1).sqrt()
                pl_mean = self.pl_mean.lerp(lengths.mean(), self.pl_decay)
                self.pl_mean.copy_(pl_mean.detach())
                loss_pl = (lengths - pl_mean).square().mean() * self.pl_weight * self.pl_interval
            update(loss_pl, self.opt_G, self.scaler)
        if self.scaler is not None:
            self.scaler.update()
        self.step_count = k + 1
        self._update_ema()
        self._adjust_ada()
        return loss_d.detach(), loss_g.detach()

    @torch.no_grad()
    def _update_ema(self) -> None:
        """G_ema <- lerp toward G with beta = 0.5 ** (batch / half-life), the half-life ramped
        up as cur_nimg * rampup (the images seen before this step, as training_loop.py)."""
        if self.G_ema is None:
            return
        half_life = self.ema_kimg * 1000
        if self.ema_rampup is not None:
            half_life = min(half_life, (self.step_count - 1) * self.batch_size * self.ema_rampup)
        beta = 0.5 ** (self.batch_size / max(half_life, 1e-8))
        params = [p.detach() for p in self.G.parameters()]
        torch._foreach_lerp_(list(self.G_ema.parameters()), params, 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def _adjust_ada(self) -> None:
        """Every ada_interval steps: p += sign(r_t - target) * images / (ada_kimg * 1000),
        r_t = E[sign(D(real))] since the last adjustment; p stays in [0, 1]."""
        if self.ada_ops is None or self.step_count % self.ada_interval:
            return
        rt = self.ada_signs / max(self.ada_count, 1)
        delta = torch.sign(rt - self.ada_target) * (self.ada_count / (self.ada_kimg * 1000))
        self.ada_p.copy_((self.ada_p + delta).clamp(0, 1))
        self.ada_signs.zero_()
        self.ada_count = 0


def plain_loop(run: Run) -> PlainStyleGAN2:
    """Copies of the run's G, D and G_ema with its objective, tricks, optimizers and precision."""
    cfg = cast(StyleGANConfig, run.config)
    tricks = set(cfg.tricks)
    if tricks - {"ema", "r1", "ada"} or cfg.loss != "nonsaturating":
        raise ValueError("the plain StyleGAN2 loop has the nonsaturating loss and ema, r1, ada")
    if cfg.model.conditional or cfg.trainer.grad_accum != 1:
        raise ValueError("the plain StyleGAN2 loop is unconditional, without grad_accum")
    s, o, t, optim = run.system, cfg.objective, cfg.trick, cfg.optim
    assert isinstance(s, StyleGANSystem)
    if optim.G.name != "adam" or optim.D.name != "adam" or optim.G.betas != optim.D.betas:
        raise ValueError("the plain StyleGAN2 loop has Adam with the same betas for G and D")
    G, D = copy.deepcopy(s.G), copy.deepcopy(s.D)
    ema = t.ema if "ema" in tricks else None
    if ema is not None and (ema.half_life_kimg is None or ema.start_step):
        raise ValueError("the plain StyleGAN2 loop sets the EMA by trick.ema.half_life_kimg")
    kwargs: dict[str, Any] = {}
    if "r1" in tricks:
        r1 = t.r1
        if r1.interval == 1:
            raise ValueError("the plain StyleGAN2 loop has lazy R1 (trick.r1.interval > 1)")
        kwargs |= {"r1_gamma": r1.gamma, "r1_interval": r1.interval,
                   "r1_correction": r1.lazy_correction}  # fmt: skip
    else:
        kwargs["r1_gamma"] = None
    if "ada" in tricks:
        ada = t.ada
        kwargs |= {"ada_ops": AdaPipeline(ada.ops, ada.translation, ada.cutout, ada.supersample),
                   "ada_target": ada.target, "ada_interval": ada.interval,
                   "ada_kimg": ada.kimg, "ada_p": ada.p_init}  # fmt: skip
    if ema is not None:
        kwargs |= {"ema_kimg": ema.half_life_kimg, "ema_rampup": ema.rampup}
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[str(cfg.precision)]
    return PlainStyleGAN2(
        G, D, copy.deepcopy(cast(Generator, s.G_ema)) if ema is not None else None,
        lr=(optim.G.lr, optim.D.lr), betas=(optim.G.betas[0], optim.G.betas[1]), eps=optim.G.eps,
        pl_weight=o.pl_weight, pl_interval=o.pl_interval, pl_decay=o.pl_decay,
        pl_batch_shrink=o.pl_batch_shrink, style_mixing=o.style_mixing,
        pl_correction=o.lazy_correction, batch_size=cfg.trainer.batch_size,
        autocast_dtype=dtype, **kwargs,
    )  # fmt: skip
