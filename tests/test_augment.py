"""The differentiable augmentations `diffaug` and `ada` share (ganhub.tricks.augment): each op
moves what it claims, keeps gradients, and ADA's are drawn as StyleGAN2-ADA draws them."""

from __future__ import annotations

import pytest
import torch


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


def test_ada_ops_are_random_and_drawn_as_in_stylegan2_ada() -> None:
    """xflip mirrored every image it was applied to (at p=1 a fixed transform: StyleGAN2-ADA
    mirrors half); color was one draw against p where ADA draws brightness, saturation and
    contrast each on its own."""
    from ganhub.tricks.augment import apply_with_probability, make_ops

    torch.manual_seed(0)
    x = torch.arange(4.0).view(1, 1, 1, 4).expand(4000, 3, 2, 4).contiguous()
    flipped = apply_with_probability(x, make_ops(["xflip"], 0.125, 0.5), torch.tensor(1.0))
    share = (flipped[:, 0, 0, 0] == 3.0).float().mean().item()
    assert share == pytest.approx(0.5, abs=0.03)
    x = torch.randn(4000, 3, 2, 2)
    ops = make_ops(["color"], 0.125, 0.5, ada=True)
    assert len(ops) == 3
    out = apply_with_probability(x, ops, torch.tensor(0.5))
    untouched = (out == x).flatten(1).all(1).float().mean().item()
    assert untouched == pytest.approx(0.5**3, abs=0.03)  # each of three skipped with 1 - p
    # translation fills with the mirrored image (ADA's reflect padding), DiffAugment's zeros
    x = torch.rand(256, 1, 8, 8) + 1.0
    (translate,) = make_ops(["translation"], 0.25, 0.5, ada=True)
    (zero_filled,) = make_ops(["translation"], 0.25, 0.5)
    moved = translate(x)
    assert (moved > 0).all() and (moved != x).flatten(1).any(1).float().mean() > 0.5
    assert (zero_filled(x) == 0).flatten(1).any(1).any()
    padded = torch.nn.functional.pad(x, [2, 2, 2, 2], mode="reflect")  # shifts of <= 2 px
    for k in range(8):
        windows = [padded[k, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(moved[k], w) for w in windows)  # a shift, mirrored at the border
