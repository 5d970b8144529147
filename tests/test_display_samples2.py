"""A domain's own `display_samples` keeps the contract of `sample`: a signature without the
keywords ganhub passes is refused as the run builds its system (it failed only at `ganhub
sample --label`), `check_domain` checks its layout and seeding against `sample`, and stylegan's
`explore --label` draws its grid of one class with it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from ganhub_toy2d.system import Toy2dSystem
from PIL import Image

import ganhub
from ganhub.display_checks import display_problems
from ganhub.errors import PluginError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.testing import ContractError, check_domain
from tests.test_plugin_authors_audit8 import _domain  # a toy2d domain building another system

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")
SETTINGS = [k for k in TINY_TOY if not k.startswith(("plugin=", "trainer.steps"))]


class NoLabelsDisplay(Toy2dSystem):
    """toy2d whose display_samples() leaves out `labels=`."""

    def display_samples(self, n: int, *, seed: int | None = None) -> Any:  # type: ignore[override]
        return self.sample(n, seed=seed)


class DoubleDisplay(Toy2dSystem):
    """toy2d whose pictures are float64 where its samples are float32."""

    def display_samples(self, n: int, *, seed: int | None = None, use_ema: bool = True,
                        labels: Any = None) -> Any:  # fmt: skip
        return self.sample(n, seed=seed, use_ema=use_ema, labels=labels).double()


class UnseededDisplay(Toy2dSystem):
    """toy2d whose pictures ignore the seed."""

    def display_samples(self, n: int, *, seed: int | None = None, use_ema: bool = True,
                        labels: Any = None) -> Any:  # fmt: skip
        return self.sample(n, seed=None, use_ema=use_ema, labels=labels)


@pytest.fixture(scope="module")
def hub() -> Hub:
    def register_domains(register: Any) -> None:
        register("nolabelsshow", _domain("nolabelsshow", NoLabelsDisplay))
        register("doubleshow", _domain("doubleshow", DoubleDisplay))
        register("unseededshow", _domain("unseededshow", UnseededDisplay))

    domains = hookimpl(register_domains)
    return Hub.discover(extra=(("display2", SimpleNamespace(register_domains=domains)),))


def test_a_display_samples_without_labels_is_refused_as_the_run_builds_the_system(
    hub: Hub, tmp_path: Path
) -> None:
    """It trained, then `ganhub sample --label` failed with a bare TypeError."""
    keys = ["plugin=nolabelsshow", *SETTINGS, "trainer.steps=1", f"out_dir={tmp_path}"]
    with pytest.raises(PluginError) as err:
        ganhub.train(keys, hub=hub)
    assert str(err.value) == (
        "domain 'nolabelsshow': NoLabelsDisplay.display_samples(self, n, *, seed=None) cannot "
        "take what ganhub passes (n, seed=, use_ema=, labels=): define display_samples(self, "
        "n, *, seed=None, use_ema=True, labels=None) (plugin 'display2')"
    )
    assert not any(tmp_path.rglob("*.pt"))


@pytest.mark.parametrize(
    ("plugin", "problem"),
    [
        ("doubleshow", "display_samples(3, seed=s) gave a (3, 2) torch.float64 tensor, where "
         "sample(3, seed=s) gave a (3, 2) torch.float32 tensor: draw the same layout"),
        ("unseededshow", "display_samples(n, seed=s) differs between two calls with the same "
         "seed"),
    ],
)  # fmt: skip
def test_check_domain_holds_display_samples_to_the_layout_and_seed_of_sample(
    hub: Hub, tmp_path: Path, plugin: str, problem: str
) -> None:
    """check_domain passed both; `ganhub sample --label` wrote what `sample` never draws."""
    with pytest.raises(ContractError) as err:
        check_domain(plugin, SETTINGS, hub=hub, steps=2, workdir=tmp_path)
    line = str(err.value)
    assert line.startswith(f"domain '{plugin}': its display_samples:\n  {problem}"), line


# -- stylegan: its own display draw --------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 px conditional stylegan run of one step."""
    root = tmp_path_factory.mktemp("display2")
    ganhub.train(["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]",
                  "trainer.steps=1", "name=c", f"out_dir={root}", "data=digits",
                  "model.conditional=true", "model.noise=true", "optim.G.lr=0.05"])  # fmt: skip
    return root / "c"


def test_stylegans_display_samples_keeps_the_contract(run: Path) -> None:
    system = ganhub.load(run, plugin="stylegan").system
    assert display_problems(system) == []


def test_explore_draws_its_grid_of_one_class_with_display_samples(
    cli: Any, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """explore repeated the display draw inline: a stylegan whose display_samples draws
    otherwise (here: the pictures upside down) showed the old draw in explore's grid and the
    new one in `ganhub sample --label`'s."""
    from ganhub_stylegan.system import StyleGANSystem

    from ganhub.data.images import save_image_grid

    drawn = StyleGANSystem.display_samples

    def upside_down(self: Any, n: int, **kwargs: Any) -> Any:
        return drawn(self, n, **kwargs).flip(-2)

    monkeypatch.setattr(StyleGANSystem, "display_samples", upside_down)
    out = tmp_path / "o"
    code, _, err = cli("stylegan", "explore", str(run), "--label", "0", "--n", "2", "--out",
                       str(out))  # fmt: skip
    assert code == 0, err
    system = ganhub.load(run, plugin="stylegan").system
    want = system.display_samples(2, seed=0, labels=torch.zeros(2, dtype=torch.long))
    expected = save_image_grid(want, tmp_path / "want.png")
    got = Image.open(out / "seed0_n2_label0_grid.png").convert("RGB")
    assert np.array_equal(np.asarray(got), np.asarray(Image.open(expected).convert("RGB")))
