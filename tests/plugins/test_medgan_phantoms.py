"""medgan's embedded data and image statistics: the phantoms, lesion growth between scans,
lesion segmentation, growth scores and texture ratios."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("monai")

from ganhub_medgan.metrics import (
    energy_ratio,
    growth_scores,
    high_frequency_energy,
    lesion_interior_and_rim,
    segment_lesions,
    texture_ratios,
)
from ganhub_medgan.phantoms import (
    CSF,
    LESION,
    WHITE,
    gaussian_blur,
    grow_lesions,
    make_phantoms,
    make_progression,
)


def test_phantoms_are_deterministic_with_lesions_in_white_matter() -> None:
    a = make_phantoms(6, 32, 2, seed=3)
    b = make_phantoms(6, 32, 2, seed=3)
    assert torch.equal(a.images["t2"], b.images["t2"]) and torch.equal(a.lesions, b.lesions)
    assert (
        a.images["t1"].shape == (6, 1, 32, 32)
        and a.images["t1"].min() >= -1
        and a.images["t1"].max() <= 1
    )
    assert (a.lesions.flatten(1).sum(1) > 0).all()
    lesion, white, csf = (a.labels == LESION), (a.labels == WHITE), (a.labels == CSF)
    t1, t2 = a.images["t1"], a.images["t2"]
    assert t1[lesion].mean() < t1[white].mean() and t2[lesion].mean() > t2[white].mean()
    assert (
        t2[csf].mean() > t1[csf].mean()
        and a.images["flair"][csf].mean() < a.images["flair"][lesion].mean()
    )
    healthy = make_phantoms(2, 32, 3, seed=0, lesions=False, contrasts=("t2",))
    assert healthy.images["t2"].shape == (2, 1, 32, 32, 32) and healthy.lesions.sum() == 0


def test_lesions_grow_by_a_disc_into_the_room_they_are_given() -> None:
    seed = torch.zeros(1, 1, 15, 15)
    seed[..., 7, 7] = 1
    everywhere = torch.ones_like(seed, dtype=torch.bool)
    disc = grow_lesions(seed, everywhere, 2)
    assert disc.sum() == 13  # the voxels within distance 2 of the centre
    assert disc[..., 7, 5] == 1 and disc[..., 6, 6] == 1 and disc[..., 5, 5] == 0
    left_half = everywhere.clone()
    left_half[..., 8:] = False  # no room on the right: growth stops there, the lesion stays
    walled = grow_lesions(seed, left_half, 2)
    assert walled.sum() == 9 and walled[..., 8:].sum() == 0 and walled[..., 7, 7] == 1
    assert torch.equal(grow_lesions(seed, everywhere, 0), seed)
    ball = grow_lesions(
        torch.nn.functional.pad(seed[..., None], (7, 7)),
        everywhere[..., None].expand(-1, -1, -1, -1, 15),
        1,
    )
    assert ball.sum() == 7  # the centre and its six face neighbours


def test_progression_pairs_share_the_head_and_differ_where_lesions_grew() -> None:
    a = make_progression(8, 32, 2, seed=3, growth=2)
    b = make_progression(8, 32, 2, seed=3, growth=2)
    assert torch.equal(a.followup, b.followup) and torch.equal(a.grown, b.grown)
    assert a.baseline.shape == a.followup.shape == (8, 1, 32, 32)
    assert (a.grown >= a.lesions).all() and (
        a.grown.flatten(1).sum(1) > a.lesions.flatten(1).sum(1)
    ).all()
    # the lesions grow into white matter only: the same heads without lesions tell which it is
    healthy = make_phantoms(8, 32, 2, seed=3, lesions=False)
    new = (a.grown - a.lesions) > 0
    assert (healthy.labels[new] == WHITE).all()
    change = (a.followup - a.baseline).abs()
    # FLAIR lesions are bright: the new lesion voxels change a lot, the rest by noise only
    assert change[new].mean() > 0.4 and change[~new & (a.lesions == 0)].mean() < 0.1


def test_growth_scores_rank_the_true_follow_up_above_the_unchanged_baseline() -> None:
    pr = make_progression(8, 64, 2, seed=1, growth=2)  # the default size (the rule needs it)
    new = pr.grown - pr.lesions
    truth = growth_scores(pr.followup, pr.grown, new, pr.followup)
    unchanged = growth_scores(pr.baseline, pr.grown, new, pr.followup)
    assert truth["dice"] > 0.8 and truth["new_recall"] > 0.8 and truth["volume_error"] < 0.2
    assert unchanged["new_recall"] < 0.1 and unchanged["dice"] < truth["dice"] - 0.2
    assert unchanged["volume_error"] > truth["volume_error"] + 0.2


def test_lesion_segmentation_and_texture_statistics() -> None:
    from monai.metrics import compute_dice

    ph = make_phantoms(8, 32, 2, seed=1, contrasts=("flair",))
    real, masks = ph.images["flair"], ph.lesions
    dice_real = torch.nanmean(compute_dice(segment_lesions(real, masks, real), masks))
    assert dice_real > 0.5
    erased = torch.where(
        masks > 0, torch.full_like(real, real.median()), real
    )  # lesions painted out
    assert torch.nanmean(compute_dice(segment_lesions(erased, masks, real), masks)) < dice_real / 2
    smooth = gaussian_blur(real, 1.0)
    assert high_frequency_energy(smooth).mean() < 0.5 * high_frequency_energy(real).mean()
    region = torch.zeros_like(real)
    region[..., 10:20, 10:20] = 1
    noisy = real.clone()
    noisy[..., :5, :5] += torch.randn(noisy[..., :5, :5].shape)  # outside the region: not counted
    torch.testing.assert_close(
        high_frequency_energy(noisy, region), high_frequency_energy(real, region)
    )
    assert not torch.allclose(high_frequency_energy(noisy), high_frequency_energy(real))


def test_texture_ratio_is_one_for_real_below_for_blur_above_for_noise() -> None:
    ph = make_phantoms(16, 64, 2, seed=1, contrasts=("flair",))
    real, masks = ph.images["flair"], ph.lesions
    torch.manual_seed(0)
    noisy = real + 0.1 * torch.randn_like(real)
    for region in (masks, None):  # lesion interiors and rims; whole images (translate)
        same = texture_ratios(real, real, region)
        assert set(same) == (
            {"texture_ratio", "edge_ratio"} if region is not None else {"texture_ratio"}
        )
        assert all(v == pytest.approx(1.0) for v in same.values())
        assert all(v < 0.8 for v in texture_ratios(gaussian_blur(real, 1.0), real, region).values())
        assert all(v > 1.2 for v in texture_ratios(noisy, real, region).values())


def test_texture_ratio_sees_the_lesion_interior_and_edge_ratio_its_rim() -> None:
    ph = make_phantoms(16, 64, 2, seed=1, contrasts=("flair",))
    real, masks = ph.images["flair"], ph.lesions
    interior, rim = lesion_interior_and_rim(masks)
    torch.testing.assert_close(interior + rim, masks)  # a partition of the mask
    assert interior.sum() > 0 and (interior * rim).sum() == 0
    # each lesion painted flat at its mean with a hard edge: no texture inside, sharper edges
    # than the real soft rims (over the whole mask this read as 1.9x "noisier than real")
    mean = ((real * masks).flatten(1).sum(1) / masks.flatten(1).sum(1)).view(-1, 1, 1, 1)
    flat = torch.where(masks > 0, mean.expand_as(real), real)
    ratios = texture_ratios(flat, real, masks)
    assert ratios["texture_ratio"] == pytest.approx(0.0, abs=1e-6) and ratios["edge_ratio"] > 1.2
    assert energy_ratio(flat, real, masks) > 1.2
    # lesions too small for an interior (single voxels) have no texture_ratio, still an edge one
    dots = torch.zeros_like(masks)
    dots[:, :, 32, 32] = 1
    small = texture_ratios(real, real, dots)
    assert math.isnan(small["texture_ratio"]) and small["edge_ratio"] == pytest.approx(1.0)
