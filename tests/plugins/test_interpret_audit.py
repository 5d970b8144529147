"""`ganhub interpret directions`: a factor that barely varies is not scored, a factor no
direction moves has no best direction, GANSpace and SeFa say when they find fewer directions
than --directions asks, and --directions does not cut the boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ganhub_interpret.directions import ganspace
from ganhub_interpret.directions_page import find_directions
from ganhub_interpret.scoring import KnownFactors, factor_spreads, score_directions

import ganhub
from ganhub.data.shapes import FACTOR_INFO, FactorInfo
from ganhub.latent import LatentSpace

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)
DIGIT = FactorInfo("digit", "categorical", tuple("0123456789"))


def _space(dim: int) -> LatentSpace:
    """Codes N(0, I) of `dim` dimensions, decoded to themselves."""

    def sample(n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))

    return LatentSpace("z", dim, sample, decode=lambda c: c)


def test_a_factor_that_only_the_estimators_misreadings_move_is_not_scored() -> None:
    """`s > 0` kept a run on one digit class (the classifier misreading 0.6 % of its 8s:
    spread 0.012) as varying, and every effect was divided by that 0.012."""
    eights = torch.full((1000,), 8)
    eights[:6] = 3  # misread
    assert factor_spreads({"digit": DIGIT}, {"digit": eights}) == {}
    mixed = eights.clone()
    mixed[:100] = 3  # a tenth of them another class: that varies
    assert set(factor_spreads({"digit": DIGIT}, {"digit": mixed})) == {"digit"}
    # a continuous factor that sits at one value but for the estimator's noise, beside one
    # that varies
    gen = torch.Generator().manual_seed(0)
    x = 0.5 + 0.001 * torch.randn(1000, generator=gen)
    y = torch.rand(1000, generator=gen) * 0.6 + 0.2
    info = {"x": FACTOR_INFO["x"], "y": FACTOR_INFO["y"]}
    assert set(factor_spreads(info, {"x": x, "y": y})) == {"y"}


def test_a_factor_no_direction_moves_has_no_best_direction() -> None:
    """Every effect 0: the factors table named "direction 0" its best (argmax of zeros)."""
    space = _space(3)
    codes = space.sample(64, 0)

    def estimate(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"digit": torch.zeros(len(images), dtype=torch.long)}  # no walk changes it

    reference = {"digit": torch.arange(1000) % 10}
    table = score_directions(
        space, torch.eye(3), codes, estimate=estimate, info={"digit": DIGIT},
        reference=reference, n_base=16,
    )  # fmt: skip
    (digit,) = table.per_factor
    assert digit.direction is None and digit.effect == 0
    best_line = table.format().splitlines()[-1].split()
    assert best_line[:2] == ["digit", "-"], best_line


def test_ganspace_finds_no_more_components_than_the_samples_span() -> None:
    """16 centred samples have rank 15: the 16th component was a null one, walked."""
    directions, ratios = ganspace(_space(32), 64, n=16, seed=0)
    assert directions.shape == (15, 32) and len(ratios) == 15
    space = _space(32)
    notes = find_directions(space, "ganspace", 64, space.sample(16, 0), 16, 0, None)[3]
    assert notes == [
        "--directions 64: GANSpace finds 15 components, as 16 centred samples span at most "
        "15 dimensions (more --samples find more)"
    ]


def test_directions_does_not_cut_the_boundaries() -> None:
    """--directions 8 dropped the digit=8 and digit=9 boundaries of a digits run; the docs
    say it counts SeFa and GANSpace directions only."""
    space = _space(4)
    codes = space.sample(400, 0)

    def estimate(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"x": images[:, 0], "y": images[:, 1], "scale": images[:, 2]}

    info = {k: FACTOR_INFO[k] for k in ("x", "y", "scale")}
    known = KnownFactors("shapes", estimate, info, estimate(codes))
    directions, names, _, notes = find_directions(space, "boundary", 1, codes, 400, 0, known)
    assert names == ["x", "y", "scale"] and len(directions) == 3 and notes == []


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dcgan (16-dimensional z) trained for two steps on shapes."""
    root = tmp_path_factory.mktemp("interpret-audit")
    ganhub.train([*TINY_DCGAN, "data=shapes", "data.n=256", "name=dc", f"out_dir={root}",
                  "trainer.sample_every=0", "eval.metrics=[]"])  # fmt: skip
    return root / "dc"


def test_fewer_directions_than_asked_are_said_on_the_terminal_and_the_page(
    cli: CLI, shapes_run: Path, tmp_path: Path
) -> None:
    for method, said in (
        ("ganspace", "--directions 64: GANSpace finds 15 components, as 16 centred samples"),
        ("sefa", "--directions 64: SeFa finds at most 16 directions in this 16-dimensional z"),
    ):
        page = tmp_path / f"{method}.html"
        code, _, err = cli("interpret", "directions", str(shapes_run), "--method", method,
                           "--samples", "16", "--directions", "64", "--out", str(page))  # fmt: skip
        assert code == 0, err
        notes = [line for line in err.splitlines() if line.startswith("ganhub: note:")]
        assert len(notes) == 1 and said in notes[0], err
        assert said in page.read_text()


def test_directions_given_with_boundary_is_said_to_be_unused(
    cli: CLI, shapes_run: Path, tmp_path: Path
) -> None:
    page = tmp_path / "b.html"
    code, _, err = cli("interpret", "directions", str(shapes_run), "--method", "boundary",
                       "--samples", "100", "--directions", "1", "--out", str(page))  # fmt: skip
    assert code == 0, err
    assert "note: --directions 1 is not used: --method boundary fits one boundary per factor" in err
    walked = re.search(r"(\d+) directions? from 100", page.read_text())
    assert walked and int(walked.group(1)) > 1


def test_a_run_on_one_digit_class_is_unscored_though_a_few_are_misread(
    cli: CLI, workdir: Path
) -> None:
    """All the 8s (not 10 shots of them): the classifier misreads a few, and the page showed a
    table of effects divided by their spread of 0.012, every one 0.00."""
    code, _, err = cli("run", *TINY_DCGAN, "data.classes=[8]", "trainer.sample_every=0",
                       "eval.metrics=[]", "name=eight")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("interpret", "directions", str(workdir / "runs" / "eight"),
                         "--samples", "16", "--directions", "2")  # fmt: skip
    assert code == 0, err
    text = Path(out.strip()).read_text()
    assert "id='unscored'" in text and "id='scores'" not in text
    assert "that counts as varying" in text
