"""`init_from` across spectral norm: a layer one run normalises and the other does not starts
from the source's weights, not from its random init."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.run import Run
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

SN_BOTH = ["tricks=[spectral_norm]", "trick.spectral_norm.groups=[G,D]"]


def _trained(name: str, *extra: str) -> Path:
    summary = ganhub.train([*TINY_DCGAN, "trainer.steps=3", f"name={name}", *extra])
    return Path(summary["run_dir"])


def _outputs(run: Run, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Each named network's eval-mode output on one fixed input."""
    space = run.system.latent_space()
    assert space is not None
    z = space.sample(4, 7)
    out = {}
    with torch.no_grad():
        torch.manual_seed(7)
        images = torch.rand_like(run.system.G.eval()(z)) * 2 - 1
        for name in names:
            net = getattr(run.system, name).eval()
            out[name] = net(z if name.startswith("G") else images)
    return out


def test_a_plain_source_fills_the_normalised_layers_and_their_power_iteration(
    workdir: Path,
) -> None:
    source = _trained("plain", "seed=3")  # another init than the target's seed
    _, _, saved, _ = checkpoint.load_newest(source / "checkpoints")  # type: ignore[misc]
    fresh = make_run(resolve([*TINY_DCGAN, "name=fresh", *SN_BOTH]))
    fresh.close()
    run = make_run(resolve([*TINY_DCGAN, "name=t", f"init_from={source}", *SN_BOTH]))
    try:
        layers = [k.removesuffix(".weight") for k in saved if saved[k].ndim == 4]
        assert {n[0] for n in layers} == {"G", "D"}, "G's transposed convs and D's convs"
        for layer in layers:
            module = run.system.get_submodule(layer)
            original = module.parametrizations.weight.original.detach()
            assert torch.equal(original, saved[f"{layer}.weight"])  # the source's, bit for bit
            norm = module.parametrizations.weight[0]
            matrix = original.movedim(norm.dim, 0).flatten(1)  # dim 1 for a transposed conv
            sigma = torch.vdot(norm._u, matrix @ norm._v)
            exact = torch.linalg.matrix_norm(matrix, ord=2)
            assert sigma == pytest.approx(exact.item(), rel=0.01), layer
            stale = fresh.system.get_submodule(layer).parametrizations.weight[0]
            stale_sigma = torch.vdot(stale._u, matrix @ stale._v)
            assert abs(stale_sigma - exact) > 0.2 * exact  # the init's u, v were far off
    finally:
        run.close()


def test_a_normalised_source_gives_a_plain_model_the_same_function(workdir: Path) -> None:
    source_dir = _trained("normalised", *SN_BOTH)
    source = make_run(resolve([f"resume={source_dir}"]))
    source.close()
    run = make_run(resolve([*TINY_DCGAN, "name=t", f"init_from={source_dir}", "tricks=[ema]"]))
    try:
        assert not any("parametrizations" in k for k in run.system.state_dict())
        expected = _outputs(source, ("G", "D"))
        got = _outputs(run, ("G", "G_ema", "D"))
        close = {"atol": 1e-4, "rtol": 1e-4}  # W / sigma rounds apart from torch's own division
        torch.testing.assert_close(got["D"], expected["D"], **close)
        torch.testing.assert_close(got["G"], expected["G"], **close)
        torch.testing.assert_close(got["G_ema"], expected["G"], **close)  # EMA copy from G
    finally:
        run.close()


def test_the_console_line_names_the_converted_layers(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _trained("plain")
    ganhub.train([*TINY_DCGAN, "name=t", f"init_from={source}", "tricks=[spectral_norm]",
                  "trainer.progress=true"])  # fmt: skip
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("init_from:"))
    assert "layers converted to or from spectral norm (D." in line
    assert "keep their own init" not in line and "unused" not in line
