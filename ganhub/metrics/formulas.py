"""The metric formulas on feature matrices, delegated to the reference libraries.

Frechet distance, KID and improved precision/recall call torch-fidelity's own functions.
Density and coverage (Naeem et al. 2020) are in neither library, so they are written here in
torch and tested against the authors' ``prdc`` package; so are SSIM and MS-SSIM (Wang et al.
2004, 2003), whose border and small-image conventions the libraries differ on, tested against
scikit-image and against values worked out by hand, and the Inception Score, tested against
torch-fidelity's and torchmetrics' where theirs is defined (they give NaN for 0 log 0). Features are (N, D) tensors; the generated
set comes first, the real set second.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ganhub.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

_DISTS = {"torch_fidelity": "torch-fidelity"}


def require(module: str, metric: str) -> ModuleType:
    """Import an evaluation library, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        dist = _DISTS.get(module.split(".")[0], module)
        raise UsageError(f"metric '{metric}' needs {dist}: pip install {dist}") from None


@dataclass
class GaussianStats:
    """Mean and covariance of a feature set (float64), and how many samples made them."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def gaussian_stats(features: Tensor) -> GaussianStats:
    """Mean and unbiased covariance of (N, D) features in float64 (as torch-fidelity's np.cov)."""
    x = features.detach().double().cpu()
    return GaussianStats(x.mean(0).numpy(), torch.cov(x.T).reshape(x.shape[1], -1).numpy(), len(x))


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), by torch-fidelity's formula."""
    fid = require("torch_fidelity.metric_fid", "fid")
    if not all(_finite(torch.from_numpy(s.mu), torch.from_numpy(s.sigma)) for s in (a, b)):
        return math.nan  # the eigenvalues of non-finite statistics are undefined
    out = fid.fid_statistics_to_metric(
        {"mu": a.mu, "sigma": a.sigma}, {"mu": b.mu, "sigma": b.sigma}, verbose=False
    )
    # a distance is never negative: the matrix square root's rounding makes it so (-4e-5 on two
    # near-identical sets of two samples), which reads as better than identical
    return max(0.0, float(out[fid.KEY_METRIC_FID]))


def kid(
    fake: Tensor, real: Tensor, *, seed: int, subsets: int = 100, subset_size: int = 1000
) -> tuple[float, float]:
    """Kernel distance (cubic polynomial kernel, unbiased MMD^2): mean and std over subsets."""
    mod = require("torch_fidelity.metric_kid", "kid")
    if not _finite(fake, real):
        return math.nan, math.nan  # else a subset may miss the non-finite rows, or not
    size = min(subset_size, len(fake), len(real))
    out = mod.kid_features_to_metric(
        fake.detach().double().cpu(),
        real.detach().double().cpu(),
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=seed,
        verbose=False,
    )
    return float(out[mod.KEY_METRIC_KID_MEAN]), float(out[mod.KEY_METRIC_KID_STD])


def inception_score(logits: Tensor, *, seed: int, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) over `splits` consecutive splits: mean and std.

    The splits are taken in order, as in Salimans et al.'s reference code: the samples are
    already independent draws, and shuffling them again only adds noise to the std. Terms with
    p(y|x) = 0 count 0 (0 log 0 = 0): a class no sample of a split predicts, which torch-fidelity
    turns into NaN (0 times -inf) when a split has fewer samples than classes. `seed` is unused
    (kept for the metric's common signature).
    """
    del seed
    splits = max(1, min(splits, len(logits) // 2))
    log_p = logits.detach().double().cpu().log_softmax(1)
    p, n = log_p.exp(), len(log_p)
    scores = []
    for i in range(splits):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        part, log_part = p[rows], log_p[rows]
        log_marginal = part.mean(0, keepdim=True).log()
        kl = torch.where(part > 0, part * (log_part - log_marginal), 0.0).sum(1)
        scores.append(kl.mean().exp())
    values = torch.stack(scores)
    return float(values.mean()), float(values.std(correction=0))  # numpy's std, as the reference


# rows of a distance matrix computed at once by the k-NN metrics (bounded memory)
DISTANCE_ROWS = 4096


def precision_recall(fake: Tensor, real: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN balls, k=3.

    torch-fidelity's function, on float64 features moved to the real mean: distances do not
    change, but far from the origin the matrix-product distances cancel catastrophically (in
    float32, features around 1e4 scored precision and recall 1 for any two sets).
    """
    mod = require("torch_fidelity.metric_prc", "precision_recall")
    fake, real = _centred(fake, real)
    if not _finite(fake, real):
        return math.nan, math.nan
    out = mod.prc_features_to_metric(
        fake,
        real,
        prc_neighborhood=k,
        prc_batch_size=DISTANCE_ROWS,  # rows of distances at a time, not all (N, N) at once
        save_cpu_ram=True,
        verbose=False,
    )
    return float(out[mod.KEY_METRIC_PRECISION]), float(out[mod.KEY_METRIC_RECALL])


def _centred(fake: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """Both feature sets in float64 on the CPU, less the real set's mean (distances unchanged)."""
    real = real.detach().double().cpu()
    mean = real.mean(0) if len(real) else 0.0
    return fake.detach().double().cpu() - mean, real - mean


def _finite(*features: Tensor) -> bool:
    """Whether every feature value is finite (a NaN compares false: k-NN scores would be wrong
    without a sign, so they are NaN instead)."""
    return all(bool(f.isfinite().all()) for f in features)


def density_coverage(fake: Tensor, real: Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) with k-NN balls around the real samples.

    density = mean over fakes of (number of real balls containing it) / k;
    coverage = share of real samples whose ball contains at least one fake.
    """
    fake, real = _centred(fake, real)  # distances unchanged, and exact far from the origin
    if not _finite(fake, real):
        return math.nan, math.nan
    # in blocks of real rows: the whole (real, real) float64 matrix was 800 MB at 10,000 real
    # samples and 20 GB at 50,000; each block's result is what the whole matrix gave
    blocks = real.split(DISTANCE_ROWS)
    # the k-th neighbour, not the sample itself
    radii = torch.cat([torch.cdist(b, real).kthvalue(k + 1, dim=1).values for b in blocks])
    inside = torch.zeros(len(fake), dtype=torch.float64, device=fake.device)
    covered = 0
    for block, r in zip(blocks, radii.split(DISTANCE_ROWS), strict=True):
        dist = torch.cdist(block, fake)  # (block of real, fake)
        inside += (dist < r[:, None]).sum(0)
        covered += int((dist.min(1).values < r).sum())
    return float(inside.mean() / k), covered / len(real)


# Wang et al.: stabilising constants K1, K2 (times the data range L); an 11-tap Gaussian window of
# sigma 1.5; the MS-SSIM exponents of Wang, Simoncelli and Bovik 2003, finest scale first
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ssim_window(side: int) -> tuple[int, float]:
    """The Gaussian window (taps, sigma) for images whose shorter side is `side` px.

    11 taps of sigma 1.5 (Wang et al. 2004) where they fit; smaller images take the largest odd
    window that fits, with sigma scaled to it (1.5 * taps / 11: the same Gaussian, shrunk).
    """
    if side < 3:
        raise UsageError(f"SSIM needs images of at least 3 px a side; got {side} px")
    taps = min(SSIM_WINDOW, side if side % 2 else side - 1)
    return taps, SSIM_SIGMA * taps / SSIM_WINDOW


def ms_ssim_settings(size: int) -> tuple[tuple[float, ...], int]:
    """MS-SSIM scale weights and window taps for `size` px images.

    The window is SSIM's (`ssim_window`); each scale halves the image (2x2 average pooling), and
    there are as many scales (at most Wang et al.'s five) as keep the coarsest at least one window
    wide: five from 176 px (176, 88, 44, 22, 11), four from 128, three from 64, two from 32, one
    below 22 px (MS-SSIM is then SSIM, floored at 0). Fewer scales take the first weights,
    renormalised.
    """
    taps, _ = ssim_window(size)
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and size // 2**scales >= taps:
        scales += 1
    betas = MS_SSIM_WEIGHTS[:scales]
    return tuple(b / sum(betas) for b in betas), taps


def _ssim_maps(x: Tensor, y: Tensor, window: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """(SSIM map, contrast-structure map) of (N, C, H, W) pairs where the window fits ('valid')."""
    import torch.nn.functional as F

    c = x.shape[1]
    # the five local moments in one separable blur (rows, then columns): [x, y, xx, yy, xy] side
    # by side on channels, one grouped conv per pass instead of five; each channel is blurred on
    # its own, so the values are those of five separate blurs
    k = 5 * c
    wx = window.view(1, 1, 1, -1).expand(k, 1, 1, -1)
    wy = window.view(1, 1, -1, 1).expand(k, 1, -1, 1)
    moments = torch.cat([x, y, x * x, y * y, x * y], 1)
    mx, my, xx, yy, xy = F.conv2d(F.conv2d(moments, wx, groups=k), wy, groups=k).split(c, 1)
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    cs = (2 * cov + c2) / (vx + vy + c2)
    return (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs, cs


def _window(taps: int, sigma: float) -> Tensor:
    offsets = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    w = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return w / w.sum()


def ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0) -> Tensor:
    """SSIM (Wang et al. 2004) of each pair x[i], y[i] of (N, C, H, W) images: (N,) float64.

    Images are intensities in [0, data_range] (SSIM's luminance term is not shift-invariant:
    shift [-1, 1] images to [0, 1] first). Local statistics use the Gaussian window of
    `ssim_window`; the map is averaged over the positions where the window fits (MATLAB's
    'valid', as scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`) and over channels.
    """
    x, y = x.detach().double(), y.detach().double()
    taps, sigma = ssim_window(min(x.shape[-2:]))
    s, _ = _ssim_maps(x, y, _window(taps, sigma).to(x.device), data_range)
    return s.flatten(1).mean(1)


def ms_ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0) -> Tensor:
    """MS-SSIM (Wang, Simoncelli and Bovik 2003) of each pair of (N, C, H, W) images: (N,).

    prod_j cs_j ** w_j over the scales of `ms_ssim_settings`, the last factor being the coarsest
    scale's mean SSIM (luminance there only), as in Wang's msssim.m; a negative mean cs is taken
    as 0 (as TensorFlow's and MONAI's MS-SSIM do), since a fractional power of it is undefined.
    """
    return ssim_and_ms_ssim(x, y, data_range=data_range)[1]


def ssim_and_ms_ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0) -> tuple[Tensor, Tensor]:
    """(`ssim`, `ms_ssim`) of each pair of (N, C, H, W) images, for the price of `ms_ssim`.

    MS-SSIM's finest scale is the full-size image under SSIM's window (`ms_ssim_settings` takes
    `ssim_window`'s), so its SSIM map is SSIM's: averaged, it is `ssim`, value for value.
    """
    x, y = x.detach().double(), y.detach().double()
    betas, taps = ms_ssim_settings(min(x.shape[-2:]))
    window = _window(*ssim_window(min(x.shape[-2:]))).to(x.device)
    assert len(window) == taps  # the same window at every scale, the first being SSIM's
    first = out = torch.ones(len(x), dtype=torch.float64, device=x.device)
    for j, beta in enumerate(betas):
        if j:
            x, y = torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2)
        s, cs = _ssim_maps(x, y, window, data_range)
        if not j:
            first = s.flatten(1).mean(1)
        term = (s if j == len(betas) - 1 else cs).flatten(1).mean(1)
        out = out * term.clamp_min(0) ** beta
    return first, out


def pairwise_ssim(x: Tensor, y: Tensor, batch: int = 256) -> tuple[float, float]:
    """Mean SSIM and MS-SSIM between images x[i] and y[i] in [-1, 1], shifted to [0, 1]."""
    ssims, ms = [], []
    for a, b in zip(x.split(batch), y.split(batch)):
        a, b = (a.double().cpu() + 1) / 2, (b.double().cpu() + 1) / 2
        s, m = ssim_and_ms_ssim(a, b)  # one pass: SSIM is MS-SSIM's first scale
        ssims.append(s)
        ms.append(m)
    return float(torch.cat(ssims).mean()), float(torch.cat(ms).mean())


def joint_log_probs(logits: list[Tensor]) -> Tensor:
    """log p(y_1, ..., y_C) = sum_c log p(y_c) of independent per-channel class logits (N, K)
    each: (N, K ** C), the first channel's class the most significant (Stacked MNIST's mode
    100 a + 10 b + c). Normalised log-probabilities are valid logits."""
    joint = logits[0].log_softmax(1)
    for part in logits[1:]:
        joint = (joint[:, :, None] + part.log_softmax(1)[:, None, :]).flatten(1)
    return joint


def kl_to_uniform(counts: Tensor) -> float:
    """KL(p || uniform) of a histogram: 0 when every bin is equally full, log K when one is."""
    p = counts.double() / counts.sum()
    nz = p > 0
    return float((p[nz] * (p[nz] * len(p)).log()).sum())


__all__ = [
    "GaussianStats",
    "density_coverage",
    "frechet_distance",
    "gaussian_stats",
    "inception_score",
    "joint_log_probs",
    "kid",
    "kl_to_uniform",
    "ms_ssim",
    "pairwise_ssim",
    "precision_recall",
    "require",
    "ssim",
    "ssim_and_ms_ssim",
]
