"""The metric formulas on feature matrices, delegated to the reference libraries.

Frechet distance, KID, Inception Score and improved precision/recall call torch-fidelity's own
functions; SSIM and MS-SSIM call torchmetrics. Density and coverage (Naeem et al. 2020) are in
neither library, so they are written here in torch and tested against the authors' ``prdc``
package. Features are (N, D) tensors; the generated set comes first, the real set second.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ganhub.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

_DISTS = {"torch_fidelity": "torch-fidelity", "torchmetrics": "torchmetrics"}


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
    out = fid.fid_statistics_to_metric(
        {"mu": a.mu, "sigma": a.sigma}, {"mu": b.mu, "sigma": b.sigma}, verbose=False
    )
    return float(out[fid.KEY_METRIC_FID])


def kid(
    fake: Tensor, real: Tensor, *, seed: int, subsets: int = 100, subset_size: int = 1000
) -> tuple[float, float]:
    """Kernel distance (cubic polynomial kernel, unbiased MMD^2): mean and std over subsets."""
    mod = require("torch_fidelity.metric_kid", "kid")
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
    """exp(E_x KL(p(y|x) || p(y))) over `splits` shuffled splits: mean and std."""
    mod = require("torch_fidelity.metric_isc", "inception_score")
    splits = max(1, min(splits, len(logits) // 2))
    out = mod.isc_features_to_metric(
        logits.detach().double().cpu(), splits=splits, shuffle=True, rng_seed=seed
    )
    return float(out[mod.KEY_METRIC_ISC_MEAN]), float(out[mod.KEY_METRIC_ISC_STD])


def precision_recall(fake: Tensor, real: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN balls, k=3."""
    mod = require("torch_fidelity.metric_prc", "precision_recall")
    out = mod.prc_features_to_metric(
        fake.detach().float().cpu(),
        real.detach().float().cpu(),
        prc_neighborhood=k,
        prc_batch_size=10_000,
        save_cpu_ram=False,
        verbose=False,
    )
    return float(out[mod.KEY_METRIC_PRECISION]), float(out[mod.KEY_METRIC_RECALL])


def density_coverage(fake: Tensor, real: Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) with k-NN balls around the real samples.

    density = mean over fakes of (number of real balls containing it) / k;
    coverage = share of real samples whose ball contains at least one fake.
    """
    real, fake = real.detach().double().cpu(), fake.detach().double().cpu()
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values  # k-th neighbour, not itself
    dist = torch.cdist(real, fake)  # (real, fake)
    density = (dist < radii[:, None]).sum(0).double().mean() / k
    coverage = (dist.min(1).values < radii).double().mean()
    return float(density), float(coverage)


def ms_ssim_settings(size: int) -> tuple[tuple[float, ...], int]:
    """MS-SSIM scale weights and Gaussian kernel size that fit `size` px images.

    The standard five scales with an 11 px kernel need 176 px; smaller images use fewer scales
    (the first weights, renormalised) and smaller kernels, preferring more scales.
    """
    standard = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    for scales, kernel in ((5, 11), (5, 7), (3, 11), (3, 7), (5, 3), (3, 3), (2, 3)):
        div = max(1, scales - 1) ** 2
        if size >= 2**scales and size // div > kernel - 1:
            betas = standard[:scales]
            return tuple(b / sum(betas) for b in betas), kernel
    raise UsageError(f"MS-SSIM needs images of at least 8 px; got {size} px")


def pairwise_ssim(x: Tensor, y: Tensor, batch: int = 256) -> tuple[float, float]:
    """Mean SSIM and MS-SSIM between images x[i] and y[i] in [-1, 1] (torchmetrics)."""
    fn = require("torchmetrics.functional.image", "ssim_diversity")
    size = min(x.shape[-2:])
    betas, kernel = ms_ssim_settings(size)
    ssim_kernel = 11 if size >= 11 else 3  # the standard 11 px Gaussian window (sigma 1.5)
    kw: dict[str, Any] = {"data_range": 1.0, "reduction": "none"}
    ssim, ms = [], []
    for a, b in zip(x.split(batch), y.split(batch)):
        a, b = (a.float().cpu() + 1) / 2, (b.float().cpu() + 1) / 2
        ssim.append(fn.structural_similarity_index_measure(a, b, kernel_size=ssim_kernel, **kw))
        ms.append(
            fn.multiscale_structural_similarity_index_measure(
                a, b, kernel_size=kernel, betas=betas, **kw
            )
        )
    return float(torch.cat(ssim).mean()), float(torch.cat(ms).mean())


def kl_to_uniform(counts: Tensor) -> float:
    """KL(p || uniform) of a histogram: 0 when every bin is equally full, log K when one is."""
    p = counts.double() / counts.sum()
    nz = p > 0
    return float((p[nz] * (p[nz] * len(p)).log()).sum())
