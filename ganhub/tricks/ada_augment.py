"""StyleGAN2-ADA's augmentation pipeline (Karras et al. 2020, appendix B), batched on the device.

The geometric ops compose into one 3x3 matrix per image and the image is resampled once
(bilinear, mirrored at the border); the colour ops compose into one 4x4 matrix per image
applied in one batched product. Each op is drawn per image with probability p (the two
rotations with 1 - sqrt(1 - p) each, so that some rotation happens with probability p), in the
reference's order whatever the order they are listed in. p is a 0-dim device tensor: changing
it never syncs with the host, and a captured CUDA graph reads the new value.

The resampling is the reference's by default (`resample2x`): the image is upsampled twice
through the sym6 wavelet filter, sampled bilinearly at twice the resolution, and filtered back
down, which keeps rotation and scaling from aliasing fine detail (about four times the
sampling work of `resample`, bilinear at the image's own size: `trick.ada.supersample=false`).
After the colour ops come the reference's image-space ops: `imgfilter` amplifies or attenuates
four frequency bands by 2^N(0, 1) each (a sym2 wavelet filter bank, the power normalised for a
1/f spectrum) and `noise` adds RGB noise of standard deviation |N(0, 0.1)|, as its `bgcfnc`
pipeline (not in the default `bgc`). What differs from NVIDIA's `augment.py`: ganhub reads the image reflection-padded by a fixed
9 pixels and folds positions farther out back into the image, where the reference pads each
batch by reflection as far as its transforms reach (sizing the padding costs a host sync), so
the two agree to float rounding wherever a transform stays within 6 pixels of the image, and
elsewhere differ by the asymmetry of sym6 in the mirrored part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ganhub.tricks.augment import augment_cutout

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
# the reference's default pipeline `bgc` (blit, geometric, colour)
BGC = GEOMETRIC + COLOR
# its image-space filtering (`f`) and additive noise (`n`); with cutout, `bgcfnc`
IMAGE_SPACE = ("imgfilter", "noise")
# earlier names: integer translation, and the colour ops without a hue change
ALIASES = {"translation": ("xint",), "color": ("brightness", "contrast", "saturation")}

# strengths of the reference's defaults (log2 standard deviations for the multiplicative ones)
SCALE_STD = 0.2
ROTATE_MAX = 1.0  # times pi
ANISO_STD = 0.2
XFRAC_STD = 0.125  # of the image size
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
HUE_MAX = 1.0  # times pi
SATURATION_STD = 1.0
IMGFILTER_STD = 1.0  # log2 standard deviation of a band's gain
NOISE_STD = 0.1
# the power spectrum imgfilter's gains are normalised for (1/f): the lowest band holds most
EXPECTED_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)


def _constants(device: torch.device) -> dict[str, Tensor]:
    """The fixed tensors, made on the host once and copied to a device once (a copy from the
    host inside a captured CUDA graph, or every step, would cost a wait)."""
    v = torch.ones(3) / math.sqrt(3)  # the luma (grey) axis
    along = torch.outer(v, v)  # P: the projection on the luma axis
    cross = torch.tensor([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    host = {
        # every colour op acts about the luma axis, so their product is a P + b Q + c K with
        # Q = I - P (the chroma plane) and K the cross product with v (a quarter turn in it)
        "color_basis": torch.stack([along, torch.eye(3) - along, cross]).view(3, 9),
        "quarter_cos": torch.tensor([1.0, 0.0, -1.0, 0.0]),  # exact, unlike cos(pi / 2)
        "quarter_sin": torch.tensor([0.0, 1.0, 0.0, -1.0]),
        "identity2": torch.eye(2),
        "sym6": torch.tensor(SYM6) / sum(SYM6),  # normalised to sum 1, as `setup_filter`
        "filter_bank": filter_bank(),
        "expected_power": torch.tensor(EXPECTED_POWER),
    }
    return {name: t.to(device) for name, t in host.items()}


def _turn(cos: Tensor, sin: Tensor) -> Tensor:
    """(B, 2, 2) rotation matrices [[cos, -sin], [sin, cos]]."""
    return torch.stack([cos, -sin, sin, cos], dim=1).view(-1, 2, 2)


# the sym6 wavelet's low-pass filter (orthonormal, sums to sqrt 2): the reference's `Hz_geom`
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036,
        -0.007800708325034148)  # fmt: skip
# the sym2 wavelet's low-pass filter: the reference's imgfilter bank is built from it
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)


def _convolve(rows: Tensor, f: Tensor) -> Tensor:
    """Full 1-D convolution of each row with f (numpy's `convolve`)."""
    taps = f.numel()
    padded = F.pad(rows.unsqueeze(1), (taps - 1, taps - 1))
    return F.conv1d(padded, f.flip(0).view(1, 1, -1)).squeeze(1)


def filter_bank() -> Tensor:
    """(4, 43) float32: the reference's `Hz_fbank`, four symmetric band-pass filters from the
    sym2 wavelet (a two-channel filter bank iterated three times, lowest band first) that sum
    to the unit impulse, so equal gains leave an image as it is."""
    lo = torch.tensor(SYM2, dtype=torch.float64)
    hi = lo * (-1) ** torch.arange(lo.numel())  # H(-z)
    lo2, hi2 = _convolve(lo[None], lo.flip(0))[0] / 2, _convolve(hi[None], hi.flip(0))[0] / 2
    bank = torch.eye(4, 1, dtype=torch.float64)
    for band in range(1, 4):
        spread = torch.zeros(4, 2 * bank.shape[1] - 1, dtype=torch.float64)
        spread[:, ::2] = bank  # upsampled by 2
        bank = _convolve(spread, lo2)
        start = (bank.shape[1] - hi2.numel()) // 2
        bank[band, start : start + hi2.numel()] += hi2
    return bank.float()


class AdaPipeline:
    """The named ops (`BGC` names, `cutout`, or the `ALIASES`), applied to a batch at p;
    geometric ops resampled at twice the resolution (`resample2x`) unless `supersample` is
    False."""

    def __init__(self, ops: Sequence[str], xint_max: float = 0.125, cutout: float = 0.5,
                 supersample: bool = True) -> None:  # fmt: skip
        names = {name for op in ops for name in ALIASES.get(op, (op,))}
        valid = [*BGC, *IMAGE_SPACE, "cutout"]
        unknown = names - set(valid)
        if unknown:
            raise ValueError(f"unknown ADA ops {sorted(unknown)}; valid: {valid}")
        self.geometric = tuple(n for n in GEOMETRIC if n in names)
        self.color = tuple(n for n in COLOR if n in names)
        self.imgfilter = "imgfilter" in names
        self.noise = "noise" in names
        self.cutout = cutout if "cutout" in names else None
        self.xint_max = xint_max
        self.supersample = supersample
        self._on: dict[torch.device, dict[str, Tensor]] = {}
        self._maps: dict[tuple[torch.device, int, int], Supersampling] = {}

    def constants(self, device: torch.device) -> dict[str, Tensor]:
        """The fixed tensors on `device` (copied there at the first call)."""
        if device not in self._on:
            self._on[device] = _constants(device)
        return self._on[device]

    def supersampling(self, x: Tensor) -> Supersampling:
        """`resample2x`'s maps for x's size on x's device (made at the first call)."""
        key = (x.device, x.shape[-2], x.shape[-1])
        if key not in self._maps:
            self._maps[key] = supersampling(self.constants(x.device)["sym6"], *key[1:])
        return self._maps[key]

    def __call__(self, x: Tensor, p: Tensor) -> Tensor:
        """The geometric ops, the colour ops, imgfilter, noise, then cutout, each per image
        at p."""
        if self.geometric:
            smallest = min(x.shape[-2:])  # resample2x's reflection needs 10 pixels
            two = self.supersample and smallest > 3 * (len(SYM6) // 4)
            g_inv = self.geometry(x, p)
            x = resample2x(x, g_inv, self.supersampling(x)) if two else resample(x, g_inv)
        if self.color:
            x = recolor(x, self.colors(x, p))
        if self.imgfilter:
            x = band_filter(x, self.band_taps(x, p))
        if self.noise:
            sigma = torch.randn(x.shape[0], 1, 1, 1, device=x.device).abs() * NOISE_STD
            on = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
            x = x + torch.randn_like(x) * torch.where(on, sigma, 0).to(x.dtype)
        if self.cutout is not None:
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= p
            x = torch.where(keep, x, augment_cutout(x, self.cutout))
        return x

    def geometry(self, x: Tensor, p: Tensor) -> Tensor:
        """Per image, the (B, 2, 3) affine map [A | t] from output to input pixel coordinates
        about the centre: the reference's product of 3x3 matrices, each op multiplied on the
        right, kept as its linear part A and translation t (a quarter of the small ops)."""
        b, _, h, w = x.shape
        dev = x.device
        const = self.constants(dev)

        def drawn(prob: Tensor) -> Tensor:  # which images this op applies to
            return torch.rand(b, device=dev) < prob

        def rand() -> Tensor:
            return torch.rand(b, device=dev)

        def randn() -> Tensor:
            return torch.randn(b, device=dev)

        def columns(sx: Tensor, sy: Tensor) -> Tensor:  # A @ diag(sx, sy) scales A's columns
            return torch.stack([sx, sy], dim=1).view(b, 1, 2)

        linear = const["identity2"].expand(b, 2, 2)
        shift = torch.zeros(b, 2, 1, device=dev)
        if "xflip" in self.geometric:
            flip = torch.where(drawn(p), torch.floor(rand() * 2), 0)
            linear = linear * columns(1 - 2 * flip, torch.ones_like(flip))
        if "rotate90" in self.geometric:
            quarter = torch.where(drawn(p), torch.floor(rand() * 4), 0).long()
            linear = linear @ _turn(const["quarter_cos"][quarter], const["quarter_sin"][quarter])
        if "xint" in self.geometric:
            on = drawn(p)
            tx = torch.where(on, ((rand() * 2 - 1) * self.xint_max * w).round(), 0)
            ty = torch.where(on, ((rand() * 2 - 1) * self.xint_max * h).round(), 0)
            shift = shift - linear @ torch.stack([tx, ty], dim=1).view(b, 2, 1)
        if "scale" in self.geometric:
            s = torch.where(drawn(p), torch.exp2(randn() * SCALE_STD), 1)
            linear = linear / s.view(b, 1, 1)
        # two rotations, before and after the anisotropic scaling: P(either) = p
        p_rot = 1 - torch.sqrt((1 - p).clamp(0, 1))
        for turn in ("before", "after"):
            if turn == "after" and "aniso" in self.geometric:
                s = torch.where(drawn(p), torch.exp2(randn() * ANISO_STD), 1)
                linear = linear * columns(1 / s, s)
            if "rotate" in self.geometric:
                theta = torch.where(drawn(p_rot), (rand() * 2 - 1) * math.pi * ROTATE_MAX, 0)
                linear = linear @ _turn(theta.cos(), theta.sin())
        if "xfrac" in self.geometric:
            on = drawn(p)
            tx = torch.where(on, randn() * XFRAC_STD * w, 0)
            ty = torch.where(on, randn() * XFRAC_STD * h, 0)
            shift = shift - linear @ torch.stack([tx, ty], dim=1).view(b, 2, 1)
        return torch.cat([linear, shift], dim=2)

    def colors(self, x: Tensor, p: Tensor) -> Tensor:
        """Per image, the (B, 3, 4) affine colour map [M | t] of RGB: brightness, contrast,
        luma flip, hue rotation and saturation all act about the luma axis, so their product
        is c f P + c s (cos h Q + sin h K), and the brightness moves along the axis by
        c f shift (P, Q, K: `_constants`; f = -1 for a luma flip, else 1)."""
        b, dev = x.shape[0], x.device
        rgb = x.shape[1] > 1  # hue and saturation need colour

        def drawn(prob: Tensor) -> Tensor:
            return torch.rand(b, device=dev) < prob

        one = torch.ones(b, device=dev)
        shift, along, chroma, turned = torch.zeros_like(one), one, one, torch.zeros_like(one)
        if "brightness" in self.color:
            shift = torch.where(drawn(p), torch.randn(b, device=dev) * BRIGHTNESS_STD, 0)
        if "contrast" in self.color:
            c = torch.where(drawn(p), torch.exp2(torch.randn(b, device=dev) * CONTRAST_STD), 1)
            along, chroma = along * c, chroma * c
        if "lumaflip" in self.color:  # a Householder reflection: the luma negated
            flip = torch.where(drawn(p), torch.floor(torch.rand(b, device=dev) * 2), 0)
            along = along * (1 - 2 * flip)
        if "hue" in self.color and rgb:
            theta = torch.rand(b, device=dev) * 2 - 1
            theta = torch.where(drawn(p), theta * math.pi * HUE_MAX, 0)
            chroma, turned = chroma * theta.cos(), chroma * theta.sin()
        if "saturation" in self.color and rgb:
            s = torch.exp2(torch.randn(b, device=dev) * SATURATION_STD)
            s = torch.where(drawn(p), s, 1)
            chroma, turned = chroma * s, turned * s
        basis = self.constants(dev)["color_basis"]
        linear = (torch.stack([along, chroma, turned], dim=1) @ basis).view(b, 3, 3)
        offset = (shift * along).view(b, 1, 1).expand(b, 3, 1)  # along the axis (1, 1, 1)
        return torch.cat([linear, offset], dim=2)

    def band_taps(self, x: Tensor, p: Tensor) -> Tensor:
        """Per image, the (B, 43) taps of imgfilter's filter: each of the four bands' gain is
        2^N(0, 1) with probability p (else 1), and after each the gains are rescaled so that an
        image with the expected 1/f power spectrum keeps its power, as the reference does."""
        b, dev = x.shape[0], x.device
        constants = self.constants(dev)
        bank, power = constants["filter_bank"], constants["expected_power"]
        gains = torch.ones(b, len(power), device=dev)
        for band in range(len(power)):
            t = torch.exp2(torch.randn(b, device=dev) * IMGFILTER_STD)
            t = torch.where(torch.rand(b, device=dev) < p, t, 1)
            one = torch.ones(b, len(power), device=dev)
            one[:, band] = t
            gains = gains * one / (power * one.square()).sum(dim=1, keepdim=True).sqrt()
        return gains @ bank


def band_filter(x: Tensor, taps: Tensor) -> Tensor:
    """Filter each image along x and then y by its own symmetric (B, T) taps, the image
    mirrored at the border as F.pad's reflect (folded farther for images of T / 2 pixels or
    less, where the reference's padding fails): one banded matrix per image and axis, a
    product rather than a per-image grouped convolution."""
    h, w = x.shape[-2:]
    half = taps.shape[1] // 2
    taps = taps.to(x.dtype)
    rows = _mirror(torch.arange(-half, h + half, device=x.device), h)
    cols = _mirror(torch.arange(-half, w + half, device=x.device), w)
    padded = x[:, :, rows][:, :, :, cols]
    along_x = padded @ _banded(taps, w).transpose(1, 2).unsqueeze(1)
    return _banded(taps, h).unsqueeze(1) @ along_x


def _banded(taps: Tensor, n: int) -> Tensor:
    """(B, n, n + T - 1): row i holds each image's taps at columns i .. i + T - 1 (a valid
    correlation of a padded signal): the taps and zeros repeated with period n + T, so that
    each row starts one column later than the one above."""
    b, t = taps.shape
    width = n + t - 1
    period = F.pad(taps, (0, width + 1 - t))  # (B, width + 1)
    return period.repeat(1, n)[:, : n * width].view(b, n, width)


def resample(x: Tensor, g_inv: Tensor) -> Tensor:
    """Sample x where the (B, 2, 3) affine maps g_inv send each output pixel (coordinates about
    the centre): bilinear, mirrored at the border (as F.pad's reflect).

    The sampling positions are computed in pixel units about the centre, where the identity
    and whole-pixel moves are exact, and converted once to grid_sample's [-1, 1] units."""
    b, _, h, w = x.shape
    dev = x.device
    ys = torch.arange(h, device=dev, dtype=torch.float32) - (h - 1) / 2
    xs = torch.arange(w, device=dev, dtype=torch.float32) - (w - 1) / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    centred = torch.stack([gx, gy, torch.ones_like(gx)]).view(3, h * w)
    source = g_inv @ centred  # (B, 2, H*W): input coordinates about the centre
    ix = _mirror(source[:, 0] + (w - 1) / 2, w)
    iy = _mirror(source[:, 1] + (h - 1) / 2, h)
    grid = torch.stack([(2 * ix + 1) / w - 1, (2 * iy + 1) / h - 1], dim=-1).view(b, h, w, 2)
    return F.grid_sample(
        x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=False
    )


class Supersampling(NamedTuple):
    """`resample2x`'s fixed tensors for one image size: the linear maps along each axis,
    reflection padding and upsampling (`up_h`, `up_w`), filtering and decimation (`down_h`,
    `down_w`); the output pixels at twice the resolution as (x, y, 1) about the centre
    (`centred`, 3 x N); and the margin k of final pixels around the image they cover."""

    up_h: Tensor
    up_w: Tensor
    down_h: Tensor
    down_w: Tensor
    centred: Tensor
    k: int


def supersampling(f: Tensor, h: int, w: int) -> Supersampling:
    """The maps for (h, w) images and the filter f (`SYM6` normalised to sum 1), on f's
    device: banded matrices, since a matrix product is faster than a 12-tap depthwise
    convolution on CPUs (4 to 7 times at 32 to 256 px) and costs little on GPUs."""
    k, dev = f.numel() // 4, f.device  # 3: input pixels each upsampled one reads either side
    ys = torch.arange(2 * (h + 2 * k), device=dev, dtype=torch.float32) / 2 - k - (h - 1) / 2
    xs = torch.arange(2 * (w + 2 * k), device=dev, dtype=torch.float32) / 2 - k - (w - 1) / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    centred = torch.stack([gx, gy, torch.ones_like(gx)]).view(3, -1)
    return Supersampling(_up_matrix(f, h), _up_matrix(f, w), _down_matrix(f, h),
                         _down_matrix(f, w), centred, k)  # fmt: skip


def _up_matrix(f: Tensor, n: int) -> Tensor:
    """(2(n + 2p), n): reflection padding by p = 3k (k = taps / 4), then upfirdn2d's
    upsample2d, y[j] = sum_i x[i] 2 f[taps / 2 - 1 + j - 2i]."""
    taps, dev = f.numel(), f.device
    pad = 3 * (taps // 4)
    src = (torch.arange(n + 2 * pad, device=dev) - pad).abs()
    src = torch.where(src > n - 1, 2 * (n - 1) - src, src)  # reflected (pad < n)
    reflect = (src[:, None] == torch.arange(n, device=dev)).to(f.dtype)  # one_hot would sync
    t = taps // 2 - 1 + torch.arange(2 * (n + 2 * pad), device=dev)[:, None]
    t = t - 2 * torch.arange(n + 2 * pad, device=dev)
    up = torch.where((t >= 0) & (t < taps), 2 * f[t.clamp(0, taps - 1)], 0)
    return up @ reflect


def _down_matrix(f: Tensor, n: int) -> Tensor:
    """(n, 2(n + 2k)): upfirdn2d's downsample2d at the reference's padding (-2k: one sample
    cropped on each side), the filter unflipped: z[i] = sum_t v[2i + 1 + t] f[t]."""
    taps, dev = f.numel(), f.device
    t = torch.arange(2 * (n + taps // 2), device=dev) - 1 - 2 * torch.arange(n, device=dev)[:, None]
    return torch.where((t >= 0) & (t < taps), f[t.clamp(0, taps - 1)], 0)


def resample2x(x: Tensor, g_inv: Tensor, maps: Supersampling) -> Tensor:
    """`resample` as StyleGAN2-ADA's geometric step: x reflection-padded and upsampled twice
    through sym6 (`supersampling`'s maps), sampled bilinearly at twice the resolution, then
    filtered through sym6 and decimated back, so detail finer than the output's pixels is
    filtered out rather than aliased.

    The reference's grid conventions (upfirdn2d's filter alignment): upsampled pixel j sits at
    input pixel j / 2, and output pixel o at twice the resolution at final pixel o / 2 - k,
    with a margin of k = 3 final pixels on each side for the downsampling filter. Positions up
    to 2k pixels outside the image read the reflection-padded image as the reference does (so
    the identity and whole-pixel moves give x back, sym6 being orthonormal); farther ones are
    mirrored into the image. Needs images wider than 3k = 9 pixels (`AdaPipeline` checks)."""
    b, _, h, w = x.shape
    k = maps.k
    up = maps.up_h.to(x.dtype) @ x @ maps.up_w.to(x.dtype).T
    source = g_inv @ maps.centred  # (B, 2, N): input coordinates about the centre
    jx = 2 * (_near_or_mirrored(source[:, 0] + (w - 1) / 2, w, 2 * k) + 3 * k)  # index in `up`
    jy = 2 * (_near_or_mirrored(source[:, 1] + (h - 1) / 2, h, 2 * k) + 3 * k)
    wu, hu = up.shape[-1], up.shape[-2]
    grid = torch.stack([(2 * jx + 1) / wu - 1, (2 * jy + 1) / hu - 1], dim=-1)
    grid = grid.view(b, maps.down_h.shape[1], maps.down_w.shape[1], 2).to(x.dtype)
    sampled = F.grid_sample(up, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return maps.down_h.to(x.dtype) @ sampled @ maps.down_w.to(x.dtype).T


def _near_or_mirrored(index: Tensor, n: int, margin: int) -> Tensor:
    """Pixel-index coordinates as they are within `margin` pixels of 0 .. n - 1, else folded
    back inside it (`_mirror`)."""
    near = (index >= -margin) & (index <= n - 1 + margin)
    return torch.where(near, index, _mirror(index, n))


def _mirror(index: Tensor, n: int) -> Tensor:
    """Pixel-index coordinates folded back inside 0 .. n - 1, without repeating the edge
    pixel (-1 -> 1, n -> n - 2)."""
    if n == 1:
        return torch.zeros_like(index)
    period = 2 * (n - 1)
    index = index.remainder(period)
    return torch.where(index > n - 1, period - index, index)


def recolor(x: Tensor, m: Tensor) -> Tensor:
    """Apply (B, 3, 4) affine colour maps [M | t]: to each RGB triple of channels when the channel
    count is a multiple of 3 (an image, or a translation pair stacked on channels), else to
    each channel as grey (the reference's rule for one channel)."""
    b, c, h, w = x.shape
    m = m.to(x.dtype)
    if c % 3 == 0:
        rgb = x.reshape(b, c // 3, 3, h * w)
        out = m[:, None, :, :3] @ rgb + m[:, None, :, 3:]
        return out.reshape(b, c, h, w)
    grey = m.mean(dim=1)  # (B, 4): the mean output channel of a grey input
    gain = grey[:, :3].sum(dim=1).view(b, 1, 1, 1)
    return x * gain + grey[:, 3].view(b, 1, 1, 1)
