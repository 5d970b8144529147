"""`ganhub.tricks.weights.initialise_weights`: the one init by layer kind that the `init` trick
and medgan's pix2pix init share."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganhub.conditioning.nets import cbn_maps, projection_tables
from ganhub.config.resolve import resolve
from ganhub.engine.prepare import prepare_system
from ganhub.plugins import get_hub
from ganhub.tricks.weights import initialise_weights
from ganhub.wiring import components

from .conftest import TINY_DCGAN


@pytest.mark.parametrize("scheme", ["normal", "xavier", "kaiming", "orthogonal"])
def test_the_init_trick_initialises_as_the_public_function(scheme: str) -> None:
    """Same seed, same weights, drawn by the trick or by `initialise_weights` on each side with
    the trick's kept layers (conditional BatchNorm's maps, the projection table)."""
    keys = [*TINY_DCGAN, "model.conditional=true"]
    cfg = resolve([*keys, "tricks=[]"])
    options = resolve([*keys, "tricks=[init]", f"trick.init.scheme={scheme}"])
    inits = []
    for by_trick in (True, False):
        torch.manual_seed(3)  # the kept layers keep the weights they are built with
        system, _ = prepare_system(cfg, components(cfg), torch.device("cpu"))
        torch.manual_seed(4)
        if by_trick:
            trick = get_hub().tricks.get("init")(options.trick.init, options)
            trick.setup(system)
        else:
            for name in (*system.generator_names, *system.discriminator_names):
                root = getattr(system, name)
                initialise_weights(root, scheme, 0.02, [*cbn_maps(root), *projection_tables(root)])
        inits.append(system.state_dict())
    trick_init, function_init = inits
    assert trick_init.keys() == function_init.keys()
    assert [k for k in trick_init if not torch.equal(trick_init[k], function_init[k])] == []
    # the kept maps: conditional BatchNorm starts as the unconditional one
    assert not any(v.any() for k, v in trick_init.items() if k.endswith("gain.weight"))


def test_initialise_weights_acts_by_layer_kind() -> None:
    torch.manual_seed(0)
    kept = nn.Linear(4, 4)
    net = nn.Sequential(
        nn.Conv2d(2, 256, 3), nn.BatchNorm2d(256), nn.PReLU(), nn.Linear(256, 256), kept,
        nn.MultiheadAttention(16, 2),
    )  # fmt: skip
    before = kept.weight.clone()
    assert initialise_weights(net, "normal", 0.05, keep=[kept]) is net
    conv, norm, prelu, linear, _, attention = net
    for w in (conv.weight, linear.weight, attention.in_proj_weight, attention.out_proj.weight):
        assert w.std().item() == pytest.approx(0.05, rel=0.1)
    assert not any(b.any() for b in (conv.bias, linear.bias, attention.in_proj_bias))
    assert torch.equal(norm.weight, torch.ones(256)) and not norm.bias.any()
    assert prelu.weight.item() == 0.25 and torch.equal(kept.weight, before)
    initialise_weights(net, "kaiming")  # the gain of the PReLU-free path: ReLU's, as torch's
    assert linear.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.1)


@pytest.mark.parametrize("dims", [2, 3])
def test_medgan_pix2pix_init_draws_what_pix2pix_draws(dims: int) -> None:
    """medgan's G after its pix2pix init, for a fixed seed, is bit for bit what pix2pix's init
    draws: each convolution weight N(0, 0.02) in module order after PyTorch's default init,
    biases 0, instance norms 1/0, PReLU slopes MONAI's 0.25 (the weights it had before it
    called `initialise_weights`)."""
    from ganhub_medgan import nets

    def built() -> nn.Module:
        torch.manual_seed(7)
        return nets.Inpainter(nets.unet_generator(dims, 2, 4, 3))

    G, expected = nets.pix2pix_init(built()), built()
    with torch.no_grad():
        for p in expected.parameters():
            if p.ndim > 1:
                p.normal_(0.0, 0.02)
    convs = 0
    for (name, got), want in zip(G.named_parameters(), expected.parameters(), strict=True):
        if got.ndim > 1:
            convs += 1
            assert torch.equal(got, want), name
        elif name.endswith("bias"):
            assert not got.any(), name
        else:  # PReLU's slope, or an instance norm's weight
            assert torch.equal(got, torch.full_like(got, 0.25 if got.numel() == 1 else 1.0))
    assert convs >= 6
