"""The embedded default data: brain-like MR phantoms built around MONAI's synthetic test images.

Each phantom is an axial head slice (2D) or a head volume (3D) with scalp, skull, CSF, a folded
grey-matter cortex, white matter and two lateral ventricles. White-matter lesions are the
circles (spheres) of `monai.data.synthetic.create_test_image_2d/3d`, kept where they fall in
white matter; their segmentation masks are the lesion masks. The same label map is rendered
in three contrasts: T1-like (lesions and CSF dark), T2-like (lesions and CSF bright) and
FLAIR-like (CSF suppressed, lesions bright, as MS lesions are read). `translate` gets aligned
T1 -> T2 pairs; `lesion` and `generate` default to FLAIR.

Tissue texture (smooth multiplicative noise) is shared by both contrasts; acquisition noise
(Rician: the magnitude of complex Gaussian noise, as in MR) is drawn per contrast, so it cannot
be predicted from the other contrast or from the mask: an L1-only model blurs it away, while a
GAN has to reproduce it. That gap is what the benchmark measures.

Arrays are indexed (x, y[, z]) in RAS orientation with 1 mm isotropic voxels, like a NIfTI
volume after `Orientation("RAS")`; everything is generated once, batched, on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# Tissue labels of the phantom label map.
BACKGROUND, SCALP, SKULL, CSF, GREY, WHITE, LESION = range(7)

# Intensity of each tissue in [0, 1] per contrast (index = label above).
CONTRASTS: dict[str, tuple[float, ...]] = {
    "t1": (0.0, 0.90, 0.08, 0.12, 0.55, 0.80, 0.35),
    "t2": (0.0, 0.55, 0.06, 0.95, 0.62, 0.42, 0.88),
    "flair": (0.0, 0.60, 0.06, 0.10, 0.62, 0.45, 0.92),
}


@dataclass
class Phantoms:
    """A batch of phantoms: images per contrast in [-1, 1], lesion masks {0, 1}, affines."""

    images: dict[str, Tensor]  # contrast -> (N, 1, *spatial)
    lesions: Tensor  # (N, 1, *spatial) float {0, 1}
    labels: Tensor  # (N, 1, *spatial) int64 tissue labels
    affine: np.ndarray  # (4, 4) voxel -> RAS mm, shared by every phantom


def phantom_affine(size: int, spatial_dims: int) -> np.ndarray:
    """1 mm isotropic RAS affine with the world origin at the centre of the grid."""
    affine = np.eye(4)
    affine[:spatial_dims, 3] = -(size - 1) / 2.0
    return affine


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, *spatial) over every spatial axis (zero padding)."""
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    dims = x.ndim - 2
    conv = F.conv2d if dims == 2 else F.conv3d
    c = x.shape[1]
    for axis in range(dims):
        shape = [1] * dims
        shape[axis] = kernel.numel()
        weight = kernel.view(1, 1, *shape).repeat(c, 1, *([1] * dims))
        padding = [0] * dims
        padding[axis] = radius
        x = conv(x, weight, padding=tuple(padding), groups=c)
    return x


def _rand(gen: torch.Generator, n: int, low: float, high: float, dims: int) -> Tensor:
    """n uniform draws in [low, high), shaped to broadcast over (n, *spatial)."""
    return (torch.rand(n, generator=gen) * (high - low) + low).view(n, *([1] * dims))


def anatomy(n: int, size: int, spatial_dims: int, gen: torch.Generator) -> Tensor:
    """(n, *spatial) tissue labels of n random heads (no lesions yet)."""
    d = spatial_dims
    axis = torch.linspace(-1.0, 1.0, size)
    grids = torch.meshgrid(*([axis] * d), indexing="ij")  # x (L->R), y (P->A), z (I->S)
    x, y = grids[0].unsqueeze(0), grids[1].unsqueeze(0)
    theta = _rand(gen, n, -0.2, 0.2, d)
    xs = x - _rand(gen, n, -0.05, 0.05, d)
    ys = y - _rand(gen, n, -0.05, 0.05, d)
    xr = xs * torch.cos(theta) + ys * torch.sin(theta)
    yr = -xs * torch.sin(theta) + ys * torch.cos(theta)
    r2 = (xr / _rand(gen, n, 0.68, 0.78, d)) ** 2 + (yr / _rand(gen, n, 0.82, 0.92, d)) ** 2
    zr = torch.zeros_like(xr)
    if d == 3:
        zr = grids[2].unsqueeze(0) - _rand(gen, n, -0.05, 0.05, d)
        r2 = r2 + (zr / _rand(gen, n, 0.72, 0.82, d)) ** 2
    r = r2.sqrt()
    phi = torch.atan2(yr, xr)
    # cortical folding: the grey/white and CSF boundaries wiggle with angle (and height in 3D)
    k = torch.randint(9, 14, (n,), generator=gen).float().view(n, *([1] * d))
    phase = _rand(gen, n, 0.0, 2 * math.pi, d)
    gyri = torch.sin(k * phi + phase + 3.0 * zr)
    labels = torch.full(r.shape, BACKGROUND, dtype=torch.int64)
    labels[r <= 1.0] = SCALP
    labels[r <= 0.93] = SKULL
    labels[r <= 0.87] = CSF
    labels[r <= 0.835 + 0.02 * gyri] = GREY
    labels[r <= 0.70 + 0.05 * gyri] = WHITE
    # two lateral ventricles: small ellipses either side of the midline, a little anterior
    for side in (-1.0, 1.0):
        vx = (xr - side * 0.13) / 0.07
        vy = (yr - 0.04) / _rand(gen, n, 0.18, 0.26, d)
        v2 = vx**2 + vy**2 + ((zr - 0.1) / 0.3) ** 2 if d == 3 else vx**2 + vy**2
        labels[v2 <= 1.0] = CSF
    return labels


def lesion_masks(white: Tensor, spatial_dims: int, seed: int) -> Tensor:
    """(n, *spatial) {0, 1} lesions: MONAI's synthetic circles/spheres that fall in white matter.

    A lesion-free draw is redrawn (up to 4 times) so nearly every phantom has a lesion.
    """
    from monai.data.synthetic import create_test_image_2d, create_test_image_3d

    n, size = white.shape[0], white.shape[1]
    rad_max = max(2, size // 9)
    rad_min = max(1, size // 28)
    rs = np.random.RandomState(seed)
    out = torch.zeros(white.shape)
    for i in range(n):
        for _ in range(4):
            if spatial_dims == 2:
                _, seg = create_test_image_2d(size, size, num_objs=6, rad_max=rad_max,
                                              rad_min=rad_min, num_seg_classes=1,
                                              random_state=rs)  # fmt: skip
            else:
                _, seg = create_test_image_3d(size, size, size, num_objs=6, rad_max=rad_max,
                                              rad_min=rad_min, num_seg_classes=1,
                                              random_state=rs)  # fmt: skip
            mask = torch.from_numpy(seg > 0) & white[i]
            if mask.any():
                out[i] = mask.float()
                break
    return out


def render(
    labels: Tensor,
    contrast: str,
    gen: torch.Generator,
    texture: Tensor,
    noise: float,
    gain: Tensor | None = None,
) -> Tensor:
    """(n, 1, *spatial) images in [-1, 1] of a label map in one contrast, with Rician noise;
    `gain` (n, 1, ...) scales the lesions' intensity (default: drawn, +-15%)."""
    table = torch.tensor(CONTRASTS[contrast])
    n, d = labels.shape[0], labels.ndim - 2
    base = table[labels]
    # lesions vary in intensity (as in MONAI's test images): +-15% of the lesion contrast
    lesion = labels == LESION
    gain = _rand(gen, n, 0.85, 1.15, d + 1) if gain is None else gain
    base = torch.where(lesion, base * gain, base)
    base = gaussian_blur(base, 0.6)  # partial-volume edges instead of staircases
    head = (labels != BACKGROUND).float()
    image = base * (1.0 + 0.08 * texture * head)
    if noise > 0:
        real = image + noise * torch.randn(image.shape, generator=gen)
        imag = noise * torch.randn(image.shape, generator=gen)
        image = torch.sqrt(real**2 + imag**2)
    return (image.clamp(0.0, 1.0) * 2.0 - 1.0).float()


def make_phantoms(
    n: int,
    size: int,
    spatial_dims: int = 2,
    *,
    seed: int = 0,
    noise: float = 0.03,
    contrasts: tuple[str, ...] = ("t1", "t2", "flair"),
    lesions: bool = True,
) -> Phantoms:
    """n phantoms of side `size` in the requested contrasts (deterministic for a seed).

    `lesions=False` gives healthy heads (empty masks): bases for placing a new lesion.
    """
    gen = torch.Generator().manual_seed(seed)
    labels = anatomy(n, size, spatial_dims, gen)
    white = labels == WHITE
    masks = lesion_masks(white, spatial_dims, seed) if lesions else torch.zeros(white.shape)
    labels = torch.where(masks > 0, torch.full_like(labels, LESION), labels).unsqueeze(1)
    texture = tissue_texture(labels.shape, gen)
    images = {c: render(labels, c, gen, texture, noise) for c in contrasts}
    return Phantoms(images, masks.unsqueeze(1), labels, phantom_affine(size, spatial_dims))


def tissue_texture(shape: torch.Size, gen: torch.Generator) -> Tensor:
    """Smooth multiplicative tissue texture of unit standard deviation per phantom."""
    texture = gaussian_blur(torch.randn(shape, generator=gen), 1.0)
    scale = texture.flatten(1).std(1).view(shape[0], *([1] * (len(shape) - 1)))
    return texture / scale.clamp_min(1e-6)


def grow_lesions(masks: Tensor, room: Tensor, voxels: int) -> Tensor:
    """Every lesion of `masks` (N, 1, *spatial) {0, 1} grown by `voxels` (a disc, in 3D a
    ball) into `room` (where a lesion can spread: white matter); the lesions themselves stay."""
    if voxels <= 0:
        return masks.clone()
    dims = masks.ndim - 2
    offsets = torch.arange(-voxels, voxels + 1, dtype=masks.dtype)
    grids = torch.meshgrid(*([offsets] * dims), indexing="ij")
    ball = (torch.stack(grids).square().sum(0) <= voxels**2).to(masks.dtype)
    conv = F.conv2d if dims == 2 else F.conv3d
    reach = conv(masks, ball[None, None], padding=voxels) > 0.5
    return torch.maximum(masks, (reach & room).to(masks.dtype))


@dataclass
class Progression:
    """Baseline and follow-up scans of the same heads, registered: the follow-up's lesions are
    the baseline's grown into the surrounding white matter."""

    baseline: Tensor  # (N, 1, *spatial) in [-1, 1]
    followup: Tensor  # (N, 1, *spatial) in [-1, 1]
    lesions: Tensor  # (N, 1, *spatial) {0, 1}: the baseline's lesions
    grown: Tensor  # (N, 1, *spatial) {0, 1}: the follow-up's lesions
    affine: np.ndarray  # (4, 4) voxel -> RAS mm


def make_progression(
    n: int,
    size: int,
    spatial_dims: int = 2,
    *,
    seed: int = 0,
    noise: float = 0.03,
    contrast: str = "flair",
    growth: int = 2,
) -> Progression:
    """n baseline / follow-up pairs of side `size` (deterministic for a seed).

    Both scans share the anatomy, the tissue texture and each lesion's intensity; between them
    every lesion grows by `growth` voxels into the white matter around it (not into CSF or
    cortex), and each scan has its own acquisition noise. Predicting the follow-up takes
    seeing where the lesions are and which tissue surrounds them.
    """
    gen = torch.Generator().manual_seed(seed)
    labels = anatomy(n, size, spatial_dims, gen).unsqueeze(1)
    white = labels == WHITE
    lesions = lesion_masks(white[:, 0], spatial_dims, seed).unsqueeze(1)
    grown = grow_lesions(lesions, white, growth)
    texture = tissue_texture(labels.shape, gen)
    gain = _rand(gen, n, 0.85, 1.15, spatial_dims + 1)
    scans = [
        render(torch.where(m > 0, LESION, labels), contrast, gen, texture, noise, gain)
        for m in (lesions, grown)
    ]
    return Progression(scans[0], scans[1], lesions, grown, phantom_affine(size, spatial_dims))
