"""`ganhub interpret`: a page's --out is held to the rule `ganhub export` keeps (nothing inside
the run's checkpoints/), and SeFa on a StyleGAN reads the layers genforce/sefa reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ganhub_interpret.directions import sefa

import ganhub
from ganhub.errors import UsageError
from ganhub.export import check_run_destination

from ..conftest import TINY_DCGAN
from .test_interpret_directions import TINY_STYLEGAN

pytestmark = pytest.mark.usefixtures("one_thread")

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dcgan trained for two steps on shapes."""
    root = tmp_path_factory.mktemp("interpret-dec")
    ganhub.train([*TINY_DCGAN, "data=shapes", "data.n=256", "name=dc", f"out_dir={root}",
                  "trainer.sample_every=0", "eval.metrics=[]"])  # fmt: skip
    return root / "dc"


def _tree(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize(
    ("command", "extra"),
    [("directions", ["--samples", "16", "--directions", "1"]), ("features", ["--images", "1"])],
)
def test_a_page_inside_the_runs_checkpoints_is_refused(
    cli: CLI, dcgan_run: Path, command: str, extra: list[str]
) -> None:
    """`--out RUN/checkpoints/step_0000002/` wrote the page and its PNG folder into the
    checkpoint (removed with it when pruned; `--out RUN/checkpoints/` beside the step folders),
    where `ganhub export` refuses any destination in checkpoints/; now one line, nothing
    written."""
    checkpoints = dcgan_run / "checkpoints"
    before = _tree(checkpoints)
    for out in (f"{checkpoints}/step_0000002/", f"{checkpoints}/", str(checkpoints / "p.html")):
        code, stdout, err = cli("interpret", command, str(dcgan_run), *extra, "--out", out)
        assert code == 2 and not stdout, err
        assert len(err.strip().splitlines()) == 1, err
        assert "is inside the run directory's checkpoints/ folder" in err
        assert _tree(checkpoints) == before
    code, stdout, err = cli("export", str(dcgan_run), "--out", f"{checkpoints}/x")
    assert code == 2 and "is inside the run directory's checkpoints/ folder" in err
    assert _tree(checkpoints) == before


def test_a_page_elsewhere_in_the_run_is_still_written(cli: CLI, dcgan_run: Path) -> None:
    """The rule refuses checkpoints/ only: a page in another folder of the run is written."""
    code, stdout, err = cli("interpret", "features", str(dcgan_run), "--images", "1",
                            "--out", str(dcgan_run / "pages" / "f.html"))  # fmt: skip
    assert code == 0, err
    assert Path(stdout.strip()) == dcgan_run / "pages" / "f.html"
    assert (dcgan_run / "pages" / "f.html").is_file()


def test_check_run_destination(tmp_path: Path) -> None:
    """The shared rule: the run or a folder above it, or anything in its checkpoints/."""
    run = tmp_path / "runs" / "r"
    (run / "checkpoints").mkdir(parents=True)
    for bad in (run, run.parent, run / "checkpoints", run / "checkpoints" / "step_0000009"):
        with pytest.raises(UsageError, match="--out"):
            check_run_destination(bad, run)
    with pytest.raises(UsageError, match=r"^--page '.*checkpoints/a\.html' is inside"):
        check_run_destination(run / "checkpoints" / "a.html", run, "--page")
    for good in (run / "export-onnx", run / "interpret" / "a.html", tmp_path / "elsewhere"):
        check_run_destination(good, run)


# -- SeFa on StyleGAN's w ---------------------------------------------------------------------


def test_stylegan_sefa_reads_the_convs_and_the_last_torgb(tmp_path: Path) -> None:
    """genforce/sefa's `factorize_weight` (StyleGAN2, layers "all") stacks the style weights
    of every modulated synthesis conv (layer0 ... layer{L-2}) and, for the last index only,
    the final resolution's toRGB (output{(L-1)//2}); each output unit's weight is scaled to unit
    length. Computed here from the generator's named layers by an SVD, independently of `sefa`,
    and compared with the directions the interpret plugin finds."""
    ganhub.train([*TINY_STYLEGAN, "data=digits", "name=sg", f"out_dir={tmp_path}"])
    system = ganhub.load(tmp_path / "sg").system
    space = system.latent_space()
    assert space is not None and space.projection is not None
    blocks = list(system.generator().synthesis.blocks)
    layers = [conv.affine for block in blocks for conv in block.convs] + [blocks[-1].torgb.affine]
    A = torch.cat([layer.weight.detach().double().cpu() for layer in layers])
    A = A / A.norm(dim=1, keepdim=True)
    _, singular, expected = torch.linalg.svd(A, full_matrices=False)
    assert space.projection.shape == A.shape  # 5 convs + 1 toRGB at 16 px: no other rows
    k = 4
    found, values = sefa(space.projection, k)
    assert torch.allclose(values.double(), singular[:k].square(), rtol=1e-4)
    cosines = (found.double() @ expected[:k].T).diagonal().abs()
    assert bool((cosines > 0.999).all()), cosines
