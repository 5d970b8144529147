"""medgan's plain loop: pix2pix's `Pix2PixModel.optimize_parameters`, hand-written with MONAI.

The default task (`task=lesion`, 64x64 FLAIR phantoms): a MONAI UNet G paints the lesion into
the erased image, a MONAI PatchDiscriminator judges (condition, image) pairs stacked along
channels, MONAI's `PatchAdversarialLoss` in least-squares mode on the raw patch logits, and
L1 x `objective.lambda_l1`. One step is pix2pix's: one G forward; D on the real pair and the
detached fake pair, its loss x `objective.d_scale` (pix2pix's 0.5); then, with D frozen, G on
the adversarial term of the updated D plus the weighted L1. The networks are deep copies of the
run's (the domain's own `Inpainter` and `PatchCritic` wrappers around MONAI's nets, so the
weights match); the optimizers are built by hand from `run.config.optim`.
"""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from ganhub_medgan.config import MedGANConfig
from ganhub_medgan.system import MedPairedGAN
from monai.losses import PatchAdversarialLoss
from plain_loops._common import update
from torch import Tensor, nn

from ganhub.engine.run import Run

KEYS: list[str] = []  # medgan's defaults: task=lesion, 64x64 2D, widths 16, UNet depth 4
BATCH = 8


def adam(module: nn.Module, cfg: Any, device: torch.device) -> torch.optim.Adam:
    """Adam with the run's settings; fused on CUDA and CPU, foreach elsewhere (as `impl=auto`)."""
    assert cfg.name == "adam", f"the plain medgan loop writes Adam only, not {cfg.name}"
    fused = cfg.impl == "fused" or (cfg.impl == "auto" and device.type in ("cuda", "cpu"))
    kernels = {"fused": True} if fused else {"foreach": True}
    return torch.optim.Adam(module.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                            weight_decay=cfg.weight_decay, **kernels)  # fmt: skip


class PlainMedGAN:
    """A hand-written pix2pix step on (condition, target) batches with MONAI's patch loss."""

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_G: torch.optim.Optimizer,
        opt_D: torch.optim.Optimizer,
        *,
        lambda_l1: float = 100.0,
        d_scale: float = 0.5,
        autocast_dtype: torch.dtype | None = None,
        device: torch.device,
    ) -> None:
        self.G, self.D, self.opt_G, self.opt_D = G, D, opt_G, opt_D
        self.lambda_l1, self.d_scale = lambda_l1, d_scale
        self.dtype, self.device = autocast_dtype, device
        # no LeakyReLU on the logits: D regresses them directly, as LSGAN and pix2pix's lsgan
        self.adv = PatchAdversarialLoss(criterion="least_squares", no_activation_leastsq=True)
        # fp16 needs loss scaling; one scaler for both updates, updated once per step
        self.scaler = torch.amp.GradScaler(device.type) if autocast_dtype == torch.float16 else None
        self.G.train()
        self.D.train()

    def autocast(self) -> AbstractContextManager[Any]:
        """Mixed precision for the forwards (none in fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def gan(self, logits: Tensor, real: bool, for_discriminator: bool) -> Tensor:
        """MONAI's least-squares patch loss, in float32: squared fp16 logits can overflow."""
        with torch.autocast(self.device.type, enabled=False):
            out: Tensor = self.adv(logits.float(), target_is_real=real,
                                   for_discriminator=for_discriminator)  # fmt: skip
        return out

    @staticmethod
    def set_requires_grad(net: nn.Module, flag: bool) -> None:
        """pix2pix's `set_requires_grad`: no D weight gradients while G trains."""
        for p in net.parameters():
            p.requires_grad = flag

    def step(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """One D update, then one G update on the same fake; returns (D loss, G loss)."""
        condition, target = batch
        self.set_requires_grad(self.D, True)
        with self.autocast():
            fake = self.G(condition)  # kept with its graph: G's update backpropagates through it
            # real pair first, then fake (D keeps no running statistics: the order is free)
            real_logits = self.D(torch.cat([condition, target], dim=1))
            fake_logits = self.D(torch.cat([condition, fake.detach()], dim=1))
            loss_d = self.d_scale * (
                self.gan(real_logits, True, True) + self.gan(fake_logits, False, True)
            )
        update(loss_d, self.opt_D, self.scaler)
        self.set_requires_grad(self.D, False)
        with self.autocast():
            logits = self.D(torch.cat([condition, fake], dim=1))  # the updated D, as pix2pix
            loss_g = self.gan(logits, True, False) + self.lambda_l1 * F.l1_loss(fake, target)
        update(loss_g, self.opt_G, self.scaler)
        if self.scaler is not None:
            self.scaler.update()
        return loss_d.detach(), loss_g.detach()


def plain_loop(run: Run) -> PlainMedGAN:
    """The hand-written trainer on copies of the run's G and D, with its optimizer settings,
    objective weights and precision (paired tasks, no tricks)."""
    cfg = run.config
    assert isinstance(cfg, MedGANConfig)
    system = run.system
    assert isinstance(system, MedPairedGAN), "the plain medgan loop is the paired tasks'"
    assert not cfg.tricks, f"the plain medgan loop writes no tricks ({cfg.tricks})"
    assert cfg.objective.feature_matching == 0, "the plain medgan loop has no feature matching"
    assert cfg.loss == "monai_patch_lsgan", f"the plain medgan loop writes LSGAN, not {cfg.loss}"
    device = run.device
    G, D = copy.deepcopy(system.G), copy.deepcopy(system.D)
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[str(cfg.precision)]
    return PlainMedGAN(
        G, D, adam(G, cfg.optim.G, device), adam(D, cfg.optim.D, device),
        lambda_l1=cfg.objective.lambda_l1, d_scale=cfg.objective.d_scale,
        autocast_dtype=dtype, device=device,
    )  # fmt: skip
