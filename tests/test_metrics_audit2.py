"""Metric formulas against the literature: known values, large features, non-finite samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ganhub.errors import ConfigError
from ganhub.metrics import check_sample_count, formulas, non_finite_as_nan
from ganhub.metrics.builtin import InceptionScore

pytest.importorskip("torch_fidelity")


def gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64) * scale + shift


@pytest.mark.parametrize("offset", [1e4, 1e6])
def test_knn_metrics_are_exact_far_from_the_origin(offset: float) -> None:
    """Precision/recall and density/coverage depend on distances only, so moving both sets by
    the same vector changes nothing (float32 matrix-product distances gave P = R = 1 at 1e4)."""
    fake, real = gaussian(200, 16, 0), gaussian(150, 16, 1, scale=1.2)
    near = formulas.precision_recall(fake, real), formulas.density_coverage(fake, real)
    assert 0.9 < near[0][0] < 1.0 and near[0][1] < 0.7  # not saturated: a real check
    far = (
        formulas.precision_recall(fake + offset, real + offset),
        formulas.density_coverage(fake + offset, real + offset),
    )
    assert far[0] == pytest.approx(near[0], abs=1e-6)
    assert far[1] == pytest.approx(near[1], abs=1e-9)


def test_identical_sets_score_perfectly() -> None:
    x = gaussian(120, 8, 2) * 50 + 300
    assert formulas.precision_recall(x, x) == (1.0, 1.0)
    assert formulas.density_coverage(x, x) == pytest.approx((1.0, 1.0))
    stats = formulas.gaussian_stats(x)
    assert formulas.frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-6)


def test_fid_scales_with_the_square_of_the_features_and_survives_singular_covariances() -> None:
    """FD(s a, s b) = s^2 FD(a, b), also with fewer samples than dimensions (singular)."""
    a, b = gaussian(10, 32, 3), gaussian(10, 32, 4, shift=0.5)
    base = formulas.frechet_distance(formulas.gaussian_stats(a), formulas.gaussian_stats(b))
    assert math.isfinite(base) and base > 0
    for s in (1e-3, 1e3):
        scaled = formulas.frechet_distance(
            formulas.gaussian_stats(a * s), formulas.gaussian_stats(b * s)
        )
        assert scaled / s**2 == pytest.approx(base, rel=1e-6)


def test_kid_is_binkowskis_unbiased_mmd_with_the_cubic_kernel() -> None:
    x, y = gaussian(20, 4, 5), gaussian(20, 4, 6, shift=0.5)

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T / a.shape[1] + 1) ** 3

    m = len(x)
    off = [(k(s, s).sum() - k(s, s).diag().sum()) / (m * (m - 1)) for s in (x, y)]
    expected = float(off[0] + off[1] - 2 * k(x, y).mean())
    assert formulas.kid(x, y, seed=0, subsets=3)[0] == pytest.approx(expected, rel=1e-12)
    # unbiased: over independent draws of one distribution the mean is 0 within its error
    values = [
        formulas.kid(gaussian(16, 4, 100 + i), gaussian(16, 4, 500 + i), seed=i, subsets=1)[0]
        for i in range(150)
    ]
    assert abs(np.mean(values)) < 3 * np.std(values) / math.sqrt(len(values))


def test_non_finite_features_score_nan_not_a_plausible_number() -> None:
    """One NaN sample (a diverged generator) made coverage 0 and precision a number that left
    it out, KID one that skipped it in some subsets, and FID a LinAlgError."""
    fake, real = gaussian(40, 6, 7), gaussian(50, 6, 8)
    fake[3, 2] = math.nan
    assert all(math.isnan(v) for v in formulas.precision_recall(fake, real))
    assert all(math.isnan(v) for v in formulas.density_coverage(fake, real))
    assert all(math.isnan(v) for v in formulas.kid(fake, real, seed=0, subsets=3))
    stats = formulas.gaussian_stats(fake)
    assert math.isnan(formulas.frechet_distance(stats, formulas.gaussian_stats(real)))
    logits = gaussian(20, 10, 9)
    logits[0, 0] = math.inf
    assert all(math.isnan(v) for v in formulas.inception_score(logits, seed=0))


def test_non_finite_samples_make_scores_nan_with_one_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A NaN pixel is quantised to black on the way into Inception, whose features are then
    finite: the sample's features are made NaN, so the scores are, with one warning line."""
    images, features = torch.zeros(8, 1, 4, 4), gaussian(8, 3, 10)
    assert non_finite_as_nan("fid", images, features) is features
    assert capsys.readouterr().err == ""
    images[1, 0, 2, 2], features[5, 0] = math.nan, math.inf
    marked = non_finite_as_nan("fid", images, features)
    assert marked[[1, 5]].isnan().all() and marked[[0, 2, 3, 4, 6, 7]].isfinite().all()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'fid': 2 of 8 generated samples are not finite" in err
    real = gaussian(8, 3, 12)
    assert math.isnan(
        formulas.frechet_distance(formulas.gaussian_stats(marked), formulas.gaussian_stats(real))
    )


def test_inception_score_refuses_a_single_sample() -> None:
    """One sample is its own marginal: IS is 1 (the worst) for any generator."""
    assert formulas.inception_score(gaussian(1, 10, 11) * 20, seed=0)[0] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match=r"^--n 1 is too few .*: inception_score needs 2$"):
        check_sample_count([InceptionScore()], 1, "--n")
    check_sample_count([InceptionScore()], 2, "--n")


def test_intra_fid_of_a_diverged_generator_is_nan_with_a_warning(tmp_path: Path) -> None:
    """intra_fid scored NaN images as the black images 8-bit quantisation made of them."""
    from ganhub.config.resolve import resolve
    from ganhub.engine.loop import fit
    from ganhub.metrics import evaluate
    from ganhub.metrics.conditional import IntraFID
    from ganhub.wiring import make_run

    from .test_conditional import COND

    run = make_run(resolve([*COND, "trainer.steps=2", "eval.metrics=[]", f"out_dir={tmp_path}"]))
    fit(run)
    with torch.no_grad():
        for p in run.system.G.parameters():
            p.fill_(math.nan)
    result = evaluate(run.system, [IntraFID()], n_samples=200, seed=0)
    assert math.isnan(result.values["intra_fd_digits"]), result.values
    assert any("'intra_fid'" in w and "not finite" in w for w in result.warnings), result.warnings


def test_density_coverage_in_blocks_is_the_whole_matrix_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It built the whole (real, real) float64 matrix: 800 MB at 10,000 real samples."""
    real, fake = gaussian(50, 4, 21), gaussian(30, 4, 22) * 1.3
    whole_radii = torch.cdist(real, real).kthvalue(6, dim=1).values
    dist = torch.cdist(real, fake)
    density = float((dist < whole_radii[:, None]).sum(0).double().mean() / 5)
    coverage = float((dist.min(1).values < whole_radii).double().mean())
    monkeypatch.setattr(formulas, "DISTANCE_ROWS", 7)  # 8 blocks, the last one short
    got = formulas.density_coverage(fake, real)
    assert got == pytest.approx((density, coverage), abs=1e-12) and 0 < got[1] < 1
