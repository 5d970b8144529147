"""Differentiable image augmentations shared by `diffaug` and `ada` (batched, on the device).

Every op takes (B, C, H, W) images and draws its random parameters per image; gradients flow
through all of them, so D can be trained on augmented reals and fakes while G still learns the
clean distribution (DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def _rand(x: Tensor) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def augment_brightness(x: Tensor) -> Tensor:
    """Add a random brightness in [-0.5, 0.5) per sample."""
    return x + (_rand(x) - 0.5)


def augment_saturation(x: Tensor) -> Tensor:
    """Scale each sample's distance from its per-pixel channel mean by a random [0, 2)."""
    mean_c = x.mean(dim=1, keepdim=True)
    return (x - mean_c) * (_rand(x) * 2) + mean_c


def augment_contrast(x: Tensor) -> Tensor:
    """Scale each sample's distance from its mean by a random [0.5, 1.5)."""
    mean_all = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean_all) * (_rand(x) + 0.5) + mean_all


# DiffAugment's `color` is these three in a row; ADA draws each against p on its own
COLOR = (augment_brightness, augment_saturation, augment_contrast)


def augment_color(x: Tensor) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per sample."""
    for op in COLOR:
        x = op(x)
    return x


def augment_translation(x: Tensor, ratio: float = 0.125, reflect: bool = False) -> Tensor:
    """Shift each sample by up to `ratio` of its size, filling with zeros (DiffAugment) or,
    with `reflect`, with the image mirrored at its border (StyleGAN2-ADA's padding)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij"
    )
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    if reflect and h > 1 and w > 1:
        iy, ix = _reflected(gy.unsqueeze(0) + ty, h), _reflected(gx.unsqueeze(0) + tx, w)
        return x.permute(0, 2, 3, 1)[batch, iy, ix].permute(0, 3, 1, 2)
    iy = (gy.unsqueeze(0) + ty + 1).clamp(0, h + 1)
    ix = (gx.unsqueeze(0) + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[batch, iy, ix].permute(0, 3, 1, 2)


def _reflected(index: Tensor, n: int) -> Tensor:
    """Indexes mirrored into [0, n) at the borders, without repeating the edge (F.pad's
    reflect): -1 -> 1, n -> n - 2."""
    period = 2 * (n - 1)
    index = index.remainder(period)
    return torch.where(index >= n, period - index, index)


def augment_cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a random square of side `ratio * size` in each sample."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    dy = torch.arange(h, device=x.device).view(1, h, 1) - oy + ch // 2
    dx = torch.arange(w, device=x.device).view(1, 1, w) - ox + cw // 2
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def augment_xflip(x: Tensor) -> Tensor:
    """Mirror each sample horizontally with probability 1/2 (StyleGAN2-ADA's xflip: an
    augmentation that always flipped would be a fixed transform, not a random one)."""
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
    return torch.where(flip, x.flip(3), x)


Op = Callable[[Tensor], Tensor]


def make_ops(
    names: Sequence[str], translation: float, cutout: float, ada: bool = False
) -> list[Op]:
    """The named ops with their strengths bound, in the given order; `ada`: StyleGAN2-ADA's
    variants, `color` as three ops (brightness, saturation, contrast) each drawn against p,
    and translation filled by reflection."""
    table: dict[str, list[Op]] = {
        "xflip": [augment_xflip],
        "translation": [lambda x: augment_translation(x, translation, reflect=ada)],
        "color": list(COLOR) if ada else [augment_color],
        "cutout": [lambda x: augment_cutout(x, cutout)],
    }
    return [op for name in names for op in table[name]]


def apply_all(x: Tensor, ops: Sequence[Op]) -> Tensor:
    """Every op on every sample (DiffAugment)."""
    for op in ops:
        x = op(x)
    return x


def apply_with_probability(x: Tensor, ops: Sequence[Op], p: Tensor) -> Tensor:
    """Each op replaces each sample by its augmented version with probability p (ADA).

    `p` is a 0-dim tensor on x's device, so changing it never syncs with the host.
    """
    for op in ops:
        keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= p
        x = torch.where(keep, x, op(x))
    return x
