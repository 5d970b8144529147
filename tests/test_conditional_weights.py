"""Weight tricks on conditional networks: `init` and `spectral_norm` keep conditional
BatchNorm's start (the unconditional BatchNorm) and treat the label embeddings as the
references do."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganhub.conditioning.nets import ConditionalBatchNorm2d, LabelEmbedding
from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

COND = [*TINY_DCGAN, "model.conditional=true"]


def _make(args: list[str], out: Path):  # type: ignore[no-untyped-def]
    return make_run(resolve([*COND, *args, f"out_dir={out}"]))


def _label_gap(G: nn.Module, latent_dim: int) -> float:
    """How much G's output (eval mode) changes between classes 0 and 7 for the same z."""
    z = torch.randn(4, latent_dim, generator=torch.Generator().manual_seed(0))
    was = G.training
    G.eval()
    with torch.no_grad():
        gap = (G(z, torch.zeros(4, dtype=torch.long)) - G(z, torch.full((4,), 7))).abs().max()
    G.train(was)
    return float(gap)  # NaN when G's output is


def _cbns(module: nn.Module) -> list[ConditionalBatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, ConditionalBatchNorm2d)]


def test_spectral_norm_on_both_sides_trains_a_cbn_generator(tmp_path: Path) -> None:
    """BigGAN's setup (SN on G and D, conditional BatchNorm in G): G starts label-independent
    and 20 steps keep every weight finite (the zero gain/bias maps, spectrally normalised,
    were 0/0: NaN within a few steps)."""
    run = _make(["tricks=[spectral_norm]", "trick.spectral_norm.groups=[G,D]",
                 "trainer.steps=20"], tmp_path)  # fmt: skip
    G = run.system.G
    assert _label_gap(G, run.config.model.latent_dim) == 0.0
    cbns = _cbns(G)
    assert cbns and not any(parametrize.is_parametrized(m.gain) for m in cbns)
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d | nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(m) for m in convs)
    fit(run)
    assert run.step == 20
    bad = [k for k, v in run.system.state_dict().items()
           if v.is_floating_point() and not torch.isfinite(v).all()]  # fmt: skip
    assert not bad
    assert any(m.gain.weight.abs().max() > 0 for m in cbns)  # the maps did learn the label
    assert torch.isfinite(run.system.sample(4, seed=0, labels=torch.full((4,), 3))).all()


@pytest.mark.parametrize("scheme", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_keeps_cbn_label_independent_and_the_projection_embedding(
    scheme: str, tmp_path: Path
) -> None:
    """`init` leaves conditional BatchNorm's gain/bias maps at zero (G's output does not
    depend on the label at the start) and the projection embedding at its Xavier-uniform init."""
    plain = _make([], tmp_path)
    run = _make(["tricks=[init]", f"trick.init.scheme={scheme}"], tmp_path)
    cbns = _cbns(run.system.G)
    assert cbns and all(not m.gain.weight.any() and not m.bias.weight.any() for m in cbns)
    assert _label_gap(run.system.G, run.config.model.latent_dim) == 0.0
    table = run.system.D.embed.table.weight
    assert torch.equal(table, plain.system.D.embed.table.weight)  # built from the same seed
    # the networks' own layers are re-initialised
    first, before = run.system.D.net[0].weight, plain.system.D.net[0].weight
    assert not torch.equal(first, before)


def test_spectral_norm_covers_the_projection_embedding_only(tmp_path: Path) -> None:
    """sngan_projection spectrally normalises D's projection embedding (SNEmbedID); G's label
    embedding and input_concat's label maps (independent of the input) stay plain."""
    run = _make(["model.d_norm=none", "tricks=[spectral_norm]", "trick.spectral_norm.groups=[G,D]",
                 "trick.spectral_norm.power_iterations=30"], tmp_path)  # fmt: skip
    D, G = run.system.D, run.system.G
    assert parametrize.is_parametrized(D.embed.table, "weight")
    D.train()
    D(torch.randn(2, 1, 32, 32), torch.tensor([1, 2]))  # runs the power iterations
    sigma = torch.linalg.matrix_norm(D.embed.table.weight.detach(), 2)
    assert sigma == pytest.approx(1.0, abs=0.02)
    tables = [m.table for m in G.modules() if isinstance(m, LabelEmbedding)]
    assert tables and not any(parametrize.is_parametrized(t) for t in tables)
    concat = _make(["condition.discriminator=input_concat", "tricks=[spectral_norm]"], tmp_path)
    assert not parametrize.is_parametrized(concat.system.D.embed.table)


def test_a_checkpoint_with_an_unnormalised_projection_embedding_loads_as_trained(
    tmp_path: Path,
) -> None:
    """A run saved before spectral_norm covered the projection embedding (its plain
    `embed.table.weight`) loads, and resumes, with that embedding unnormalised."""
    run = _make(["tricks=[spectral_norm]"], tmp_path)
    state = run.system.state_dict()
    prefix = "D.embed.table."
    old = {k: v for k, v in state.items() if not k.startswith(prefix)}
    weight = torch.randn_like(state[prefix + "parametrizations.weight.original"])
    old[prefix + "weight"] = weight
    fresh = _make(["tricks=[spectral_norm]"], tmp_path)
    original = fresh.system.D.embed.table.parametrizations.weight.original
    assert checkpoint.load_fitting(fresh.system, old) == ""
    table = fresh.system.D.embed.table
    assert not parametrize.is_parametrized(table) and torch.equal(table.weight, weight)
    assert table.weight is original  # the optimizer's parameter, so a resume steps it


@pytest.mark.parametrize(
    ("source", "own"),
    [("digits", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"), ("shapes", "square, ellipse, triangle")],
)
def test_class_names_for_data_with_its_own_classes_are_refused(source: str, own: str) -> None:
    """condition.classes=[a,b] on the digits was saved and ignored: the run had classes 0-9,
    and `ganhub sample RUN --label a` then failed."""
    from ganhub.config.resolve import resolve
    from ganhub.errors import ConfigError

    keys = ["plugin=dcgan", "model.conditional=true", f"data={source}", "condition.classes=[a,b]"]
    with pytest.raises(ConfigError, match=rf"data={source} has its own: {own}$"):
        resolve(keys)
    resolve(keys[:-1])  # the data's own classes
