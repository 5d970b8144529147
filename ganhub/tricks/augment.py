"""DiffAugment's differentiable image augmentations (Zhao et al. 2020), batched on the device.

Every op takes (B, C, H, W) images and draws its random parameters per image; gradients flow
through all of them, so D can be trained on augmented reals and fakes while G still learns the
clean distribution. ADA's pipeline is `ganhub.tricks.ada_augment` (it shares cutout).
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


def _images(x: Tensor) -> Tensor:
    """(B, C, H, W) as (B, N, C / N, H, W): the images stacked on channels, groups of three
    (RGB) when C is a multiple of 3, else one grey image per channel (ADA's rule: a
    translation pair stacked on channels is two images, not one of 2 or 6 colours)."""
    b, c, h, w = x.shape
    group = 3 if c % 3 == 0 else 1
    return x.reshape(b, c // group, group, h, w)


def augment_saturation(x: Tensor) -> Tensor:
    """Scale each sample's distance from its per-pixel channel mean by a random [0, 2); the mean
    of each RGB image stacked on channels (grey images have no saturation to change)."""
    images = _images(x)  # a grey image is its own mean: it comes back as it was
    mean_c = images.mean(dim=2, keepdim=True)
    factor = _rand(x).unsqueeze(1)
    return ((images - mean_c) * (factor * 2) + mean_c).reshape(x.shape)


def augment_contrast(x: Tensor) -> Tensor:
    """Scale each sample's distance from its mean by a random [0.5, 1.5); the mean of each image
    stacked on channels."""
    images = _images(x)
    mean_all = images.mean(dim=(2, 3, 4), keepdim=True)
    factor = _rand(x).unsqueeze(1)
    return ((images - mean_all) * (factor + 0.5) + mean_all).reshape(x.shape)


def augment_color(x: Tensor) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per sample."""
    return augment_contrast(augment_saturation(augment_brightness(x)))


def augment_translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each sample by up to `ratio` of its size, filling with zeros (DiffAugment's)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij"
    )
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    iy = (gy.unsqueeze(0) + ty + 1).clamp(0, h + 1)
    ix = (gx.unsqueeze(0) + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[batch, iy, ix].permute(0, 3, 1, 2)


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


def make_ops(names: Sequence[str], translation: float, cutout: float) -> list[Op]:
    """The named ops with their strengths bound, in the given order."""
    table: dict[str, Op] = {
        "xflip": augment_xflip,
        "translation": lambda x: augment_translation(x, translation),
        "color": augment_color,
        "cutout": lambda x: augment_cutout(x, cutout),
    }
    return [table[name] for name in names]


def apply_all(x: Tensor, ops: Sequence[Op]) -> Tensor:
    """Every op on every sample (DiffAugment)."""
    for op in ops:
        x = op(x)
    return x
