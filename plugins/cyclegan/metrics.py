"""Translation metrics against held-out true pairs: PSNR, SSIM, cycle L1.

PSNR and SSIM follow scikit-image's `peak_signal_noise_ratio` and `structural_similarity`
with `gaussian_weights=True, sigma=1.5, use_sample_covariance=False` (Wang et al. 2004), on
images in [-1, 1] (data range 2), computed per image (SSIM averaged over channels) and then
averaged over images; tests check them against scikit-image. The identity baseline scores the
untranslated input against the target: a translation is only useful where it beats it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from ganhub_cyclegan.system import CycleGANSystem, Pix2PixSystem
from torch import Tensor

from ganhub.engine.system import GANSystem
from ganhub.metrics import Metric

DATA_RANGE = 2.0  # images live in [-1, 1]


def psnr(x: Tensor, y: Tensor, data_range: float = DATA_RANGE) -> Tensor:
    """Peak signal-to-noise ratio in dB of each image pair (N, C, H, W) -> (N,)."""
    mse = (x.double() - y.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-20))


def _gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> Tensor:
    radius = int(truncate * sigma + 0.5)  # scipy.ndimage's rule: 11 taps for sigma 1.5
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (taps / sigma) ** 2)
    return w / w.sum()


def ssim(x: Tensor, y: Tensor, data_range: float = DATA_RANGE, sigma: float = 1.5) -> Tensor:
    """Structural similarity of each image pair (N, C, H, W) -> (N,), scikit-image's Gaussian form.

    Local statistics use a separable Gaussian window; like scikit-image, the mean is taken over
    the positions where the window fits entirely (a border of the window radius is cropped).
    """
    x, y = x.double(), y.double()
    w = _gaussian_window(sigma).to(x.device)
    if x.shape[-1] < len(w) or x.shape[-2] < len(w):
        raise ValueError(f"SSIM needs images of at least {len(w)} px, got {tuple(x.shape[-2:])}")
    c = x.shape[1]
    wx = w.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    wy = w.view(1, 1, -1, 1).expand(c, 1, -1, 1)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(t, wx, groups=c), wy, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def _translation(system: GANSystem) -> CycleGANSystem | Pix2PixSystem | None:
    """`system` when it is a cyclegan system with held-out true pairs, else None."""
    if isinstance(system, CycleGANSystem | Pix2PixSystem) and system.heldout_pairs() is not None:
        return system
    return None


def _pairs(system: CycleGANSystem | Pix2PixSystem, n_samples: int) -> tuple[Tensor, Tensor]:
    pairs = system.heldout_pairs()
    assert pairs is not None
    n = min(n_samples, len(pairs[0]))
    return pairs[0][:n].to(system.device), pairs[1][:n].to(system.device)


def _translate(system: CycleGANSystem | Pix2PixSystem, x: Tensor, direction: str) -> Tensor:
    if isinstance(system, CycleGANSystem):
        return system.translate(x, direction)
    return system.translate(x)


class TranslationPSNRSSIM(Metric):
    """PSNR/SSIM of translations against the true targets, and of the identity baseline."""

    name = "translation_psnr_ssim"
    description = (
        "PSNR (dB) and SSIM of G(A) vs the true B on held-out pairs, and of A itself (identity)"
    )

    def supports(self, system: GANSystem) -> bool:
        """Systems with held-out true pairs (the cyclegan domain on its embedded data)."""
        return _translation(system) is not None

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Scores on the first `n_samples` held-out pairs (both directions for CycleGAN)."""
        translation = _translation(system)
        assert translation is not None
        a, b = _pairs(translation, n_samples)
        both = isinstance(translation, CycleGANSystem)
        directions = [("AtoB", a, b)] + ([("BtoA", b, a)] if both else [])
        out: dict[str, float] = {}
        for name, source, target in directions:
            fake = _translate(translation, source, name)
            out[f"psnr_{name}"] = float(psnr(fake, target).mean())
            out[f"ssim_{name}"] = float(ssim(fake, target).mean())
            out[f"psnr_identity_{name}"] = float(psnr(source, target).mean())
            out[f"ssim_identity_{name}"] = float(ssim(source, target).mean())
        out["n_pairs"] = float(len(a))
        return {k: v if math.isfinite(v) else float("nan") for k, v in out.items()}


class CycleL1(Metric):
    """Mean |G_BA(G_AB(A)) - A| and |G_AB(G_BA(B)) - B| on held-out images (0 = perfect cycle)."""

    name = "cycle_l1"
    description = "cycle-consistency L1 of both round trips on held-out images (images in [-1, 1])"

    def supports(self, system: GANSystem) -> bool:
        """CycleGAN systems with held-out images."""
        return isinstance(_translation(system), CycleGANSystem)

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Both round trips on the first `n_samples` held-out images."""
        cyclegan = _translation(system)
        assert isinstance(cyclegan, CycleGANSystem)
        a, b = _pairs(cyclegan, n_samples)
        rec_a = cyclegan.translate(cyclegan.translate(a, "AtoB"), "BtoA")
        rec_b = cyclegan.translate(cyclegan.translate(b, "BtoA"), "AtoB")
        return {
            "cycle_l1_A": float((rec_a - a).abs().mean()),
            "cycle_l1_B": float((rec_b - b).abs().mean()),
        }
