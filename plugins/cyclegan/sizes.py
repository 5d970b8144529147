"""Size arithmetic of the cyclegan networks (no torch): the PatchGAN's logit map, the U-Net's
depth at an image size and the levels that hold dropout. config.py checks keys with it."""

from __future__ import annotations

__all__ = [
    "patch_layers_for",
    "patch_output_size",
    "unet_depth_note",
    "unet_dropout_levels",
    "unet_max_downs",
    "unet_sizes_for",
]

UNET_MAX = 8  # the original's deepest U-Net (unet_256: 256 px down to 1 x 1)


def patch_output_size(size: int, n_layers: int) -> int:
    """Side of the PatchGAN's logit map for a `size` x `size` input (< 1: the input is too small)."""
    for _ in range(n_layers):
        size = (size + 2 - 4) // 2 + 1
    return size - 2  # two stride-1 4x4 convs with padding 1 each remove one pixel


# the original's PatchGAN depth (70x70 patches) and the smallest size it was trained at (128 px,
# Cityscapes); below it a 70x70 patch spans most of the image (all of it from 64 px down: an
# image GAN, which pix2pix, Isola et al. 2017 sec. 4.4, found worse than patches). On the
# embedded 32 px digits 34x34 patches scored 1 dB PSNR and 0.1 SSIM above 70x70 ones.
PATCH_LAYERS, PATCH_FROM = 3, 128


def patch_layers_for(size: int) -> int:
    """The default PatchGAN depth at `size` px: 3 (70x70 patches) from 128 px, else 2 (34x34),
    fewer where the image is too small for a logit map."""
    layers = PATCH_LAYERS if size >= PATCH_FROM else PATCH_LAYERS - 1
    while layers > 1 and patch_output_size(size, layers) < 1:
        layers -= 1
    return layers


def unet_dropout_levels(downs: int) -> int:
    """U-Net levels that get dropout: those deeper than the fourth but the innermost, as the
    original's `unet_256` (3 of 8) and `unet_128` (2 of 7); none below 6 halvings."""
    return max(0, downs - 5)


def unet_max_downs(size: int, limit: int = UNET_MAX) -> int:
    """The most U-Net halvings `size` allows: the largest n (at most `limit`) with `size`
    divisible by 2^n (each level halves the map exactly)."""
    n = 0
    while n < limit and size % 2 == 0 and size > 1:
        size //= 2
        n += 1
    return n


def unet_sizes_for(size: int) -> tuple[int, int]:
    """The sizes next to `size` (below or at it, and above it) that are multiples of the power of
    two a `size` px U-Net could halve to (min(8, log2 size) levels): 100 -> (64, 128)."""
    step = 2 ** min(UNET_MAX, size.bit_length() - 1)
    below = size // step * step
    return below, below + step


def unet_depth_note(size: int) -> str:
    """A line when `size` px gives a U-Net shallower than a size near it that is a multiple of a
    power of two would ("" when it is as deep as any size near it allows)."""
    levels, below, above = unet_max_downs(size), *unet_sizes_for(size)
    if levels >= unet_max_downs(below):
        return ""
    odd = size >> levels
    return (
        f"model.image_size={size} gives a {levels}-level U-Net ({size} = {odd} x 2^{levels}: "
        f"each level halves the image exactly), where {below} or {above} px give "
        f"{unet_max_downs(below)} or {unet_max_downs(above)} levels (the paper's 256 px: 8); a "
        f"shallow U-Net sees little context: train at such a size, or give "
        f"model.unet_downs={levels} to keep this one"
    )
