"""medgan's metrics, built on MONAI's implementations where MONAI has one.

Each decides from the system's declared capabilities (`supports(caps)`): the task, and the
interfaces medgan's systems provide (`held_out`, `paired_eval`: see `ganhub_medgan.system`).

* `med_fidelity` (lesion, translate, progress): PSNR and SSIM of G(condition) against the
  ground truth on held-out pairs (MONAI PSNRMetric on images in [-1, 1], data range 2; MONAI
  SSIMMetric on the images shifted to [0, 1], data range 1, since SSIM's luminance term is
  defined on non-negative intensities and changes when they are shifted). Images reproduced
  exactly (a lesion-free phantom, which the inpainting G leaves as it is) have an infinite PSNR
  and an SSIM of 1 that say nothing of G: both means leave them out (NaN when every one is).

For lesions, held-out samples whose masks are all empty (a folder whose first `data.n_eval`
images, in 2D slices, miss the lesions) leave every lesion score undefined: `med_fidelity`,
`med_texture` and `med_dice` then give NaN, each with one warning line saying why.
* `med_texture` (lesion, translate, progress): high-frequency energy (mean squared Laplacian)
  of the outputs over that of the real images: 1 matches real texture, below 1 is too smooth, above
  1 noisier than real. For lesions `texture_ratio` is measured in the lesion interiors (mask
  voxels whose Laplacian stencil lies inside the mask, so it sees no lesion edge) and
  `edge_ratio` on the masks' outer voxels (the lesion edges: above 1 sharper or noisier than
  real, below 1 softer). Over a whole mask the edges dominate (most of the real lesions'
  energy on the phantoms), so one number there would measure edge sharpness, not texture.
* `med_dice` (lesion): Dice (MONAI compute_dice) between the input mask and the lesion
  segmented from the output: within a margin around the mask, voxels past the midpoint between
  real lesion and surrounding-tissue intensity. `dice_real` is the same rule on the real
  images: what a perfect generator scores, not a bound (an output smoother than the real
  images segments more cleanly and can score above it: Dice does not rank realism).
* `med_growth` (progress, on data with the lesion masks of both scans: the phantoms, or
  folders given data.baseline_mask_dir and data.followup_mask_dir): the lesions
  segmented from the predicted follow-up by `med_dice`'s rule, against the true follow-up
  lesions: `dice`, `volume_error` (the sum over scans of |predicted - true lesion volume| over
  the total true volume, so a one-voxel lesion does not outweigh a large one) and
  `new_recall` (the share of the voxels the lesions grew into that the prediction segments as
  lesion; NaN, with a note on stderr, when no lesion grew). The same scores of the baseline
  scan itself (`*_unchanged`: predicting no change) and of the real follow-up (`*_real`: the
  segmentation rule's own error, a perfect generator's) sit beside them.
* `med_diversity` (generate): the unbiased MMD^2 with a Gaussian kernel (median-heuristic
  bandwidth, `ganhub_medgan.mmd`) between generated and held-out real images (their
  intensities), and MONAI's MS-SSIM (on images shifted to [0, 1], as SSIM) between pairs of
  generated images (lower: more diverse), next to the same MS-SSIM on real pairs. Below
  112 px it has fewer than 5 scales, their weights rescaled (`ms_ssim_scales`; docs/medgan.md).
* `fd_rotnet` (every task, 2D and 3D): the Fréchet distance on ganhub's `rotnet` features (a
  rotation-prediction CNN trained once, and cached, on the run's training images; 3D
  convolutions for volumes). It is the core `fid` metric on those features, for what the core
  image metric does not take: volumes, and translators, whose outputs for held-out conditions
  are compared with their ground truth. For systems that sample from noise it computes what
  the core `fid` computes (2D `generate` runs report it through `fid`). Not comparable to
  Inception FID numbers, hence the name.

torch and MONAI are imported inside functions: registering these metrics loads neither.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ganhub.closed_output import say
from ganhub.errors import UsageError
from ganhub.metrics import ROTNET_MIN_IMAGES, Directions, Metric, warn_once

if TYPE_CHECKING:
    from ganhub_medgan.config import MedGANConfig
    from ganhub_medgan.system import MedGenerateGAN
    from torch import Tensor

    from ganhub.capabilities import Capabilities
    from ganhub.engine.system import GANSystem

# The names of the interfaces medgan's systems provide (documented in ganhub_medgan.system).
HELD_OUT, PAIRED_EVAL = "held_out", "paired_eval"
MEDGAN_TASKS = ("generate", "lesion", "translate", "progress")


class MedMetric(Metric):
    """A metric for systems of the listed tasks that provide the listed interfaces."""

    tasks: ClassVar[tuple[str, ...]] = MEDGAN_TASKS
    needs: ClassVar[tuple[str, ...]] = (HELD_OUT,)

    def supports(self, caps: Capabilities) -> bool:
        """Images or volumes of a task this metric applies to, with the interfaces it uses."""
        return (
            caps.modality in ("image", "volume")
            and caps.task in self.tasks
            and all(caps.can(name) for name in self.needs)
        )


def _paired(system: Any, n_samples: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """(fake, real, mask) on up to n_samples held-out pairs, on the CPU (`paired_eval`); the
    metrics report how many they scored as `n_samples` (the held-out split may be smaller)."""
    batch = system.eval_batch(n_samples)
    fake = system.translate_batched(batch.conditions)
    return fake, batch.images, batch.masks


class Fidelity(MedMetric):
    """PSNR (dB) and SSIM of outputs against ground truth on held-out pairs (MONAI)."""

    name = "med_fidelity"
    better: ClassVar[Directions] = {"psnr": "higher", "ssim": "higher"}
    tasks = ("lesion", "translate", "progress")
    needs = (HELD_OUT, PAIRED_EVAL)

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """psnr, ssim."""
        import torch
        from monai.metrics import PSNRMetric, SSIMMetric

        fake, real, masks = _paired(system, n_samples)
        nan = {"psnr": math.nan, "ssim": math.nan, "n_samples": float(len(fake))}
        if no_lesion(self.name, masks, "psnr and ssim (of the simulated lesions) are undefined"):
            return nan
        psnr = torch.as_tensor(PSNRMetric(max_val=2.0)(fake, real)).flatten()
        ssim_metric = SSIMMetric(spatial_dims=real.ndim - 2, data_range=1.0)
        ssim = torch.as_tensor(ssim_metric(unit(fake), unit(real))).flatten()
        # an image G left unchanged (a lesion-free one, which the inpainting G keeps) is exact:
        # an infinite PSNR and an SSIM of 1 that say nothing of G; both means leave it out
        scored = torch.isfinite(psnr)
        if not bool(scored.any()):
            return nan
        return {"psnr": float(psnr[scored].mean()), "ssim": float(ssim[scored].mean()),
                "n_samples": float(len(fake))}  # fmt: skip


def no_lesion(metric: str, masks: Tensor | None, undefined: str) -> bool:
    """Whether held-out lesion `masks` are all empty; if so, warn once (`warn_once`) that
    `undefined` (the keys that score lesions) for that reason, and the caller gives NaN."""
    if masks is None or bool(masks.any()):
        return False
    warn_once(
        f"metric '{metric}': the {len(masks)} held-out samples hold no lesion (their masks are "
        f"empty), so {undefined}: NaN; score samples with lesions (folder data scores its "
        "first data.n_eval images, in 2D slices: raise data.n_eval)"
    )
    return True


def unit(x: Tensor) -> Tensor:
    """Images in [-1, 1] shifted to [0, 1], where SSIM and MS-SSIM are defined (data range 1)."""
    return (x.float() + 1) / 2


def laplacian_kernel(dims: int, dtype: Any = None) -> Tensor:
    """The (3,) * dims discrete Laplacian: -2 * dims at the centre, 1 on each face neighbour."""
    import torch

    k = torch.zeros((3,) * dims, dtype=dtype)
    centre = (1,) * dims
    k[centre] = -2.0 * dims
    for axis in range(dims):
        for off in (0, 2):
            idx = list(centre)
            idx[axis] = off
            k[tuple(idx)] = 1.0
    return k


def laplacian(x: Tensor) -> Tensor:
    """Discrete Laplacian of (N, 1, *spatial) images (valid region only)."""
    import torch.nn.functional as F

    dims = x.ndim - 2
    k = laplacian_kernel(dims, x.dtype)
    conv = F.conv2d if dims == 2 else F.conv3d
    return conv(x, k.view(1, 1, *k.shape))


def high_frequency_energy(x: Tensor, region: Tensor | None = None) -> Tensor:
    """Mean squared Laplacian per image (within `region` when given): fine texture and noise."""
    energy = laplacian(x.float().cpu()).square()
    if region is None:
        return energy.flatten(1).mean(1)
    valid: tuple[Any, ...] = (..., *([slice(1, -1)] * (x.ndim - 2)))  # the Laplacian's region
    inner = region.float().cpu()[valid]
    return (energy * inner).flatten(1).sum(1) / inner.flatten(1).sum(1).clamp_min(1)


def lesion_interior_and_rim(masks: Tensor) -> tuple[Tensor, Tensor]:
    """(interior, rim) of (N, 1, *spatial) {0, 1} masks: the mask voxels whose Laplacian stencil
    (the voxel and its face neighbours) lies inside the mask, and the rest of the mask (the
    lesions' outer voxels, where the Laplacian straddles the lesion edge)."""
    import torch.nn.functional as F

    masks = (masks > 0).float()
    dims = masks.ndim - 2
    stencil = laplacian_kernel(dims, masks.dtype).abs().clamp_max(1.0)  # centre + face neighbours
    conv = F.conv2d if dims == 2 else F.conv3d
    inside = conv(masks, stencil.view(1, 1, *stencil.shape), padding=1)
    interior = (inside > 2 * dims + 0.5).float()  # all 2 * dims + 1 stencil voxels are lesion
    return interior, masks - interior


def energy_ratio(fake: Tensor, real: Tensor, region: Tensor | None = None) -> float:
    """Mean high-frequency energy of `fake` over that of `real` (within `region`; images whose
    region is empty are left out, nan when every one is): 1 real-like, < 1 smoother, > 1 noisier."""
    import torch

    if region is not None:
        keep = region.flatten(1).sum(1) > 0
        if not bool(keep.any()):
            return float("nan")
        fake, real, region = fake[keep], real[keep], region[keep]
    hf_fake, hf_real = high_frequency_energy(fake, region), high_frequency_energy(real, region)
    return float(hf_fake.mean() / hf_real.mean().clamp_min(torch.finfo(hf_real.dtype).tiny))


def texture_ratios(fake: Tensor, real: Tensor, masks: Tensor | None = None) -> dict[str, float]:
    """`texture_ratio` over whole images; with lesion masks, in their interiors, and
    `edge_ratio` on their rims (see the module doc)."""
    if masks is None:
        return {"texture_ratio": energy_ratio(fake, real)}
    interior, rim = lesion_interior_and_rim(masks)
    return {"texture_ratio": energy_ratio(fake, real, interior),
            "edge_ratio": energy_ratio(fake, real, rim)}  # fmt: skip


class Texture(MedMetric):
    """High-frequency energy of outputs relative to real images (1: real-like texture)."""

    name = "med_texture"
    # best at 1 (real-like texture / edges), neither lower nor higher
    better: ClassVar[Directions] = {"texture_ratio": None, "edge_ratio": None}
    tasks = ("lesion", "translate", "progress")
    needs = (HELD_OUT, PAIRED_EVAL)

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """texture_ratio (lesion: in the lesion interiors) and, for lesions, edge_ratio (on the
        masks' outer voxels); the seam of the painted region, outside the masks, is left out."""
        fake, real, masks = _paired(system, n_samples)
        lesion = system.capabilities().task == "lesion"
        out = texture_ratios(fake, real, masks if lesion else None)
        if lesion and not no_lesion(self.name, masks, "texture_ratio and edge_ratio (measured "
                                    "in the lesions) are undefined"):  # fmt: skip
            assert masks is not None
            if not bool(lesion_interior_and_rim(masks)[0].any()):
                warn_once(
                    f"metric '{self.name}': the held-out lesions have no interior voxels (none "
                    "whose Laplacian stencil lies inside its mask: each is at most two voxels "
                    f"thick at model.image_size {real.shape[-1]}), so texture_ratio is "
                    "undefined: NaN; edge_ratio scores their edges"
                )
        return {**out, "n_samples": float(len(fake))}


def segment_lesions(images: Tensor, masks: Tensor, reference: Tensor) -> Tensor:
    """Lesion segmentation by intensity near the masks, with a threshold learned on `reference`.

    The threshold is the midpoint between mean intensity inside the masks and in a two-voxel
    ring around them on the real images; the side (brighter or darker) follows the real lesions.
    Only voxels within a margin of the mask count, so unrelated bright tissue (CSF) is ignored.
    """
    from ganhub_medgan.nets import dilate

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
    better: ClassVar[Directions] = {
        "dice": "higher",
        "dice_real": None,
    }  # dice_real: the rule on real images (a perfect generator's score)
    tasks = ("lesion",)
    needs = (HELD_OUT, PAIRED_EVAL)

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """dice (generated), dice_real (the same rule on real images: the ceiling)."""
        import torch
        from monai.metrics import compute_dice

        fake, real, masks = _paired(system, n_samples)
        assert masks is not None
        out = {"n_samples": float(len(fake))}
        if no_lesion(self.name, masks, "dice and dice_real are undefined"):
            return {**out, "dice": math.nan, "dice_real": math.nan}
        for key, images in (("dice", fake), ("dice_real", real)):
            seg = segment_lesions(images, masks, real)
            out[key] = float(torch.nanmean(compute_dice(seg, masks, include_background=True)))
        return out


class LesionGrowth(MedMetric):
    """How well the predicted follow-up's lesions match the true follow-up's (module doc)."""

    name = "med_growth"
    better: ClassVar[Directions] = {
        "dice": "higher",
        "volume_error": "lower",
        "new_recall": "higher",
        "dice_unchanged": None,  # predicting no change: the bar a model must clear
        "volume_error_unchanged": None,
        "dice_real": None,  # the segmentation rule on the real follow-up: the ceiling
        "volume_error_real": None,
    }
    tasks = ("progress",)
    needs = (HELD_OUT, PAIRED_EVAL)

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """dice, volume_error, new_recall; their `_unchanged` and `_real` counterparts."""
        batch = system.eval_batch(n_samples)
        if batch.masks is None or batch.prior_masks is None:
            raise UsageError(
                "med_growth needs the lesion masks of both scans: the embedded phantoms have "
                "them; for folder data set data.baseline_mask_dir and data.followup_mask_dir, "
                "or leave med_growth out of eval.metrics"
            )
        fake = system.translate_batched(batch.conditions)
        out = {"n_samples": float(len(fake))}
        new = (batch.masks - batch.prior_masks).clamp_min(0)
        if not bool(new.any()):  # recall of nothing: undefined, not 0
            say(
                "medgan: note: med_growth: no lesion grew between the scored scans (the "
                "follow-up masks hold no voxel outside the baseline masks, e.g. data.growth=0), "
                "so new_recall is undefined: NaN",
            )
        for suffix, images in (
            ("", fake),
            ("_unchanged", batch.conditions),
            ("_real", batch.images),
        ):
            scores = growth_scores(images, batch.masks, new, batch.images)
            if suffix:  # new_recall is the prediction's alone (the baseline has none of it)
                scores.pop("new_recall")
            out.update({f"{k}{suffix}": v for k, v in scores.items()})
        return out


def growth_scores(
    images: Tensor, masks: Tensor, new: Tensor, reference: Tensor
) -> dict[str, float]:
    """Dice, relative volume error and recall of the `new` voxels of the lesions segmented
    from `images` (`segment_lesions` on the true `masks`, threshold from `reference`)."""
    import torch
    from monai.metrics import compute_dice

    seg = segment_lesions(images, masks, reference)
    dice = float(torch.nanmean(compute_dice(seg, masks, include_background=True)))
    true_volume = masks.flatten(1).sum(1)
    error = (seg.flatten(1).sum(1) - true_volume).abs().sum() / true_volume.sum().clamp_min(1)
    # NaN when nothing grew: no voxel to recall (NaN is never a best value, `keep_best`)
    recall = float((seg * new).sum() / new.sum()) if bool(new.any()) else math.nan
    return {"dice": dice, "volume_error": float(error), "new_recall": recall}


MS_SSIM_KERNEL = 7  # taps of med_diversity's Gaussian window (sigma 1.5, MONAI's default)


def ms_ssim_scales(size: int, kernel: int = MS_SSIM_KERNEL) -> int:
    """How many of MS-SSIM's five scales (each half the last) `size` px images hold: as many as
    keep the coarsest at least one window wide (2 at 16 px, 3 at 32, 4 at 64, 5 from 112)."""
    scales = 1
    while scales < 5 and size // 2**scales > kernel - 1:
        scales += 1
    return scales


def ms_ssim_metric(spatial_dims: int, size: int) -> Any:
    """MONAI MultiScaleSSIMMetric with as many scales (<= 5, `ms_ssim_scales`) as the image size
    allows, their exponents rescaled to sum to 1, for images in [0, 1] (`unit`)."""
    from monai.metrics import MultiScaleSSIMMetric

    weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)[: ms_ssim_scales(size)]
    return MultiScaleSSIMMetric(spatial_dims=spatial_dims, data_range=1.0,
                                kernel_size=MS_SSIM_KERNEL,
                                weights=[w / sum(weights) for w in weights])  # fmt: skip


class Diversity(MedMetric):
    """Gaussian-kernel MMD to held-out real images; MS-SSIM of generated vs real pairs."""

    name = "med_diversity"
    better: ClassVar[Directions] = {"mmd": "lower", "ms_ssim": "lower", "ms_ssim_real": None}
    tasks = ("generate",)
    min_samples = 2  # MMD and pairs of different samples

    def check(self, system: GANSystem) -> None:
        """Refuse now, not after training, a run whose real images are fewer than two."""
        n = len(cast("MedGenerateGAN", system).eval_batch(self.min_samples).images)
        if n < self.min_samples:
            raise UsageError(
                f"metric med_diversity compares sets of images, and this run holds {n} real "
                "one; use more image files in data.path or leave med_diversity out of "
                "eval.metrics"
            )

    def supports(self, caps: Capabilities) -> bool:
        """generate systems (samples from noise) with held-out images."""
        return super().supports(caps) and caps.samples

    def compute(self, system: Any, *, n_samples: int, seed: int) -> dict[str, float]:
        """mmd, ms_ssim (generated pairs), ms_ssim_real (real pairs), and n_samples: the
        held-out images scored, as many generated (fewer than asked when fewer are held out)."""
        import torch
        from ganhub_medgan.mmd import rbf_mmd

        real = system.eval_batch(max(2, n_samples)).images.cpu()
        n = len(real)
        fake = system.sample(n, seed=seed).cpu()
        size = min(real.shape[2:])  # the smallest side bounds the scales
        msssim = ms_ssim_metric(real.ndim - 2, size)
        perm = torch.roll(torch.arange(n), 1)  # pairs (i, i-1): every sample once, no self-pairs
        return {
            "mmd": rbf_mmd(real, fake)[0],  # a collapsed G scores above a varied one
            "ms_ssim": float(msssim(unit(fake), unit(fake[perm])).mean()),
            "ms_ssim_real": float(msssim(unit(real), unit(real[perm])).mean()),
            "n_samples": float(n),
        }


class RotNetFD(MedMetric):
    """Fréchet distance of ganhub's `rotnet` features, real vs generated (images or volumes)."""

    name = "fd_rotnet"
    better: ClassVar[Directions] = {"fd_rotnet": "lower"}
    min_samples = 2  # a covariance

    def supports(self, caps: Capabilities) -> bool:
        """Systems that sample from noise or translate held-out pairs, with real samples."""
        return (
            super().supports(caps) and caps.real_samples and (caps.samples or caps.can(PAIRED_EVAL))
        )

    def check(self, system: GANSystem) -> None:
        """Refuse now, not after training, training data too small for the rotation net."""
        from ganhub.metrics.formulas import require

        require("torch_fidelity", self.name)
        n = system.real_count()
        phantoms = cast("MedGANConfig", system.config).data.source == "phantom"
        more = "data.n_samples" if phantoms else "more image files in data.path"
        if n < ROTNET_MIN_IMAGES:
            raise UsageError(
                f"metric fd_rotnet trains its feature network on the run's training images: "
                f"{n} are too few (it needs {ROTNET_MIN_IMAGES}); use more data ({more}) or "
                "leave fd_rotnet out of eval.metrics"
            )

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """fd_rotnet: 0 for identical feature statistics; compare runs on the same data only."""
        from ganhub.metrics.features import features_of, generate, real_features, rotnet
        from ganhub.metrics.formulas import GaussianStats, frechet_distance, gaussian_stats

        extractor = rotnet(system)
        counts: dict[str, float] = {}
        if system.capabilities().samples:  # as the core `fid`: samples vs the real statistics
            fake = features_of(extractor, generate(system, n_samples, seed))["features"]
            real = real_features(system, extractor, system.config.eval.n_real)
            real_stats = GaussianStats(
                real["mu"].double().numpy(), real["sigma"].double().numpy(), len(real["features"])
            )
            counts["n_real"] = float(len(real["features"]))
        else:  # a translator: its outputs for held-out conditions vs their ground truth
            out, target, _ = _paired(system, n_samples)
            fake = features_of(extractor, out)["features"]
            real_stats = gaussian_stats(features_of(extractor, target)["features"])
        value = frechet_distance(gaussian_stats(fake), real_stats)
        return {
            "fd_rotnet": value if math.isfinite(value) else float("nan"),
            "n_samples": float(len(fake)),
            **counts,
        }


MED_METRICS: tuple[MedMetric, ...] = (
    Fidelity(),
    Texture(),
    LesionDice(),
    LesionGrowth(),
    Diversity(),
    RotNetFD(),
)
