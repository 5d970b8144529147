"""stylegan's pictures as a StyleGAN user checks them: the interpolation GIF shows every key it
passes through, explore's grid of one class uses the constant noise inputs as every other grid
does, the truncation and mixing grids draw in one synthesis pass, `psis=` is refused in one
line naming it, and `--psi -0` names its file as `--psi 0` does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import ganhub

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

TINY = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 px run (6 style vectors) of one step, conditional on the digits, with noise inputs
    and G's rate so high that one step makes their strengths 0.5 (they start at 0, where
    random and constant noise draw the same picture); the pictures show its first class."""
    root = tmp_path_factory.mktemp("sg9")
    ganhub.train([*TINY, "trainer.steps=1", "name=c", f"out_dir={root}", "data=digits",
                  "model.conditional=true", "model.noise=true", "optim.G.lr=0.5"])  # fmt: skip
    return root


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.fixture
def passes(runs: Path) -> Iterator[tuple[Any, list[int]]]:
    """The run's system and a list counting its G_ema synthesis passes."""
    system = ganhub.load(runs / "c", plugin="stylegan").system
    calls: list[int] = []
    hook = system.generator().synthesis.register_forward_hook(lambda *_: calls.append(1))
    yield system, calls
    hook.remove()


def test_the_interpolation_passes_through_every_key(runs: Path) -> None:
    """With 8 frames and 3 keys the loop was spaced evenly over the whole path (a frame every
    3/8 of a segment): it began at the first key and never showed the other two."""
    from ganhub_stylegan.sampling import _latents, interpolation_frames

    system = ganhub.load(runs / "c", plugin="stylegan").system
    frames = interpolation_frames(system, keys=3, frames=8, seed=5, psi=1.0)
    keys = system.synthesize(system.ws_for(_latents(system, 3, 5), psi=1.0))
    assert len(frames) == 8
    torch.testing.assert_close(frames[0], keys[0])
    for key in keys:  # each key is one of the frames
        assert min((frame - key).abs().max().item() for frame in frames) < 1e-4


def test_one_synthesis_pass_draws_the_truncation_and_the_mixing_grid(
    passes: tuple[Any, list[int]], tmp_path: Path
) -> None:
    """The truncation rows were drawn one psi at a time (4 passes) and the mixing grid's cells,
    rows and columns apart (3); the pictures are what drawing them one by one gives."""
    from ganhub_stylegan.sampling import _latents, style_mixing_grid, truncation_grid

    from ganhub.data.images import save_image_grid

    system, calls = passes
    got = truncation_grid(system, tmp_path / "t.png", n=3, seed=2, cutoff=2)
    assert len(calls) == 1
    style_mixing_grid(system, tmp_path / "m.png", rows=2, cols=3)
    assert len(calls) == 2
    z = _latents(system, 3, 2)
    psis = (1.0, 0.7, 0.5, 0.0)
    rows = [system.synthesize(system.ws_for(z, psi=p, cutoff=2)) for p in psis]
    want = save_image_grid(torch.cat(rows), tmp_path / "want.png", nrow=3)
    assert np.array_equal(_pixels(got), _pixels(want))


@pytest.mark.parametrize("psis", [(float("nan"),), (), (1.0, -0.5), ("0.5",)])
def test_truncation_psis_out_of_bounds_are_named(
    runs: Path, tmp_path: Path, psis: tuple[object, ...]
) -> None:
    """`psis=(nan,)` was refused as `ws_for(psi=nan)`, a call nobody typed, and `psis=()`
    raised torch's "expected a non-empty list of Tensors"."""
    from ganhub_stylegan import truncation_grid

    from ganhub.errors import UsageError

    system = ganhub.load(runs / "c", plugin="stylegan").system
    with pytest.raises(UsageError) as caught:
        truncation_grid(system, tmp_path / "t.png", psis=psis)
    assert str(caught.value) == (
        f"truncation_grid(psis={psis!r}): is the share of w's distance from w_avg that a sample "
        "keeps: give one or more psis, each of 0 or more (0: w_avg's image, 1: no truncation; "
        "leave psis out for 1, 0.7, 0.5 and 0)"
    )
    assert not (tmp_path / "t.png").exists()


def test_explore_draws_one_class_with_the_constant_noise(
    cli: Cli, workdir: Path, runs: Path
) -> None:
    """`explore --label 0` drew its grid with random noise inputs; without --label (and in
    `ganhub sample`, the mixing grid and the GIF) every grid uses the constant ones."""
    from ganhub.data.images import save_image_grid

    code, _, err = cli("stylegan", "explore", str(runs / "c"), "--label", "0", "--n", "4",
                         "--out", "o")  # fmt: skip
    assert code == 0, err
    system = ganhub.load(runs / "c", plugin="stylegan").system
    labels = torch.zeros(4, dtype=torch.long)
    want = system.sample(4, seed=0, psi=None, labels=labels, noise_mode="const")
    random = system.sample(4, seed=0, psi=None, labels=labels)
    assert (want - random).abs().max() > 0.1  # the noise inputs show
    expected = save_image_grid(want, workdir / "want.png")
    assert np.array_equal(_pixels(Path("o/seed0_n4_label0_grid.png")), _pixels(expected))


def test_psi_minus_zero_names_the_file_as_psi_zero(cli: Cli, workdir: Path, runs: Path) -> None:
    """`--psi -0` wrote seed0_psi-0_...png beside the same picture's seed0_psi0_...png."""
    code, out, err = cli("stylegan", "mix", str(runs / "c"), "--psi", "-0", "--rows", "1",
                         "--cols", "1", "--out", "o")  # fmt: skip
    assert code == 0, err
    assert out.strip() == "o/seed0_psi0_rows1_cols1_mixing.png"
