"""The kernel two-sample statistic `med_diversity` reports as `mmd`.

The unbiased estimate of the squared maximum mean discrepancy (Gretton et al., "A kernel
two-sample test", JMLR 2012, Lemma 6) with a Gaussian RBF kernel
k(a, b) = exp(-|a - b|^2 / (2 s^2)) on the flattened images:

    MMD^2_u = mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j)

The bandwidth s is the median heuristic: the median Euclidean distance between two different
images of the pooled sample (x and y together; pairs of identical images are left out, so a
generator that repeats one image does not shrink the bandwidth towards 0). A Gaussian kernel is
characteristic: the population MMD is 0 only for identical distributions, so a collapsed
generator scores above one that samples the real distribution. The linear kernel (the dot
product, MONAI's `MMDMetric` without a mapping) compares the mean images only, and scores a
generator that outputs the mean image about 0.

It is computed on the images' intensities, not on learned features: it needs no trained
network (the `rotnet` features `fd_rotnet` compares need 80 training images) and works from two
images on each side, and it does not share the blind spots of a feature network trained on
the run's own images; `fd_rotnet` gives the learned-feature view beside it.

The estimate is unbiased, so it can fall a little below 0 for two samples of one distribution;
a kernel value lies in (0, 1], so it lies in [-2, 2]. torch is imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


# |a|^2 + |b|^2 - 2 a.b in float64 is off by about 1e-14 of |a|^2 + |b|^2 (measured on 32^3
# volumes): squared distances below this share of it are two copies of one image, exactly 0
SAME = 1e-9


def pairwise_sq_distances(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances between the rows of `a` (m, d) and `b` (n, d), in float64
    by matrix products (one pass, no loop over samples); copies of one image are exactly 0."""
    a, b = a.double(), b.double()
    aa, bb = a.square().sum(1), b.square().sum(1)
    norms = aa[:, None] + bb[None, :]
    sq = (norms - 2.0 * a @ b.T).clamp_min(0.0)
    return sq.masked_fill(sq <= SAME * norms, 0.0)


def median_bandwidth(pooled_sq: Tensor) -> float:
    """The median distance between two different samples (a pair's squared distance in the
    upper triangle of `pooled_sq`, above 0); 0.0 when every pair of samples is identical."""
    import torch

    i, j = torch.triu_indices(len(pooled_sq), len(pooled_sq), offset=1)
    distances = pooled_sq[i, j]
    distances = distances[distances > 0]
    if not len(distances):
        return 0.0
    return float(distances.median().sqrt())


def rbf_mmd(x: Tensor, y: Tensor) -> tuple[float, float]:
    """(unbiased MMD^2 with a Gaussian kernel, its bandwidth) between the samples `x` (m, ...)
    and `y` (n, ...), m, n >= 2, each flattened to one vector (module doc)."""
    import torch

    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD needs two samples on each side, not {m} and {n}")
    pooled = torch.cat([x.flatten(1), y.flatten(1)])
    sq = pairwise_sq_distances(pooled, pooled)
    sigma = median_bandwidth(sq)
    if sigma == 0.0:  # every image is the same image: the samples cannot be told apart
        return 0.0, 0.0
    k = torch.exp(-sq / (2.0 * sigma**2))
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean()), sigma


__all__ = ["median_bandwidth", "pairwise_sq_distances", "rbf_mmd"]
