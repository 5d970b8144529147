"""Metric formulas: against the reference libraries on the same features, and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganhub.metrics import formulas
from ganhub.metrics.builtin import BUILTIN_METRICS
from ganhub.metrics.features import Extractor
from ganhub.plugins import get_hub

torchmetrics_fid = pytest.importorskip("torchmetrics.image.fid")
torchmetrics_kid = pytest.importorskip("torchmetrics.image.kid")


def gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64) * scale + shift


def test_fid_of_a_set_with_itself_is_zero() -> None:
    x = gaussian(400, 16, 0) @ gaussian(16, 16, 1)  # correlated features
    stats = formulas.gaussian_stats(x)
    assert formulas.frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_is_never_negative() -> None:
    """Identical sets of a few samples in many dimensions (a singular covariance): the matrix
    square root's rounding gave -0.08, better than identical."""
    generator = torch.Generator().manual_seed(279)
    worst = min(
        formulas.frechet_distance(stats, stats)
        for stats in (
            formulas.gaussian_stats(torch.randn(n, 512, generator=generator) * 10)
            for n in (2, 3, 5) * 3
        )
    )
    assert worst == 0.0 or 0.0 < worst < 1e-6


def test_frechet_distance_of_gaussians_is_the_analytic_value() -> None:
    d = 8
    mu_a, mu_b = np.zeros(d), np.full(d, 0.5)
    var_a, var_b = np.linspace(0.5, 2.0, d), np.linspace(1.0, 3.0, d)
    a = formulas.GaussianStats(mu_a, np.diag(var_a), 0)
    b = formulas.GaussianStats(mu_b, np.diag(var_b), 0)
    # diagonal covariances: ||mu_a - mu_b||^2 + sum (sqrt(var_a) - sqrt(var_b))^2
    analytic = float(((mu_a - mu_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum())
    assert formulas.frechet_distance(a, b) == pytest.approx(analytic, rel=1e-9)
    # sampled: a unit Gaussian shifted by 1 in each of 4 dimensions is at distance ~ 4
    fd = formulas.frechet_distance(
        formulas.gaussian_stats(gaussian(20_000, 4, 2)),
        formulas.gaussian_stats(gaussian(20_000, 4, 3, shift=1.0)),
    )
    assert fd == pytest.approx(4.0, abs=0.1)


def test_fid_equals_torchmetrics_on_the_same_features() -> None:
    fake, real = gaussian(300, 32, 4, scale=1.3), gaussian(500, 32, 5, shift=0.2)
    ours = formulas.frechet_distance(formulas.gaussian_stats(fake), formulas.gaussian_stats(real))
    theirs = torchmetrics_fid._compute_fid(
        fake.mean(0), torch.cov(fake.T), real.mean(0), torch.cov(real.T)
    )
    assert ours == pytest.approx(float(theirs), rel=1e-6)


def test_kid_equals_torchmetrics_on_one_full_subset() -> None:
    fake, real = gaussian(200, 24, 6, scale=1.5), gaussian(200, 24, 7)
    mean, std = formulas.kid(fake, real, seed=0, subsets=1, subset_size=200)
    theirs = torchmetrics_kid.poly_mmd(real, fake, degree=3, gamma=None, coef=1.0)
    assert mean == pytest.approx(float(theirs), rel=1e-9) and std == 0.0
    same, _ = formulas.kid(gaussian(200, 24, 11), real, seed=0, subsets=1, subset_size=200)
    assert abs(same) < mean / 4  # unbiased: ~0 for two samples of one distribution


def test_inception_score_equals_torchmetrics_and_known_values() -> None:
    from torchmetrics.image.inception import InceptionScore

    class Logits(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    logits = gaussian(600, 10, 8, scale=3.0).float()
    ours, _ = formulas.inception_score(logits, seed=0, splits=1)
    with pytest.warns(
        UserWarning
    ):  # torchmetrics: "will save all extracted features", std of 1 split
        metric = InceptionScore(feature=Logits(), splits=1)
    metric.update(logits)
    theirs, _ = metric.compute()
    assert ours == pytest.approx(float(theirs), rel=1e-4)
    # known values: confident and uniform over K classes -> K; one class -> 1
    confident = torch.eye(10).repeat(50, 1) * 50
    assert formulas.inception_score(confident, seed=0, splits=1)[0] == pytest.approx(10.0, rel=1e-3)
    assert formulas.inception_score(confident[::10], seed=0)[0] == pytest.approx(1.0, rel=1e-6)


def test_precision_recall_density_coverage_equal_the_authors_prdc() -> None:
    prdc = pytest.importorskip("prdc")
    fake, real = gaussian(300, 8, 9, shift=0.3, scale=0.7), gaussian(400, 8, 10)
    p, r = formulas.precision_recall(fake, real, k=3)
    ref3 = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=3)
    # torch-fidelity averages in float32: equal up to its rounding
    assert (p, r) == pytest.approx((ref3["precision"], ref3["recall"]), abs=1e-6)
    density, coverage = formulas.density_coverage(fake, real, k=5)
    ref5 = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    assert (density, coverage) == pytest.approx((ref5["density"], ref5["coverage"]), abs=1e-12)
    # a generator covering only a corner of the data: high precision, low recall/coverage
    corner = real[real[:, 0] > 1.0]
    p, r = formulas.precision_recall(corner, real, k=3)
    assert p > 0.9 and r < 0.5
    assert formulas.density_coverage(corner, real)[1] < 0.5


def test_ssim_diversity_is_one_for_copies_and_low_for_noise() -> None:
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert formulas.pairwise_ssim(x, x) == pytest.approx((1.0, 1.0), abs=1e-4)
    ssim, ms = formulas.pairwise_ssim(x, x.roll(1, 0))
    assert ssim < 0.1 and ms < 0.3
    # 32 px: two scales (32, 16) of the 11 px window; the rule is tested in test_metrics_ssim.py
    assert formulas.ms_ssim_settings(32) == (
        pytest.approx(tuple(np.array([0.0448, 0.2856]) / 0.3304)),
        11,
    )
    assert formulas.ms_ssim_settings(256)[1] == 11 and len(formulas.ms_ssim_settings(256)[0]) == 5


def test_kl_to_uniform() -> None:
    assert formulas.kl_to_uniform(torch.ones(10)) == pytest.approx(0.0)
    assert formulas.kl_to_uniform(torch.tensor([5, 0, 0, 0])) == pytest.approx(math.log(4))


def test_local_networks_never_report_fid() -> None:
    class Local(Extractor):
        name = label = "faces"

        def run(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"features": images.flatten(1)}

    local = Local()
    names = [local.key(k) for k in ("fid", "kid", "kid_std", "precision", "inception_score")]
    assert names == ["fd_faces", "kd_faces", "kd_faces_std", "precision_faces", "is_faces"]
    assert not any("fid" in n or "inception" in n for n in names)


@pytest.mark.parametrize("metric", BUILTIN_METRICS, ids=lambda m: m.name)
def test_every_builtin_metric_is_registered_and_documented(metric) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    hub = get_hub()
    assert hub.metrics.get(metric.name) is metric
    assert hub.metrics.entry(metric.name).plugin == "ganhub.metrics.builtin"
    doc = (Path(__file__).resolve().parents[1] / "docs" / "evaluation.md").read_text()
    assert f"`{metric.name}`" in doc


def test_a_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from ganhub.errors import UsageError

    monkeypatch.setitem(sys.modules, "torch_fidelity.metric_kid", None)  # as if not installed
    with pytest.raises(
        UsageError, match=r"metric 'kid' needs torch-fidelity: pip install torch-fidelity"
    ):
        formulas.kid(gaussian(10, 2, 0), gaussian(10, 2, 1), seed=0)


def _score_fake(metric, fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:  # type: ignore[no-untyped-def]
    class Flat(Extractor):
        name = label = "flat"

        def run(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"features": images.flatten(1)}

    stats = formulas.gaussian_stats(real)
    as_real = {
        "features": real,
        "mu": torch.from_numpy(stats.mu),
        "sigma": torch.from_numpy(stats.sigma),
    }
    return metric.score(Flat(), {"features": fake}, as_real, 0)  # type: ignore[no-any-return]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")  # the broken side
@pytest.mark.parametrize("metric", [m for m in BUILTIN_METRICS if hasattr(m, "score")],
                         ids=lambda m: m.name)  # fmt: skip
def test_declared_minimum_sample_counts_are_exact(metric) -> None:  # type: ignore[no-untyped-def]
    """At min_samples generated and min_real real samples every score is a finite number; one
    fewer on either side is what the declaration refuses, because the formula breaks there."""
    fake, real = gaussian(metric.min_samples, 6, 0), gaussian(metric.min_real, 6, 1)
    assert all(math.isfinite(v) for v in _score_fake(metric, fake, real).values())

    def broken(fake: torch.Tensor, real: torch.Tensor) -> bool:
        try:
            values = _score_fake(metric, fake, real)
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            return True
        return not all(math.isfinite(v) for v in values.values())

    if metric.min_samples > 1:
        assert broken(fake[:-1], gaussian(50, 6, 1))
    assert broken(gaussian(50, 6, 0), real[:-1])


def test_too_few_samples_are_refused_naming_each_metric() -> None:
    from ganhub.errors import ConfigError
    from ganhub.metrics import check_sample_count

    hub = get_hub()
    chosen = [hub.metrics.get(n) for n in ("fid", "precision_recall", "digit_modes")]
    check_sample_count(chosen, 4, "eval.n_samples")
    with pytest.raises(ConfigError) as error:
        check_sample_count(chosen, 1, "eval.n_samples")
    assert str(error.value) == (
        "eval.n_samples=1 is too few samples to score: fid needs 2, precision_recall needs 4"
    )
    with pytest.raises(ConfigError, match=r"^--n 3 is too few .*: precision_recall needs 4$"):
        check_sample_count(chosen, 3, "--n")
