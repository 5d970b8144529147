"""The metrics against answers worked out by hand on tiny cases: the Frechet distance of two
Gaussians with non-commuting covariances, precision/recall and density/coverage of points placed
on a line, digit_modes' scores of known histograms, and the feature metrics end to end on a
"generator" that returns the real samples themselves."""

from __future__ import annotations

import math

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.metrics import evaluate, formulas
from ganhub.metrics.builtin import digit_scores
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def with_moments(mean: list[float], cov: list[list[float]], n: int = 50) -> torch.Tensor:
    """n points whose sample mean and (unbiased) covariance are exactly `mean` and `cov`."""
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # sample covariance I
    colour = torch.linalg.cholesky(torch.tensor(cov, dtype=torch.float64))
    return z @ colour.T + torch.tensor(mean, dtype=torch.float64)


def test_frechet_distance_of_gaussians_with_non_commuting_covariances() -> None:
    """S1 = [[2, 1], [1, 2]], S2 = diag(1, 4): Tr (S1 S2)^(1/2) = Tr (S2^½ S1 S2^½)^(1/2), and
    S2^½ S1 S2^½ = [[2, 2], [2, 8]] (trace 10, det 12) has a square root of trace
    √(10 + 2 √12); with ||mu1 - mu2||^2 = 1 + 4 the distance is 14 - 2 √(10 + 4 √3) = 5.7712."""
    a = formulas.gaussian_stats(with_moments([0.0, 0.0], [[2.0, 1.0], [1.0, 2.0]]))
    b = formulas.gaussian_stats(with_moments([1.0, 2.0], [[1.0, 0.0], [0.0, 4.0]]))
    expected = 14 - 2 * math.sqrt(10 + 4 * math.sqrt(3))
    assert formulas.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert formulas.frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)  # symmetric


def on_a_line(*xs: float) -> torch.Tensor:
    """Points (x, 0) in the plane."""
    return torch.tensor([[x, 0.0] for x in xs], dtype=torch.float64)


def test_precision_and_recall_of_points_placed_by_hand() -> None:
    """k = 3. Real 0..4: each ball reaches the 3rd nearest other real (radii 3, 2, 2, 2, 3),
    together [-3, 7]. Generated: 0.2, 0.4, 0.6, 0.8 inside it and 100, 100.2, 100.4, 100.6
    outside: precision 4 / 8. Their balls (radii 0.6, 0.4, 0.4, 0.6 near 0) cover [-0.4, 1.4]
    and a stretch around 100: of the reals only 0 and 1, recall 2 / 5."""
    real = on_a_line(0, 1, 2, 3, 4)
    fake = on_a_line(0.2, 0.4, 0.6, 0.8, 100, 100.2, 100.4, 100.6)
    assert formulas.precision_recall(fake, real, k=3) == pytest.approx((0.5, 0.4), abs=1e-7)
    # the roles swap with the sets: precision of the reals against the generated manifold
    assert formulas.precision_recall(real, fake, k=3) == pytest.approx((0.4, 0.5), abs=1e-7)


def test_density_and_coverage_of_points_placed_by_hand() -> None:
    """k = 5. Real 0..5 and 100..105: each ball reaches the farthest real of its group (radii
    5, 4, 3, 3, 4, 5). Generated 2.5 lies in all six balls of 0..5, 9.5 in the ball of 5 only
    (4.5 < 5; 5.5 from 4 > 4), 200 in none: density (6 + 1 + 0) / (3 * 5) = 7/15; the six
    reals of 0..5 hold a generated sample, those of 100..105 none: coverage 1/2."""
    real = on_a_line(0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105)
    fake = on_a_line(2.5, 9.5, 200)
    density, coverage = formulas.density_coverage(fake, real, k=5)
    assert density == pytest.approx(7 / 15, abs=1e-12) and coverage == 0.5


def test_kid_of_a_set_with_itself_is_negative_as_worked_out_by_hand() -> None:
    """1-d features {0, 1}, the cubic kernel k(a, b) = (a b / d + 1)^3: k(0, 0) = k(0, 1) = 1,
    k(1, 1) = 8. The unbiased MMD^2 averages the within-set terms off the diagonal (1 and 1)
    and the cross terms over all pairs ((1 + 1 + 1 + 8) / 4): 1 + 1 - 2 * 11/4 = -3.5."""
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    assert formulas.kid(x, x, seed=0, subsets=1)[0] == pytest.approx(-3.5, rel=1e-12)
    y = torch.tensor(
        [[0.0], [2.0]], dtype=torch.float64
    )  # k(0, 2) = 1, k(2, 2) = 125, k(1, 2) = 27
    assert formulas.kid(x, y, seed=0, subsets=1)[0] == pytest.approx(1 + 1 - 2 * 30 / 4)


def test_digit_scores_of_known_histograms() -> None:
    uniform = torch.full((10,), 0.1, dtype=torch.float64)
    assert digit_scores(torch.full((10,), 30), uniform) == {"digit_classes": 10, "digit_kl": 0.0}
    one = torch.zeros(10, dtype=torch.long)
    one[3] = 50
    expected = {"digit_classes": 1, "digit_kl": math.log(10)}
    assert digit_scores(one, uniform) == pytest.approx(expected)
    # digits 0 and 1 trained at 3:1; samples 60 zeros, 20 ones, 20 sevens (untrained)
    shares = torch.zeros(10, dtype=torch.float64)
    shares[:2] = torch.tensor([0.75, 0.25])
    counts = torch.zeros(10, dtype=torch.long)
    counts[0], counts[1], counts[7] = 60, 20, 20
    # on trained digits exactly 3:1 (KL 0), plus ln(100 / 80) for the fifth that is not
    assert digit_scores(counts, shares) == pytest.approx(
        {"digit_classes": 2, "digit_kl": math.log(1.25), "digit_other": 0.2}
    )
    # none of n samples on a trained digit: ln(2 n)
    only_sevens = torch.zeros(10, dtype=torch.long)
    only_sevens[7] = 40
    assert digit_scores(only_sevens, shares)["digit_kl"] == pytest.approx(math.log(80))
    # a tenth of its share is the least that counts as covered: 1 of 100 for a share of 0.1
    edge = torch.full((10,), 11)
    edge[4] = 1
    assert digit_scores(edge, uniform)["digit_classes"] == 10
    edge[4], edge[5] = 0, 12
    assert digit_scores(edge, uniform)["digit_classes"] == 9


def test_feature_metrics_score_the_real_samples_themselves_as_perfect() -> None:
    """A "generator" returning the very real samples the metrics compare with: both sets go
    through the same feature network and preprocessing, so FD 0, precision, recall and coverage
    1 (an asymmetry between the generated and the real path shows here first)."""
    run = make_run(resolve([*TINY_DCGAN, "eval.n_real=40"]))
    system = run.system
    real = system.real_samples(40)
    system.sample = lambda n, **_: real[:n]  # type: ignore[method-assign]
    hub = get_hub().metrics
    metrics = [hub.get(name) for name in ("fid", "precision_recall", "density_coverage")]
    values = evaluate(system, metrics, n_samples=40, seed=0).values
    assert values["fd_digits"] == pytest.approx(0.0, abs=1e-6)
    assert values["precision_digits"] == values["recall_digits"] == 1.0
    assert values["coverage_digits"] == 1.0 and values["n_real"] == values["n_samples"] == 40
