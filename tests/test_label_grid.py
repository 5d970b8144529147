"""The grid of one class (`ganhub sample RUN --label L`, `TrainedGAN.write_class`) is drawn as
the domain's sample grids are (`GANSystem.display_samples`), not as its metrics draw: a
stylegan run's at its `sample.psi` with the constant noise inputs, not at psi 1 with random
noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import ganhub
from ganhub.config.resolve import resolve
from ganhub.data.images import save_image_grid
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 px conditional run of one step with noise inputs, G's rate high enough that one
    step moves their strengths off 0 (where random and constant noise draw the same picture)
    and low enough that the images do not saturate at -1 (0.5 made every pixel -1)."""
    root = tmp_path_factory.mktemp("grid")
    ganhub.train([*TINY, "trainer.steps=1", "name=c", f"out_dir={root}", "data=digits",
                  "model.conditional=true", "model.noise=true", "optim.G.lr=0.05"])  # fmt: skip
    return root / "c"


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _grid(images: torch.Tensor, path: Path) -> np.ndarray:
    return _pixels(save_image_grid(images, path))


def test_the_grid_of_one_class_is_truncated_with_constant_noise(
    cli: Any, run: Path, tmp_path: Path
) -> None:
    """`--label 3` drew psi 1 with random noise inputs (max 102/255 from the psi-0.7 picture
    `ganhub sample` draws); now the run's sample.psi (0.7) and the constant noise."""
    code, out, err = cli("sample", str(run), "--label", "3", "--n", "4", "--out", str(tmp_path))
    assert code == 0, err
    got = _pixels(Path(out.strip()))
    system = ganhub.load(run, plugin="stylegan").system
    assert system.config.sample.psi == 0.7
    labels = torch.full((4,), 3, dtype=torch.long)
    shown = system.sample(4, seed=0, labels=labels, psi=None, noise_mode="const")
    scored = system.sample(4, seed=0, labels=labels)  # what metrics draw: psi 1, random noise
    assert np.abs(got - _grid(shown, tmp_path / "shown.png")).max() == 0
    assert np.abs(got - _grid(scored, tmp_path / "scored.png")).max() > 10
    torch.testing.assert_close(system.display_samples(4, seed=0, labels=labels), shown)


def test_the_grid_of_one_class_takes_a_psi_given_for_sampling(run: Path, tmp_path: Path) -> None:
    """`ganhub sample RUN --label 3 sample.psi=0.3` named its file `_psi0.3` and drew psi 1."""
    model = ganhub.load(run, plugin="stylegan", overrides=["sample.psi=0.3"])
    got = _pixels(model.write_class(tmp_path, 3, n=2, seed=1, suffix="_psi0.3"))
    labels = torch.full((2,), 3, dtype=torch.long)
    want = model.system.sample(2, seed=1, labels=labels, psi=0.3, noise_mode="const")
    assert np.abs(got - _grid(want, tmp_path / "want.png")).max() == 0


def test_a_domain_without_its_own_display_draw_shows_its_samples(tmp_path: Path) -> None:
    """The default `display_samples` is `sample` (dcgan's grids and metrics draw alike)."""
    system = make_run(resolve([*TINY_DCGAN, "model.conditional=true", f"out_dir={tmp_path}"]))
    system = system.system.eval()
    labels = torch.tensor([0, 1, 2])
    torch.testing.assert_close(
        system.display_samples(3, seed=4, labels=labels), system.sample(3, seed=4, labels=labels)
    )
