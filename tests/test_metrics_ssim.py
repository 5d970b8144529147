"""SSIM and MS-SSIM against their definitions (Wang et al. 2004, 2003), the [0, 1] shift of the
cyclegan and medgan scores, and the Inception Score's splits and Stacked-MNIST logits."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from ganhub.errors import UsageError
from ganhub.metrics import formulas

C1, C2 = 0.01**2, 0.03**2  # (K1 L)^2, (K2 L)^2 with data range L = 1
WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def smooth(n: int, c: int, size: int, seed: int) -> torch.Tensor:
    """Images in [-1, 1] with structure at a few pixels' scale (more like images than noise)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, size + 4, size + 4, generator=gen, dtype=torch.float64)
    return (torch.nn.functional.avg_pool2d(x, 5, 1) * 4 - 2).clamp(-1, 1)


def ref_maps(x: np.ndarray, y: np.ndarray, taps: int, sigma: float) -> tuple[np.ndarray, ...]:
    """(SSIM map, cs map) of two (H, W) images in [0, 1], from the definition in float64: the
    Gaussian-weighted means, variances and covariance of every window that fits."""
    g = np.exp(-0.5 * ((np.arange(taps) - (taps - 1) / 2) / sigma) ** 2)
    w = np.outer(g, g) / np.outer(g, g).sum()
    wx, wy = sliding_window_view(x, (taps, taps)), sliding_window_view(y, (taps, taps))
    mx, my = (wx * w).sum((-2, -1)), (wy * w).sum((-2, -1))
    dx, dy = wx - mx[..., None, None], wy - my[..., None, None]
    vx, vy, cov = (
        (w * dx * dx).sum((-2, -1)),
        (w * dy * dy).sum((-2, -1)),
        (w * dx * dy).sum((-2, -1)),
    )
    cs = (2 * cov + C2) / (vx + vy + C2)
    return (2 * mx * my + C1) / (mx**2 + my**2 + C1) * cs, cs


def ref_ms_ssim(x: np.ndarray, y: np.ndarray, scales: int) -> float:
    """Wang et al. 2003 with 11-tap windows, 2x2 averaging between scales, the first `scales`
    weights renormalised, a negative mean cs taken as 0."""
    betas = WEIGHTS[:scales] / WEIGHTS[:scales].sum()
    out = 1.0
    for j, beta in enumerate(betas):
        if j:
            h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
            x = x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
            y = y[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
        s, cs = ref_maps(x, y, 11, 1.5)
        out *= max(0.0, float((s if j == scales - 1 else cs).mean())) ** beta
    return out


def test_ssim_is_wangs_definition_on_the_positions_where_the_window_fits() -> None:
    x, y = smooth(3, 1, 14, 0), smooth(3, 1, 14, 1)  # 14 x 14: a 4 x 4 grid of 11 px windows
    ssim, _ = formulas.pairwise_ssim(x, y)
    ux, uy = ((x + 1) / 2).numpy(), ((y + 1) / 2).numpy()
    ref = [ref_maps(ux[i, 0], uy[i, 0], 11, 1.5)[0].mean() for i in range(3)]
    assert ssim == pytest.approx(float(np.mean(ref)), abs=1e-9)


def test_ssim_of_known_images() -> None:
    x = smooth(4, 3, 32, 2)
    assert formulas.pairwise_ssim(x, x) == pytest.approx((1.0, 1.0), abs=1e-12)
    # constant images c1, c2 in [0, 1]: every variance is 0, SSIM is the luminance term
    for a, b in ((0.2, 0.7), (0.0, 1.0), (0.5, 0.5)):
        expected = (2 * a * b + C1) / (a * a + b * b + C1)
        xa, xb = (torch.full((1, 1, 24, 24), v, dtype=torch.float64) for v in (a, b))
        assert float(formulas.ssim(xa, xb)) == pytest.approx(expected, rel=1e-12)
        # MS-SSIM: every contrast-structure term is 1; the coarsest luminance, to its weight
        beta = WEIGHTS[1] / WEIGHTS[:2].sum()  # 24 px: two scales
        assert float(formulas.ms_ssim(xa, xb)) == pytest.approx(expected**beta, rel=1e-9)
    # SSIM is defined on intensities in [0, L]: the [-1, 1] images are shifted first
    black, grey = torch.full((1, 1, 16, 16), -1.0), torch.zeros(1, 1, 16, 16)
    assert formulas.pairwise_ssim(black, grey)[0] == pytest.approx(C1 / (0.25 + C1), rel=1e-9)


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    x, y = smooth(2, 3, 32, 3), smooth(2, 3, 32, 4)
    ux, uy = (x + 1) / 2, (y + 1) / 2
    for size, sigma in ((32, 1.5), (8, 1.5 * 7 / 11), (5, 1.5 * 5 / 11)):  # 11, 7, 5 taps
        ours = formulas.ssim(ux[..., :size, :size], uy[..., :size, :size])
        for i in range(2):
            ref = metrics.structural_similarity(
                ux[i, :, :size, :size].numpy(), uy[i, :, :size, :size].numpy(), channel_axis=0,
                data_range=1.0, gaussian_weights=True, sigma=sigma, use_sample_covariance=False,
            )  # fmt: skip
            assert float(ours[i]) == pytest.approx(ref, abs=1e-9)
    ref = np.mean([metrics.structural_similarity(
        ux[i, 0].numpy(), uy[i, 0].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False) for i in range(2)])  # fmt: skip
    assert formulas.pairwise_ssim(x[:, :1], y[:, :1])[0] == pytest.approx(ref, abs=1e-9)


def test_ms_ssim_is_wangs_definition() -> None:
    x, y = smooth(2, 1, 45, 5), smooth(2, 1, 45, 6)  # 45, 22, 11 px: three scales
    y = (0.7 * x + 0.3 * y).clamp(-1, 1)  # similar enough that every mean cs is positive
    _, ms = formulas.pairwise_ssim(x, y)
    ux, uy = ((x + 1) / 2).numpy(), ((y + 1) / 2).numpy()
    assert ms == pytest.approx(np.mean([ref_ms_ssim(ux[i, 0], uy[i, 0], 3) for i in range(2)]))


def test_ms_ssim_scales_and_windows_follow_the_stated_rule() -> None:
    full = tuple(WEIGHTS / WEIGHTS.sum())
    assert formulas.ms_ssim_settings(176) == (pytest.approx(full), 11)
    # fewer scales where the coarsest would be narrower than the 11 px window
    for size, scales in ((175, 4), (128, 4), (64, 3), (32, 2), (22, 2), (21, 1), (11, 1)):
        betas, taps = formulas.ms_ssim_settings(size)
        assert (len(betas), taps) == (scales, 11), size
        assert betas == pytest.approx(tuple(WEIGHTS[:scales] / WEIGHTS[:scales].sum()))
    # below 11 px the largest odd window that fits, its sigma scaled with it
    assert [formulas.ssim_window(s) for s in (10, 8, 7, 4, 3)] == [
        (9, pytest.approx(1.5 * 9 / 11)), (7, pytest.approx(1.5 * 7 / 11)),
        (7, pytest.approx(1.5 * 7 / 11)), (3, pytest.approx(1.5 * 3 / 11)),
        (3, pytest.approx(1.5 * 3 / 11)),
    ]  # fmt: skip


@pytest.mark.parametrize(("c", "h", "w"), [(1, 45, 45), (3, 32, 40), (2, 9, 14), (3, 3, 5)])
def test_ssim_from_ms_ssims_first_scale_is_the_separate_ssim(c: int, h: int, w: int) -> None:
    x = (smooth(3, c, max(h, w), 9)[..., :h, :w] + 1) / 2
    y = (0.6 * x + 0.4 * (smooth(3, c, max(h, w), 10)[..., :h, :w] + 1) / 2).clamp(0, 1)
    s, ms = formulas.ssim_and_ms_ssim(x, y)
    assert torch.equal(s, formulas.ssim(x, y)) and torch.equal(ms, formulas.ms_ssim(x, y))
    both = formulas.pairwise_ssim(x * 2 - 1, y * 2 - 1)
    assert both == pytest.approx((s.mean().item(), ms.mean().item()), abs=1e-12)


@pytest.mark.parametrize("size", [3, 4, 8, 16, 23])
def test_small_images_are_scored_not_crashed(size: int) -> None:
    x, y = smooth(4, 3, size, 7), smooth(4, 3, size, 8)
    ssim, ms = formulas.pairwise_ssim(x, y)
    assert -1 <= ssim <= 1 and 0 <= ms <= 1
    assert formulas.pairwise_ssim(x, x) == pytest.approx((1.0, 1.0), abs=1e-12)


def test_images_under_3_px_are_refused_in_one_line() -> None:
    with pytest.raises(UsageError, match="at least 3 px"):
        formulas.pairwise_ssim(torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 2, 2))


# -- the domains' SSIM: on [0, 1] -------------------------------------------------------------


def test_cyclegan_scores_ssim_on_images_shifted_to_0_1() -> None:
    from ganhub_cyclegan.metrics import TranslationPSNRSSIM

    a, b = torch.full((2, 3, 16, 16), 1.0), torch.full((2, 3, 16, 16), 0.5)  # 1.0 and 0.75
    system = SimpleNamespace(
        heldout_pairs=lambda: (a, b), device=torch.device("cpu"), directions=("AtoB",),
        translate=lambda x, name, seed=0: x, data_direction=lambda name: name,
    )  # fmt: skip
    out = TranslationPSNRSSIM().compute(system, n_samples=2, seed=0)  # type: ignore[arg-type]
    expected = (2 * 1.0 * 0.75 + C1) / (1.0 + 0.75**2 + C1)
    assert out["ssim_AtoB"] == pytest.approx(expected, rel=1e-9)
    assert out["ssim_identity_AtoB"] == pytest.approx(expected, rel=1e-9)
    metrics = pytest.importorskip("skimage.metrics")
    x, y = smooth(2, 3, 24, 9), smooth(2, 3, 24, 10)
    system.heldout_pairs = lambda: (x, y)
    out = TranslationPSNRSSIM().compute(system, n_samples=2, seed=0)  # type: ignore[arg-type]
    ux, uy = ((x + 1) / 2).numpy(), ((y + 1) / 2).numpy()
    ref = np.mean([metrics.structural_similarity(
        ux[i], uy[i], channel_axis=0, data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False) for i in range(2)])  # fmt: skip
    assert out["ssim_AtoB"] == pytest.approx(ref, abs=1e-9)


def test_medgan_scores_ssim_and_ms_ssim_on_images_shifted_to_0_1() -> None:
    pytest.importorskip("monai")
    from ganhub_medgan.metrics import Diversity, Fidelity, ms_ssim_metric

    fake, real = torch.full((2, 1, 32, 32), 1.0), torch.full((2, 1, 32, 32), 0.5)
    batch = SimpleNamespace(conditions=fake, images=real, masks=None)
    system = SimpleNamespace(eval_batch=lambda n: batch, translate_batched=lambda c: c)
    out = Fidelity().compute(system, n_samples=2, seed=0)
    expected = (2 * 1.0 * 0.75 + C1) / (1.0 + 0.75**2 + C1)  # 1.0 and 0.75 on [0, 1]
    assert out["ssim"] == pytest.approx(expected, rel=1e-3)  # MONAI's float32 variances
    # MS-SSIM of constant images: the coarsest luminance term, to its (renormalised) weight
    values = torch.tensor([-1.0, 0.0]).view(2, 1, 1, 1).expand(2, 1, 64, 64)  # 0, 0.5 on [0, 1]
    system = SimpleNamespace(
        eval_batch=lambda n: SimpleNamespace(images=values), sample=lambda n, seed: values
    )
    out = Diversity().compute(system, n_samples=2, seed=0)
    beta = ms_ssim_metric(2, 64).weights[-1]
    assert out["ms_ssim"] == pytest.approx((C1 / (0.25 + C1)) ** beta, rel=1e-3)


# -- Inception Score ---------------------------------------------------------------------------


def test_inception_score_splits_in_order_giving_the_known_value() -> None:
    n, k = 1000, 10
    balanced = torch.full((n, k), -50.0)
    balanced[torch.arange(n), torch.arange(n) % k] = 0  # confident, every class 100 times
    mean, std = formulas.inception_score(balanced, seed=0)
    assert (mean, std) == pytest.approx((10.0, 0.0), abs=1e-9)


def test_a_one_channel_classifier_gives_stacked_mnist_logits_per_channel() -> None:
    from ganhub.metrics.featurenet import FeatureNet, FeatureNetSpec
    from ganhub.metrics.features import LocalExtractor

    spec = FeatureNetSpec(name="toy", kind="classifier", in_channels=1, size=8, classes=10)
    torch.manual_seed(0)
    extractor = LocalExtractor(FeatureNet(spec).eval(), spec)
    images = smooth(5, 3, 8, 11).float()
    out = extractor(images)
    assert out["logits"].shape == (5, 1000) and out["features"].shape[0] == 5
    per = [extractor(images[:, c : c + 1])["logits"].softmax(1) for c in range(3)]
    joint = per[0][:, :, None, None] * per[1][:, None, :, None] * per[2][:, None, None, :]
    # p(a, b, c) = p(a) p(b) p(c), class 100 a + 10 b + c as digit_modes counts modes
    assert out["logits"].softmax(1) == pytest.approx(joint.reshape(5, 1000), abs=1e-6)
    labels = torch.stack([p.argmax(1) for p in per], 1)
    assert out["logits"].argmax(1).tolist() == (labels @ torch.tensor([100, 10, 1])).tolist()
    mean, _ = formulas.inception_score(out["logits"], seed=0)
    assert 1.0 <= mean <= 1000.0


def test_inception_score_equals_torch_fidelity_and_counts_0_log_0_as_0() -> None:
    isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = torch.randn(600, 10, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    logits = logits * 3
    ours = formulas.inception_score(logits, seed=0)
    theirs = isc.isc_features_to_metric(logits, splits=10, shuffle=False)
    assert ours == pytest.approx((theirs[isc.KEY_METRIC_ISC_MEAN], theirs[isc.KEY_METRIC_ISC_STD]))
    # 4 confident samples of 4 different classes out of 10 in each split: IS is exactly 4
    confident = torch.full((40, 10), -1e4)
    confident[torch.arange(40), torch.arange(40) % 4] = 0
    assert formulas.inception_score(confident, seed=0) == pytest.approx((4.0, 0.0), abs=1e-9)


def test_joint_classes_past_the_cap_are_refused_in_one_line() -> None:
    from ganhub.metrics.featurenet import FeatureNet, FeatureNetSpec
    from ganhub.metrics.features import LocalExtractor

    spec = FeatureNetSpec(name="wide", kind="classifier", in_channels=1, size=8, classes=50)
    extractor = LocalExtractor(FeatureNet(spec).eval(), spec)
    assert extractor(smooth(2, 2, 8, 1).float())["logits"].shape == (2, 2500)
    with pytest.raises(UsageError, match=r"'wide' has 50 classes a channel.*\(125,000\)"):
        extractor(smooth(2, 3, 8, 1).float())
