"""Adaptive discriminator augmentation (Karras et al. 2020) on the core's differentiable ops.

Every discriminator input (real and fake, in every D and G phase) goes through the same
augmentations, each applied per image with probability p. Because D sees augmented fakes too
and the ops are differentiable, G learns the clean distribution while p stays below ~0.8.
p follows the overfitting heuristic r_t = E[sign(D(real))]: every `interval` steps it moves by
`images / (kimg * 1000)` toward more augmentation when r_t > target, less when below.

All state (p and the sign accumulator) is in buffers, so it is checkpointed with the system
and a resumed run continues with the same p; nothing is read back to the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ganhub.tricks.inputs import augment_color, augment_cutout, augment_translation


def _xflip(x: Tensor) -> Tensor:
    return x.flip(3)


OPS = {
    "xflip": _xflip,
    "translation": lambda x: augment_translation(x, 0.125),
    "color": augment_color,
    "cutout": lambda x: augment_cutout(x, 0.5),
}


class AdaptiveAugment(nn.Module):
    """Per-image augmentation with an adaptive probability p (a buffer)."""

    def __init__(
        self, ops: Sequence[str], target: float, interval: int, kimg: float, p_init: float = 0.0
    ) -> None:
        super().__init__()
        self.ops = [OPS[name] for name in ops]
        self.target, self.interval, self.kimg = target, interval, kimg
        self.register_buffer("p", torch.tensor(float(p_init)))
        self.register_buffer("sign_sum", torch.zeros(()))
        self.register_buffer("count", torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        """Each op replaces an image by its augmented version with probability p."""
        for op in self.ops:
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= self.p
            x = torch.where(keep, x, op(x))
        return x

    @torch.no_grad()
    def accumulate(self, real_logits: Tensor) -> None:
        """Add sign(D(real)) of a batch to the running heuristic."""
        self.sign_sum += real_logits.detach().float().sign().sum()
        self.count += real_logits.numel()

    @torch.no_grad()
    def adjust(self) -> None:
        """Move p by sign(r_t - target) * images / (kimg * 1000) and reset the accumulator."""
        rt = self.sign_sum / self.count.clamp(min=1)
        step = torch.sign(rt - self.target) * self.count / (self.kimg * 1000)
        self.p.copy_((self.p + step).clamp(0, 1))
        self.sign_sum.zero_()
        self.count.zero_()

    def heuristic(self) -> Tensor:
        """The current r_t estimate (device tensor)."""
        return self.sign_sum / self.count.clamp(min=1)
