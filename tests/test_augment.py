"""The differentiable augmentations: DiffAugment's (ganhub.tricks.augment) and StyleGAN2-ADA's
pipeline (ganhub.tricks.ada_augment): each op moves what it claims, is drawn as its reference
draws it, and keeps gradients."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor


def test_diffaug_translation_moves_content_and_keeps_gradients() -> None:
    from ganhub.tricks.augment import augment_color, augment_cutout, augment_translation

    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    moved = augment_translation(x, 0.125)  # at most 2 pixels
    ys, xs = torch.nonzero(moved[:, 0] == 1.0, as_tuple=True)[1:]
    assert len(ys) == 64 and (ys - 8).abs().max() <= 2 and (xs - 8).abs().max() <= 2
    assert ((ys != 8) | (xs != 8)).any()
    cut = augment_cutout(torch.ones(32, 3, 16, 16), 0.5)
    zeros = (cut[:, 0] == 0).flatten(1).sum(1)
    assert zeros.max() == 64 and zeros.min() > 0  # an 8x8 square, clipped at the border
    img = torch.rand(8, 3, 16, 16, requires_grad=True)
    augment_color(augment_translation(img, 0.125)).sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def _pipe(*ops: str, translation: float = 0.125, supersample: bool = True) -> Any:
    from ganhub.tricks.ada_augment import AdaPipeline

    return AdaPipeline(ops, translation, supersample=supersample)


ONE, HALF, ZERO = torch.tensor(1.0), torch.tensor(0.5), torch.tensor(0.0)


def test_ada_pipeline_is_the_identity_at_p_zero_and_keeps_double_gradients() -> None:
    """p = 0 leaves every image as it is (every op drawn, none applied); at p = 1 R1's double
    backward runs through the resampling and the colour transform to D's weights."""
    from ganhub.tricks.ada_augment import BGC

    torch.manual_seed(0)
    x = torch.randn(8, 3, 16, 16)
    assert torch.allclose(_pipe(*BGC, "cutout")(x, ZERO), x, atol=1e-5)
    x.requires_grad_(True)
    conv = torch.nn.Conv2d(3, 1, 3)
    out = conv(_pipe(*BGC)(x, ONE)).sum()
    (grad,) = torch.autograd.grad(out, x, create_graph=True)
    grad.pow(2).sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_ada_flips_rotations_and_integer_shifts_move_whole_pixels() -> None:
    """xflip mirrors half the images it is applied to, rotate90 turns by each quarter alike,
    xint shifts by whole pixels mirrored at the border (no zeros come in)."""
    torch.manual_seed(0)
    x = torch.rand(2000, 1, 4, 4)
    flipped = _pipe("xflip")(x, ONE)
    mirrored = (flipped - x.flip(3)).flatten(1).abs().amax(1) < 1e-5
    same = (flipped - x).flatten(1).abs().amax(1) < 1e-5
    assert (mirrored | same).all() and mirrored.float().mean().item() == pytest.approx(
        0.5, abs=0.04
    )
    turned = _pipe("rotate90")(x, ONE)
    quarters = torch.stack(
        [(turned - x.rot90(k, (2, 3))).flatten(1).abs().amax(1) < 1e-5 for k in range(4)]
    )
    assert quarters.any(0).all()
    assert quarters.float().mean(1).tolist() == pytest.approx([0.25] * 4, abs=0.04)
    x = torch.rand(256, 1, 8, 8) + 1.0
    moved = _pipe("xint", translation=0.25)(x, ONE)
    assert (moved > 0.99).all() and (moved - x).flatten(1).abs().amax(1).gt(1e-4).any()
    padded = torch.nn.functional.pad(x, [2, 2, 2, 2], mode="reflect")  # shifts of <= 2 px
    for k in range(16):
        windows = [padded[k, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.allclose(moved[k], w, atol=1e-5) for w in windows)


def test_ada_resampling_maps_centred_pixel_coordinates() -> None:
    """The geometry is a map from output to input pixel coordinates about the image centre: a
    scale of 1/2 zooms in 2x about the centre, a whole-pixel translation mirrors the edge; the
    continuous ops keep a constant image constant (the mirror brings in no zeros)."""
    from ganhub.tricks.ada_augment import GEOMETRIC, resample

    def affine(*rows: list[float]) -> Tensor:  # (1, 2, 3): output -> input coordinates
        return torch.tensor([list(rows)], dtype=torch.float32)

    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    zoomed = resample(ramp, affine([0.5, 0, 0], [0, 0.5, 0]))
    assert torch.allclose(zoomed[0, 0, 4], 3.5 + (torch.arange(8.0) - 3.5) / 2, atol=1e-5)
    shifted = resample(ramp, affine([1, 0, -1], [0, 1, 0]))  # content moves right by one
    assert shifted[0, 0, 0].tolist() == pytest.approx([1, 0, 1, 2, 3, 4, 5, 6], abs=1e-5)
    flat = torch.full((64, 3, 8, 8), 0.3)
    assert torch.allclose(_pipe(*GEOMETRIC)(flat, ONE), flat, atol=1e-5)


def test_ada_resamples_at_twice_the_resolution_as_stylegan2_ada() -> None:
    """Images over 9 px go through resample2x (the reference's sym6 wavelet up- and
    downsampling): the identity and whole-pixel shifts give the image back, border included;
    zooming out of a pattern finer than the output's pixels filters it out, where bilinear
    sampling at the image's own size aliases it into a flat full-contrast image; a 45-degree
    turn of it aliases a quarter as much."""
    from ganhub.tricks.ada_augment import SYM6, resample, resample2x, supersampling

    f = supersampling(torch.tensor(SYM6) / sum(SYM6), 32, 32)

    def affine(*rows: list[float]) -> Tensor:  # (1, 2, 3): output -> input coordinates
        return torch.tensor([list(rows)], dtype=torch.float32)

    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(resample2x(x, affine([1, 0, 0], [0, 1, 0]), f), x, atol=1e-5)
    shifted = resample2x(x, affine([1, 0, 3], [0, 1, -2]), f)  # reads 3 px right, 2 px up
    padded = torch.nn.functional.pad(x, [6, 6, 6, 6], mode="reflect")
    assert torch.allclose(shifted, padded[..., 4:36, 9:41], atol=1e-5)
    i = torch.arange(32)
    checks = (((i[:, None] + i) % 2).float() * 2 - 1).view(1, 1, 32, 32)  # period 2 px
    zoom_out = affine([2, 0, 0.5], [0, 2, 0.5])
    inner = (..., slice(8, 24), slice(8, 24))
    assert resample(checks, zoom_out)[inner].abs().mean() > 0.99
    assert resample2x(checks, zoom_out, f)[inner].abs().max() < 1e-3
    c = math.sqrt(0.5)
    turn = affine([c, -c, 0], [c, c, 0])
    aliased = resample(checks, turn)[inner].abs().mean()
    assert resample2x(checks, turn, f)[inner].abs().mean() < aliased / 4
    for supersample in (True, False):  # True is the default
        pipe = _pipe("rotate", "xfrac", supersample=supersample)
        torch.manual_seed(1)
        out = pipe(x, ONE)
        torch.manual_seed(1)
        g = pipe.geometry(x, ONE)
        expected = resample2x(x, g, f) if supersample else resample(x, g)
        assert torch.allclose(out, expected, atol=1e-6)


def test_ada_rotations_together_happen_with_probability_p() -> None:
    """The two rotations are each drawn at 1 - sqrt(1 - p), so some rotation happens with p."""
    torch.manual_seed(0)
    x = torch.rand(4000, 1, 4, 4)
    changed = (_pipe("rotate")(x, HALF) - x).flatten(1).abs().amax(1) > 1e-4
    assert changed.float().mean().item() == pytest.approx(0.5, abs=0.03)


def test_ada_colour_ops_follow_stylegan2_ada_distributions() -> None:
    """brightness adds N(0, 0.2), contrast scales by 2^N(0, 0.5) about 0, lumaflip mirrors the
    luma of half, hue turns about the luma axis, saturation scales the chroma by 2^N(0, 1):
    luma and chroma move exactly as each claims."""
    torch.manual_seed(0)
    x = torch.randn(4000, 3, 2, 2)

    def luma(t: Tensor) -> Tensor:
        return t.mean(1, keepdim=True)

    def chroma(t: Tensor) -> Tensor:
        return (t - luma(t)).flatten(1).norm(dim=1)

    shift = _pipe("brightness")(x, ONE) - x
    assert (shift - shift[:, :1, :1, :1]).abs().max() < 1e-5
    assert shift[:, 0, 0, 0].std().item() == pytest.approx(0.2, abs=0.01)
    gain = _pipe("contrast")(x, ONE) / x
    assert gain[:, 0, 0, 0].log2().std().item() == pytest.approx(0.5, abs=0.03)
    flipped = _pipe("lumaflip")(x, ONE)
    negated = (luma(flipped) + luma(x)).flatten(1).abs().amax(1) < 1e-5
    assert negated.float().mean().item() == pytest.approx(0.5, abs=0.03)
    assert torch.allclose(chroma(flipped), chroma(x), atol=1e-4)
    turned = _pipe("hue")(x, ONE)
    assert torch.allclose(luma(turned), luma(x), atol=1e-5)
    assert torch.allclose(chroma(turned), chroma(x), atol=1e-4)
    assert (turned - x).abs().flatten(1).amax(1).gt(1e-3).float().mean() > 0.95
    saturated = _pipe("saturation")(x, ONE)
    assert torch.allclose(luma(saturated), luma(x), atol=1e-5)
    assert (chroma(saturated) / chroma(x)).log2().std().item() == pytest.approx(1.0, abs=0.05)


def test_ada_colour_on_grey_images_and_stacked_pairs() -> None:
    """One channel: hue and saturation do nothing, lumaflip negates (the reference's grey rule);
    a translation pair stacked on channels gets one draw for both images."""
    from ganhub.tricks.ada_augment import BGC

    torch.manual_seed(0)
    grey = torch.randn(2000, 1, 4, 4)
    assert torch.allclose(_pipe("hue", "saturation")(grey, ONE), grey, atol=1e-6)
    flipped = _pipe("lumaflip")(grey, ONE)
    negated = (flipped + grey).flatten(1).abs().amax(1) < 1e-5
    assert negated.float().mean().item() == pytest.approx(0.5, abs=0.04)
    rgb = torch.randn(64, 3, 8, 8)
    pair = _pipe(*BGC)(torch.cat([rgb, rgb], dim=1), ONE)
    assert torch.allclose(pair[:, :3], pair[:, 3:], atol=1e-6)
    assert not torch.allclose(pair[:, :3], rgb, atol=1e-2)


def test_ada_op_names_and_the_earlier_names() -> None:
    """translation and color, saved in earlier runs' configs, name the reference's ops."""
    from ganhub.tricks.ada_augment import BGC, AdaPipeline
    from ganhub.tricks.augmenters import AdaConfig

    pipe = AdaPipeline(["translation", "color", "cutout"])
    assert pipe.geometric == ("xint",) and pipe.color == ("brightness", "contrast", "saturation")
    assert pipe.cutout == 0.5 and tuple(AdaConfig().ops) == BGC
    chosen = AdaConfig(ops=["noise", "imgfilter", "xflip"]).ops
    pipe = AdaPipeline(chosen)
    assert pipe.imgfilter and pipe.noise and pipe.geometric == ("xflip",) and not pipe.color
    with pytest.raises(ValueError, match="unknown ADA ops"):
        AdaPipeline(["zoom"])


def test_ada_imgfilter_bank_and_filtering_are_stylegan2_ada_s() -> None:
    """The four band-pass filters are built as the reference builds `Hz_fbank` (numpy, from
    the sym2 wavelet), add up to the unit impulse, and filter as the reference's grouped
    convolutions over a reflection-padded image."""
    import numpy as np
    import torch.nn.functional as F

    from ganhub.tricks.ada_augment import SYM2, band_filter, filter_bank

    lo = np.asarray(SYM2)
    hi = lo * ((-1) ** np.arange(lo.size))
    lo2, hi2 = np.convolve(lo, lo[::-1]) / 2, np.convolve(hi, hi[::-1]) / 2
    expected = np.eye(4, 1)
    for band in range(1, 4):
        expected = np.dstack([expected, np.zeros_like(expected)]).reshape(4, -1)[:, :-1]
        expected = np.stack([np.convolve(row, lo2) for row in expected])
        start = (expected.shape[1] - hi2.size) // 2
        expected[band, start : start + hi2.size] += hi2
    bank = filter_bank()
    assert bank.shape == (4, 43)
    assert np.abs(bank.double().numpy() - expected).max() < 1e-6
    impulse = torch.zeros(43)
    impulse[21] = 1
    assert torch.allclose(bank.sum(0), impulse, atol=1e-6)

    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    taps = torch.exp2(torch.randn(4, 4)) @ bank
    weight = taps.repeat_interleave(3, dim=0).view(12, 1, 1, 43)
    ref = F.pad(x.view(1, 12, 32, 32), [21] * 4, mode="reflect")
    ref = F.conv2d(F.conv2d(ref, weight, groups=12), weight.transpose(2, 3), groups=12)
    out = band_filter(x, taps)
    assert torch.allclose(out, ref.view_as(x), atol=1e-5)
    assert (out - x).abs().max() > 1  # the gains changed the images
    assert band_filter(torch.randn(2, 1, 5, 7), taps[:2]).shape == (2, 1, 5, 7)  # folded


def test_ada_imgfilter_scales_bands_per_image_and_noise_adds_n_0_01() -> None:
    """imgfilter at p = 1 scales a flat image (all in the lowest band) by a gain drawn per
    image; noise adds N(0, sigma^2) with sigma = |N(0, 0.1)| per image, to a share p of them;
    at p = 0 both give the images back and both keep R1's double gradients."""
    torch.manual_seed(0)
    flat = torch.ones(256, 3, 16, 16)
    out = _pipe("imgfilter")(flat, ONE)
    per_image = out.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-4)
    assert per_image[:, 0].log2().std() > 0.5  # gains differ from image to image
    zeros = torch.zeros(4096, 1, 8, 8)
    sigma = _pipe("noise")(zeros, ONE).flatten(1).std(dim=1)
    assert abs(sigma.mean().item() - 0.1 * math.sqrt(2 / math.pi)) < 0.004
    untouched = (_pipe("noise")(zeros, HALF).flatten(1) == 0).all(dim=1).float().mean()
    assert abs(untouched.item() - 0.5) < 0.04
    x = torch.randn(8, 3, 32, 32)
    assert torch.allclose(_pipe("imgfilter", "noise")(x, ZERO), x, atol=1e-5)
    x.requires_grad_(True)
    conv = torch.nn.Conv2d(3, 1, 3)
    (grad,) = torch.autograd.grad(conv(_pipe("imgfilter")(x, ONE)).sum(), x, create_graph=True)
    grad.pow(2).sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
