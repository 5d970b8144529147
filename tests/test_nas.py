"""Weight sharing (`ganhub.nas`): mixed choices, width masks, and toy2d's supernet, which with
one-hot choices is exactly the single network it chose."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_toy2d.config import ARCH_SPACE
from ganhub_toy2d.networks import SuperMLP, activation, mlp
from torch import nn

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.nas import ArchChoice, architecture, entropy_ratio, mix, preferred, width_mask
from ganhub.wiring import make_run

from .conftest import TINY_TOY


def test_a_choice_starts_uniform_and_mixes_by_its_softmax() -> None:
    choice = ArchChoice("model.act", ["relu", "elu", "silu"])
    assert torch.allclose(choice.weights(), torch.full((3,), 1 / 3))
    with torch.no_grad():
        choice.logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
    outs = [torch.full((2,), float(k)) for k in range(3)]
    w = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    assert torch.allclose(mix(choice.weights(), outs), torch.full((2,), float(w[1] + 2 * w[2])))
    with pytest.raises(ValueError, match="distinct values"):
        ArchChoice("model.act", ["relu", "relu"])


def test_width_mask_keeps_the_first_features_of_each_width() -> None:
    mask = width_mask(torch.tensor([0.0, 1.0, 0.0]), [2, 4, 8], 8)
    assert mask.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    mask = width_mask(torch.tensor([0.5, 0.5]), [2, 4], 4)
    assert mask.tolist() == [1, 1, 0.5, 0.5]


def test_a_key_searched_in_two_networks_takes_their_product() -> None:
    a, b = ArchChoice("model.residual", [False, True]), ArchChoice("model.residual", [False, True])
    with torch.no_grad():
        a.logits.copy_(torch.tensor([1.0, 0.0]))
        b.logits.copy_(torch.tensor([0.0, 1.0]))
    assert architecture([a, b])["model.residual"] == pytest.approx({False: 0.5, True: 0.5})
    with torch.no_grad():
        b.logits.copy_(torch.tensor([1.0, 0.0]))
    p = torch.softmax(torch.tensor([2.0, 0.0]), 0)
    arch = architecture([a, b])
    assert arch["model.residual"] == pytest.approx({False: float(p[0]), True: float(p[1])})
    assert preferred(arch) == {"model.residual": False}
    assert entropy_ratio({1: 0.5, 2: 0.5}) == pytest.approx(1.0)
    assert entropy_ratio({1: 1.0, 2: 0.0}) == 0.0


def _one_hot(net: SuperMLP, **chosen: object) -> None:
    """Set every choice of `net` to one value (logits far apart: softmax is exactly one-hot)."""
    with torch.no_grad():
        for choice in (net.depth, net.width, net.norm, net.act, net.residual):
            name = choice.key.rsplit("_", 1)[-1] if choice.key != "model.residual" else "residual"
            value = chosen[name]
            choice.logits.fill_(-100.0)
            choice.logits[choice.values.index(value)] = 100.0


@pytest.mark.parametrize(
    ("layers", "hidden", "norm", "act", "residual"),
    [
        (2, 64, "none", "relu", False),
        (4, 128, "batch", "silu", True),
        (5, 512, "none", "elu", True),
    ],
)
def test_the_supernet_with_one_hot_choices_is_the_chosen_network(
    layers: int, hidden: int, norm: str, act: str, residual: bool
) -> None:
    torch.manual_seed(0)
    net = SuperMLP(2, 2, "g", ARCH_SPACE)
    _one_hot(net, layers=layers, hidden=hidden, norm=norm, act=act, residual=residual)
    plain = mlp(2, hidden, layers, 2, activation(act), norm, residual)
    linears = [m for m in plain.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():  # the chosen network's weights are the supernet's first features
        for i, lin in enumerate(linears[:-1]):
            source = net.linears[i]
            lin.weight.copy_(source.weight[:hidden, : lin.in_features])
            lin.bias.copy_(source.bias[:hidden])
        linears[-1].weight.copy_(net.head.weight[:, :hidden])
        linears[-1].bias.copy_(net.head.bias)
    x = torch.randn(64, 2)
    net.train(), plain.train()  # batch norm on batch statistics in both
    assert torch.allclose(net(x), plain(x), atol=1e-5)


@pytest.mark.parametrize(("layers", "hidden"), [(2, 64), (4, 128), (5, 512)])
def test_the_expected_cost_of_one_hot_choices_is_the_chosen_mlps_macs(
    layers: int, hidden: int
) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    net = SuperMLP(2, 2, "g", ARCH_SPACE)
    _one_hot(net, layers=layers, hidden=hidden, norm="none", act="relu", residual=False)
    counter = FlopCounterMode(display=False)
    with counter:
        mlp(2, hidden, layers, 2, nn.ReLU())(torch.randn(1, 2))
    macs = counter.get_total_flops() / 2
    assert float(net.expected_cost().detach()) * net.max_macs == pytest.approx(macs)
    assert (layers, hidden) != (5, 512) or float(net.expected_cost().detach()) == pytest.approx(1)


def test_unchosen_weights_do_not_touch_the_output() -> None:
    torch.manual_seed(0)
    net = SuperMLP(2, 1, "d", ARCH_SPACE)
    _one_hot(net, layers=2, hidden=64, norm="none", act="leaky_relu", residual=False)
    x = torch.randn(16, 2)
    before = net(x)
    with torch.no_grad():
        net.linears[4].weight.add_(1.0)  # a layer below the chosen depth
        net.linears[0].weight[64:].add_(1.0)  # features beyond the chosen width
    assert torch.equal(net(x), before)


def test_a_supernet_run_learns_its_choices_and_declares_them(tmp_path: Path) -> None:
    summary = ganhub.train(["plugin=toy2d", "model.supernet=true", "trainer.steps=60",
                            "trainer.batch_size=64", "data.n_samples=1000", "eval.metrics=[]",
                            f"out_dir={tmp_path}", "name=sn", "trainer.progress=false"])  # fmt: skip
    system = ganhub.load(summary["run_dir"]).system
    assert "supernet" in system.capabilities().provides
    arch = system.architecture()
    assert set(arch) == set(ARCH_SPACE)
    for key, probs in arch.items():
        assert sum(probs.values()) == pytest.approx(1.0)
        assert list(probs) == list(ARCH_SPACE[key].get("choices", range(2, 6)))
    assert any(entropy_ratio(p) < 1 - 1e-6 for p in arch.values())  # the logits trained
    plain = ganhub.train(["plugin=toy2d", "trainer.steps=2", "eval.metrics=[]",
                          f"out_dir={tmp_path}", "name=plain", "trainer.progress=false"])  # fmt: skip
    single = ganhub.load(plain["run_dir"]).system
    assert single.architecture() == {} and "supernet" not in single.capabilities().provides


def test_ttur_keeps_the_ratios_of_a_domains_own_param_groups() -> None:
    """A supernet's architecture logits learn at `model.arch_lr` in their own group: TTUR
    moves the weights' rate and scales that group with it instead of flattening it."""
    args = [*TINY_TOY, "model.supernet=true", "model.arch_lr=0.01", "optim.D.lr=2e-4"]
    run = make_run(resolve([*args, "tricks=[ttur]", "trick.ttur.d_lr=4e-4"]))
    weights, logits = (pg["lr"] for pg in run.optimizers["D"].param_groups)
    assert weights == pytest.approx(4e-4) and logits == pytest.approx(0.02)
    assert run.optimizers["D"].param_groups[1]["initial_lr"] == pytest.approx(0.02)
    run.close()


def test_per_step_losses_skip_a_lazy_regularisers_phase(workdir: Path) -> None:
    """arch_cost and weight_penalty price each step once: a lazy R1 phase (interval 4) runs
    without them, so on its steps D's choices and weights are not penalised twice."""
    tricks = "tricks=[arch_cost,weight_penalty,r1]"
    run = make_run(resolve([*TINY_TOY, "model.supernet=true", tricks, "trick.r1.interval=4",
                            "trainer.steps=5"]))  # fmt: skip
    priced: dict[str, list[str]] = {"arch_cost": [], "weight_penalty": []}

    def recorded(extra):  # type: ignore[no-untyped-def]
        def record(phase, out, ctx):  # type: ignore[no-untyped-def]
            term = extra(phase, out, ctx)
            if term is not None and extra.__self__.name in priced:
                priced[extra.__self__.name].append(phase.name)
            return term

        return record

    run.points["extra_loss"] = [recorded(extra) for extra in run.points["extra_loss"]]
    fit(run)
    assert [p.name for p in run.phases] == ["D", "Dr1", "G"]
    for name in ("arch_cost", "weight_penalty"):
        assert priced[name] == ["D", "G"] * 5, name
