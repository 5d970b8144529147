"""Mode statistics of 2D samples against a Gaussian mixture (PacGAN / VEEGAN protocol).

Imports torch inside functions: registering the metric loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ganhub.metrics import Directions, Metric

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.capabilities import Capabilities
    from ganhub.engine.system import GANSystem

# the mixtures this metric knows (dataset names a system declares)
MIXTURES = ("ring", "grid")


def mode_stats(
    samples: Tensor, centers: Tensor, std: float, threshold: float = 3.0
) -> dict[str, float]:
    """PacGAN / VEEGAN statistics of 2D samples against a Gaussian mixture.

    A sample is high quality when within `threshold` std of its nearest mode; a mode is captured
    when at least one high-quality sample is nearest to it; the reverse KL is KL(p_gen || uniform)
    over the nearest-mode histogram of all samples. `balanced_hq` folds the three into one score:
    the percentage of samples that are high quality, each mode's count capped at its fair share
    (1/K of the samples), so 100 means every mode holds its share of high-quality samples and a
    missed mode costs 100/K however sharp the others are.
    """
    import torch

    dist = torch.cdist(samples.double(), centers.double())
    nearest_dist, nearest = dist.min(1)
    hq = nearest_dist <= threshold * std
    k = len(centers)
    captured = torch.bincount(nearest[hq], minlength=k) > 0
    p = torch.bincount(nearest, minlength=k).double() / len(samples)
    nz = p > 0
    rkl = float((p[nz] * (p[nz] * k).log()).sum())
    p_hq = torch.bincount(nearest[hq], minlength=k).double() / len(samples)
    return {
        "modes": float(captured.sum()),
        "hq_percent": 100.0 * float(hq.double().mean()),
        "reverse_kl": rkl,
        "balanced_hq": 100.0 * float(p_hq.clamp(max=1.0 / k).sum()),
    }


class ModeCoverage2D(Metric):
    """Modes captured, % high-quality samples and reverse KL on a 2D Gaussian mixture."""

    name = "mode_coverage_2d"
    better: ClassVar[Directions] = {
        "modes": "higher",
        "hq_percent": "higher",
        "reverse_kl": "lower",
        "balanced_hq": "higher",
    }

    def supports(self, caps: Capabilities) -> bool:
        """2D points from noise, trained on one of the known mixtures (ring, grid)."""
        return caps.modality == "vector" and caps.samples and caps.dataset in MIXTURES

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Statistics of `n_samples` generated points (PacGAN protocol: 2,500)."""
        from ganhub_toy2d.data import mixture

        dataset = system.capabilities().dataset
        assert dataset is not None
        centers, std = mixture(dataset)
        points = system.sample(n_samples, seed=seed).cpu()
        return {**mode_stats(points, centers, std), "n_samples": float(n_samples)}
