"""dcgan's supernet: with one-hot choices it is exactly the DCGAN it chose (whose weights are
the supernet's first channels); a supernet run trains its choices and declares them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from ganhub_dcgan.config import ARCH_SPACE, DCGANModel
from ganhub_dcgan.networks import Discriminator, Generator, SelfAttention
from ganhub_dcgan.supernet import SuperDiscriminator, SuperGenerator
from torch import nn

import ganhub
from ganhub.nas import ArchChoice

SPACE = ARCH_SPACE


def _one_hot(net: nn.Module, chosen: dict[str, Any]) -> None:
    """Every choice of `net` set to the value `chosen` names (softmax exactly one-hot)."""
    with torch.no_grad():
        for choice in net.modules():
            if isinstance(choice, ArchChoice):
                choice.logits.fill_(-100.0)
                choice.logits[choice.values.index(chosen[choice.key])] = 100.0


def _copy(plain: nn.Module, sup: nn.Module) -> None:
    """Give each conv, norm and attention of `plain` the first channels of the supernet's
    counterpart; plain's modules, in order, pair with the supernet's chosen ones."""
    with torch.no_grad():
        for mine, theirs in zip(_parts(plain), _chosen_parts(sup), strict=True):
            for name, param in mine.named_parameters(recurse=False):
                source = getattr(theirs, name)
                index = tuple(slice(0, n) for n in param.shape)
                param.copy_(source[index] if param.dim() else source)


def _parts(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if _is_part(m)]


def _is_part(m: nn.Module) -> bool:
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.GroupNorm, SelfAttention)
    return isinstance(m, kinds)


def _chosen_parts(net: nn.Module) -> list[nn.Module]:
    """The supernet's modules a one-hot architecture uses, in the order its layers run."""
    c = net.choices  # type: ignore[attr-defined]
    norm, blocks = c.norm.values[int(c.norm.logits.argmax())], int(c.blocks.logits.argmax())
    attends = c.attention.values[int(c.attention.logits.argmax())]

    def layer(mixed: nn.Module) -> list[nn.Module]:
        out = [mixed.conv]  # type: ignore[list-item]
        if mixed.mixed_norm and norm != "none":
            out.append(mixed.norms[c.norm.values.index(norm)])  # type: ignore[index]
        return out

    def attention(module: nn.Module | None) -> list[nn.Module]:
        if module is None or not attends:
            return []
        return [module, module.q, module.k, module.v]  # type: ignore[list-item]

    parts = layer(net.first)  # type: ignore[arg-type]
    if isinstance(net, SuperGenerator):
        attentions = dict(net.attention.items())  # a ModuleDict has no get
        for i, (up, stage) in enumerate(zip(net.ups, net.blocks, strict=True), start=1):
            parts += layer(up)
            for mixed in list(stage.layers)[:blocks]:  # type: ignore[arg-type]
                parts += layer(mixed)
            parts += attention(attentions.get(str(i)))
    else:
        assert isinstance(net, SuperDiscriminator)
        parts += attention(net.attention)
        for down, stage in zip(net.downs, net.blocks, strict=True):
            parts += layer(down)
            for mixed in list(stage.layers)[:blocks]:  # type: ignore[arg-type]
                parts += layer(mixed)
    return [*parts, net.last]  # type: ignore[list-item]


ARCHS = [
    dict(g_channels=32, d_channels=16, g_norm="batch", d_norm="batch", g_act="relu",
         d_act="leaky_relu", extra_blocks=1, residual=True, attention=True),
    dict(g_channels=16, d_channels=64, g_norm="none", d_norm="none", g_act="silu",
         d_act="silu", extra_blocks=0, residual=False, attention=False),
    dict(g_channels=64, d_channels=32, g_norm="batch", d_norm="none", g_act="leaky_relu",
         d_act="leaky_relu", extra_blocks=1, residual=False, attention=True),
]  # fmt: skip


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"g{a['g_channels']}-{a['g_norm']}")
def test_the_supernet_with_one_hot_choices_is_the_chosen_dcgan(
    arch: dict[str, Any], size: int
) -> None:
    torch.manual_seed(0)
    chosen = {f"model.{k}": v for k, v in arch.items()}
    model = DCGANModel(image_size=size, **arch)
    sup_g, sup_d = SuperGenerator(100, 3, size, SPACE), SuperDiscriminator(3, size, SPACE)
    for net in (sup_g, sup_d):
        _one_hot(net, chosen)
        for m in net.modules():  # attention's gamma and norms away from their identity start
            for p in m.parameters(recurse=False):
                if not isinstance(m, ArchChoice):
                    nn.init.normal_(p, 0.3, 0.2) if p.dim() < 2 else nn.init.normal_(p, 0, 0.05)
    plain_g = Generator(100, model.g_channels, 3, size, model)
    plain_d = Discriminator(model.d_channels, 3, size, model.d_norm, model)
    _copy(plain_g, sup_g)
    _copy(plain_d, sup_d)
    z = torch.randn(8, 100)
    images = plain_g(z)
    assert torch.allclose(sup_g(z), images, atol=1e-5)
    assert torch.allclose(sup_d(images), plain_d(images), atol=1e-4)
    assert torch.allclose(sup_d.features(images)[:, : plain_d.features(images).shape[1]],
                          plain_d.features(images), atol=1e-5)  # fmt: skip


def test_unchosen_widths_and_ops_do_not_touch_the_output() -> None:
    torch.manual_seed(0)
    sup = SuperGenerator(100, 1, 32, SPACE)
    _one_hot(sup, {f"model.{k}": v for k, v in ARCHS[1].items()})
    z = torch.randn(4, 100)
    before = sup(z)
    with torch.no_grad():  # channels past width 16 and the unchosen extra block
        sup.ups[0].conv.weight[:, 32:].normal_()
        for layer in sup.blocks[0].layers:
            layer.conv.weight.normal_()
    assert torch.equal(sup(z), before)


def test_a_dcgan_supernet_run_trains_its_choices(tmp_path: Path, cli: Any) -> None:
    summary = ganhub.train(plugin="dcgan", preset="tiny", model__supernet=True,
                           trainer__steps=6, eval__metrics=[], out_dir=str(tmp_path))  # fmt: skip
    code, _, err = cli("interpret", "probes", summary["run_dir"])  # no single G to look inside
    assert code == 2 and "a supernet mixes every architecture" in err
    assert len(err.strip().splitlines()) == 1
    system = ganhub.load(summary["run_dir"]).system
    assert "supernet" in system.capabilities().provides
    arch = system.architecture()
    assert set(arch) == set(SPACE)
    assert any(abs(p - 1 / len(probs)) > 1e-4 for probs in arch.values() for p in probs.values())
    with pytest.raises(
        ganhub.errors.ConfigError, match=r"model\.supernet=true builds an unconditional supernet"
    ):
        ganhub.train(plugin="dcgan", preset="tiny", model__supernet=True,
                     model__conditional=True, out_dir=str(tmp_path))  # fmt: skip


def _cost(net: Any) -> float:
    return float(net.expected_cost().detach())


def _macs(net: nn.Module, x: torch.Tensor) -> float:
    """Multiply-accumulates of one forward, as PyTorch's FLOP counter sees them."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x)
    return counter.get_total_flops() / 2


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"g{a['g_channels']}-{a['g_norm']}")
def test_expected_cost_of_one_hot_choices_is_the_chosen_dcgans_macs(
    arch: dict[str, Any], size: int
) -> None:
    """The cost the arch_cost trick prices is what PyTorch's FLOP counter measures."""
    model = DCGANModel(image_size=size, **arch)
    sup_g, sup_d = SuperGenerator(100, 3, size, SPACE), SuperDiscriminator(3, size, SPACE)
    for net in (sup_g, sup_d):
        _one_hot(net, {f"model.{k}": v for k, v in arch.items()})
    plain_g = Generator(100, model.g_channels, 3, size, model)
    plain_d = Discriminator(model.d_channels, 3, size, model.d_norm, model)
    z, x = torch.randn(1, 100), torch.randn(1, 3, size, size)
    assert _cost(sup_g) * sup_g.max_macs == pytest.approx(_macs(plain_g, z))
    assert _cost(sup_d) * sup_d.max_macs == pytest.approx(_macs(plain_d, x))
    widest = {**arch, "g_channels": 64, "d_channels": 64, "extra_blocks": 1, "attention": True}
    _one_hot(sup_g, {f"model.{k}": v for k, v in widest.items()})
    assert _cost(sup_g) == pytest.approx(1.0)


def test_arch_cost_moves_the_choices_toward_cheaper_networks(tmp_path: Path) -> None:
    """The same supernet run with and without the trick: with it, G and D expect less
    compute; a run without a supernet is refused in one line."""
    args = dict(plugin="dcgan", preset="tiny", model__supernet=True, trainer__steps=30,
                model__arch_lr=0.05, eval__metrics=[], out_dir=str(tmp_path))  # fmt: skip
    costs = {}
    for name, priced in (("free", {"tricks": []}),
                         ("priced", {"tricks": ["arch_cost"], "trick__arch_cost__weight": 1.0})):  # fmt: skip
        summary = ganhub.train(**args, **priced, name=name)
        system = ganhub.load(summary["run_dir"]).system
        costs[name] = [_cost(net) for net in (system.G, system.D)]
    assert all(p < f for p, f in zip(costs["priced"], costs["free"], strict=True)), costs
    with pytest.raises(ganhub.errors.ConfigError, match="trick 'arch_cost' prices a supernet"):
        ganhub.train(plugin="dcgan", preset="tiny", tricks=["arch_cost"], out_dir=str(tmp_path))
