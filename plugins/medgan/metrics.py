"""medgan's metrics, built on MONAI's implementations where MONAI has one.

* `med_fidelity` (lesion, translate): PSNR and SSIM of G(condition) against the ground truth
  on held-out pairs (MONAI PSNRMetric, SSIMMetric; images in [-1, 1], data range 2). Images
  reproduced exactly (a lesion-free phantom, which the inpainting G leaves as it is) have an
  infinite PSNR and are left out of its mean.
* `med_texture` (lesion, translate): high-frequency energy (mean squared Laplacian) of the
  outputs over that of the real images: 1 matches real texture, below 1 is too smooth, above
  1 noisier than real. For lesions it is measured inside the masks (the lesions themselves).
* `med_dice` (lesion): Dice (MONAI compute_dice) between the input mask and the lesion
  segmented from the output: within a margin around the mask, voxels past the midpoint between
  real lesion and surrounding-tissue intensity. `dice_real` is the same rule on the real
  images, the ceiling a perfect generator reaches.
* `med_diversity` (generate): MONAI's MMD (linear kernel on intensities) between generated and
  real images, and MS-SSIM between random pairs of generated images (lower: more diverse),
  next to the same MS-SSIM on real pairs.
* `fd_rotnet` (every task): Fréchet distance (MONAI FIDMetric) between features of real and
  generated images from a small CNN trained here, on the training images, to predict which of
  four rotations was applied (self-supervised, nothing downloaded). It is not comparable to
  Inception FID numbers, hence the name.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from ganhub_medgan.nets import dilate
from torch import Tensor, nn

from ganhub.metrics import Metric


class MedMetric(Metric):
    """A metric for medgan systems of the listed tasks."""

    tasks: ClassVar[tuple[str, ...]] = ("generate", "lesion", "translate")

    def supports(self, system: Any) -> bool:
        """Only medgan systems of a task this metric applies to."""
        return getattr(system, "task", None) in self.tasks and hasattr(system, "eval_set")


def _paired(system: Any, n_samples: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """(fake, real, mask) on up to n_samples held-out pairs, on the CPU."""
    n = min(n_samples, len(system.eval_set.images))
    batch = system.eval_batch(n)
    fake = system.translate_batched(batch.conditions)
    return fake, batch.images, batch.masks


class Fidelity(MedMetric):
    """PSNR (dB) and SSIM of outputs against ground truth on held-out pairs (MONAI)."""

    name = "med_fidelity"
    tasks = ("lesion", "translate")

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """psnr, ssim."""
        from monai.metrics import PSNRMetric, SSIMMetric

        fake, real, _ = _paired(system, n_samples)
        psnr = PSNRMetric(max_val=2.0)(fake, real)
        psnr = psnr[torch.isfinite(psnr)].mean()  # an image G left unchanged (no lesion) is exact
        ssim = SSIMMetric(spatial_dims=system.spatial_dims, data_range=2.0)(fake, real).mean()
        return {"psnr": float(psnr), "ssim": float(ssim)}


def laplacian(x: Tensor) -> Tensor:
    """Discrete Laplacian of (N, 1, *spatial) images (valid region only)."""
    dims = x.ndim - 2
    k = torch.zeros((3,) * dims, dtype=x.dtype)
    centre = (1,) * dims
    k[centre] = -2.0 * dims
    for axis in range(dims):
        for off in (0, 2):
            idx = list(centre)
            idx[axis] = off
            k[tuple(idx)] = 1.0
    conv = F.conv2d if dims == 2 else F.conv3d
    return conv(x, k.view(1, 1, *k.shape))


def high_frequency_energy(x: Tensor, region: Tensor | None = None) -> Tensor:
    """Mean squared Laplacian per image (within `region` when given): fine texture and noise."""
    energy = laplacian(x.float().cpu()).square()
    if region is None:
        return energy.flatten(1).mean(1)
    inner = region.float().cpu()[(..., *([slice(1, -1)] * (x.ndim - 2)))]  # the valid region
    return (energy * inner).flatten(1).sum(1) / inner.flatten(1).sum(1).clamp_min(1)


class Texture(MedMetric):
    """High-frequency energy of outputs relative to real images (1: real-like texture)."""

    name = "med_texture"
    tasks = ("lesion", "translate")

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """texture_ratio (lesion: inside the masks, so the seam of the painted region is left out)."""
        fake, real, masks = _paired(system, n_samples)
        region = masks if system.task == "lesion" and masks is not None else None
        hf_fake, hf_real = high_frequency_energy(fake, region), high_frequency_energy(real, region)
        ratio = hf_fake.mean() / hf_real.mean().clamp_min(1e-12)
        return {"texture_ratio": float(ratio)}


def segment_lesions(images: Tensor, masks: Tensor, reference: Tensor) -> Tensor:
    """Lesion segmentation by intensity near the masks, with a threshold learned on `reference`.

    The threshold is the midpoint between mean intensity inside the masks and in a two-voxel
    ring around them on the real images; the side (brighter or darker) follows the real lesions.
    Only voxels within a margin of the mask count, so unrelated bright tissue (CSF) is ignored.
    """
    ring = dilate(masks, 2) - masks
    inside = (reference * masks).sum() / masks.sum().clamp_min(1)
    around = (reference * ring).sum() / ring.sum().clamp_min(1)
    threshold = (inside + around) / 2
    margin = max(2, images.shape[-1] // 16)
    roi = dilate(masks, margin)
    hit = images > threshold if inside >= around else images < threshold
    return (hit & (roi > 0)).float()


class LesionDice(MedMetric):
    """Dice of the lesion segmented from the outputs vs the input masks (MONAI compute_dice)."""

    name = "med_dice"
    tasks = ("lesion",)

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """dice (generated), dice_real (the same rule on real images: the ceiling)."""
        from monai.metrics import compute_dice

        fake, real, masks = _paired(system, n_samples)
        assert masks is not None
        out = {}
        for key, images in (("dice", fake), ("dice_real", real)):
            seg = segment_lesions(images, masks, real)
            out[key] = float(torch.nanmean(compute_dice(seg, masks, include_background=True)))
        return out


def ms_ssim_metric(spatial_dims: int, size: int) -> Any:
    """MONAI MultiScaleSSIMMetric with as many scales (<= 5) as the image size allows."""
    from monai.metrics import MultiScaleSSIMMetric

    kernel, scales = 7, 1
    while scales < 5 and size // 2**scales > kernel - 1:
        scales += 1
    weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)[:scales]
    total = sum(weights)
    return MultiScaleSSIMMetric(spatial_dims=spatial_dims, data_range=2.0, kernel_size=kernel,
                                weights=[w / total for w in weights])  # fmt: skip


class Diversity(MedMetric):
    """MMD to real images, and MS-SSIM between generated pairs vs real pairs (MONAI)."""

    name = "med_diversity"
    tasks = ("generate",)

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """mmd, ms_ssim (generated pairs), ms_ssim_real (real pairs)."""
        from monai.metrics import MMDMetric

        n = max(2, min(n_samples, len(system.eval_set.images)))
        fake = system.sample(n, seed=seed).cpu()
        real = system.real_images(n).cpu()
        msssim = ms_ssim_metric(system.spatial_dims, real.shape[-1])
        perm = torch.roll(torch.arange(n), 1)  # pairs (i, i-1): every sample once, no self-pairs
        return {
            "mmd": float(MMDMetric()(real, fake)),
            "ms_ssim": float(msssim(fake, fake[perm]).mean()),
            "ms_ssim_real": float(msssim(real, real[perm]).mean()),
        }


class RotNet(nn.Module):
    """A small CNN that predicts the rotation (0/90/180/270 degrees in-plane) of an image."""

    def __init__(self, spatial_dims: int, width: int = 16, features: int = 32) -> None:
        super().__init__()
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.body = nn.Sequential(
            conv(1, width, 3, 2, 1), nn.LeakyReLU(0.2),
            conv(width, width * 2, 3, 2, 1), nn.LeakyReLU(0.2),
            conv(width * 2, features, 3, 2, 1), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.head = nn.Linear(features, 4)

    def features(self, x: Tensor) -> Tensor:
        """Globally pooled features (N, features) of images shrunk to <= 32 px (2D) / 16 (3D)."""
        return self.body(shrink(x)).flatten(2).mean(2)

    def forward(self, x: Tensor) -> Tensor:
        """Rotation logits (N, 4)."""
        return self.head(self.features(x))


def shrink(x: Tensor) -> Tensor:
    """Average-pool (N, C, *spatial) by powers of two to <= 32 px (2D) or 16 voxels (3D) a side:
    the feature network sees shape and contrast at a cost a CPU can afford at every evaluation."""
    limit = 32 if x.ndim == 4 else 16
    pool = F.avg_pool2d if x.ndim == 4 else F.avg_pool3d
    while x.shape[-1] > limit and x.shape[-1] % 2 == 0:
        x = pool(x, 2)
    return x


def rotations(x: Tensor) -> tuple[Tensor, Tensor]:
    """The batch in all four in-plane (axial) rotations, and the rotation labels."""
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4).repeat_interleave(len(x))
    return rotated, labels


_ROTNETS: dict[tuple[Any, ...], RotNet] = {}


def rotnet_for(
    images: Tensor, spatial_dims: int, device: torch.device, steps: int = 120, seed: int = 0
) -> RotNet:
    """The feature network for a training set, trained once per process (fixed seed) and cached."""
    key = (
        tuple(images.shape),
        float(images[: min(8, len(images))].double().sum()),
        spatial_dims,
        steps,
        seed,
    )
    if key in _ROTNETS:
        return _ROTNETS[key]
    with torch.random.fork_rng(devices=[]), torch.enable_grad():  # leave the run's RNG alone
        torch.manual_seed(seed)
        net = RotNet(spatial_dims).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        gen = torch.Generator().manual_seed(seed)
        batch = min(16, len(images))
        for _ in range(steps):
            idx = torch.randint(0, len(images), (batch,), generator=gen)
            x, y = rotations(shrink(images[idx].to(device)))
            loss = F.cross_entropy(net(x), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval().requires_grad_(False)
    _ROTNETS[key] = net
    return net


def _features(net: RotNet, x: Tensor, device: torch.device) -> Tensor:
    with torch.no_grad():
        return torch.cat([net.features(c.to(device)).cpu() for c in x.split(64)]).double()


class RotNetFD(MedMetric):
    """Fréchet distance of rotation-net features, real vs generated.

    Computed with ganhub's Frechet formula (checked against torch-fidelity) rather than MONAI's
    FIDMetric, which passes `disp=` to scipy.linalg.sqrtm and fails on SciPy versions that
    removed it (seen on the GPU machine's SciPy).
    """

    name = "fd_rotnet"

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """fd_rotnet: 0 for identical feature statistics; compare runs on the same data only."""
        from ganhub.metrics.formulas import frechet_distance, gaussian_stats

        n = max(2, min(n_samples, len(system.eval_set.images)))
        if system.task == "generate":
            fake, real = system.sample(n, seed=seed).cpu(), system.real_images(n).cpu()
        else:
            fake, real, _ = _paired(system, n)
        device = system.device
        net = rotnet_for(system.train_images(), system.spatial_dims, device)
        fake_stats = gaussian_stats(_features(net, fake, device))
        value = frechet_distance(fake_stats, gaussian_stats(_features(net, real, device)))
        return {"fd_rotnet": value if math.isfinite(value) else float("nan")}


MED_METRICS: tuple[MedMetric, ...] = (Fidelity(), Texture(), LesionDice(), Diversity(), RotNetFD())
