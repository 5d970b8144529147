"""Sampling a trained run: counts and seeds are checked alike by every way of asking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ganhub
from ganhub.api import TrainedGAN
from ganhub.config.resolve import resolve
from ganhub.errors import UsageError
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN, TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    ganhub.train([*TINY_TOY, "name=t", f"out_dir={out}"])
    return out / "t"


@pytest.mark.parametrize(
    ("key", "value"), [("n", "0"), ("n", "-3"), ("n", "abc"), ("n", "20000"), ("seed", "-1")]
)
def test_the_deprecated_form_is_refused_in_the_line_of_the_option(
    cli: Any, toy_run: Path, key: str, value: str
) -> None:
    """`n=0` said "Invalid value: n=0: must be a positive integer" after a deprecation notice
    (`--n 0`: ganhub's one line); `n=20000` and `seed=-1` were refused in other words again."""
    old = cli("sample", str(toy_run), f"{key}={value}")
    new = cli("sample", str(toy_run), f"--{key}", value)
    assert old == new
    code, out, err = old
    assert code == 2 and not out and len(err.strip().splitlines()) == 1
    assert err.startswith(f"ganhub: error: --{key} {value}: ")
    assert not list((toy_run / "samples").glob("sample_seed*"))


@pytest.fixture(scope="module")
def conditional(tmp_path_factory: pytest.TempPathFactory) -> TrainedGAN:
    """An untrained conditional dcgan: the checks come before any weights matter."""
    out = tmp_path_factory.mktemp("c")
    run = make_run(resolve([*TINY_DCGAN, "model.conditional=true", f"out_dir={out}"]))
    return TrainedGAN(run.system, run.config, out / "checkpoints" / "step_000000")


@pytest.mark.parametrize("n", [0, -1, True, 2.0, "4"])
def test_every_method_refuses_a_count_that_is_no_positive_whole_number(
    conditional: TrainedGAN, tmp_path: Path, n: Any
) -> None:
    """labels_for(3, -1) gave one label, (3, 0) none, (3, True) one, (3, 2.0) a TypeError."""
    line = f"n={n!r}: a whole number of at least 1 is needed"
    calls = [
        lambda: conditional.labels_for(3, n),
        lambda: conditional.sample(n, labels=3),
        lambda: conditional.write_class(tmp_path, 3, n=n),
        lambda: conditional.write_samples(tmp_path, n=n),
    ]
    for call in calls:
        with pytest.raises(UsageError) as refused:
            call()
        assert str(refused.value) == line
    assert not list(tmp_path.iterdir())


def test_a_class_grid_has_the_bound_of_any_written_grid(
    conditional: TrainedGAN, tmp_path: Path
) -> None:
    """write_class(n=20000) drew 20,000 images in one batch, stopped only by memory."""
    line = (
        "n=20000: at most 10,000 samples per grid or file (they are generated in one batch); "
        "write several with other seeds"
    )
    for call in (
        lambda: conditional.write_class(tmp_path, 3, n=20_000),
        lambda: conditional.write_samples(tmp_path, n=20_000),
    ):
        with pytest.raises(UsageError) as refused:
            call()
        assert str(refused.value) == line
    assert len(conditional.labels_for(3, 20_000)) == 20_000  # a tensor, not a file: no bound
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("seed", [None, -1, 1.0])
def test_a_class_grid_refuses_a_seed_as_write_samples_does(
    conditional: TrainedGAN, tmp_path: Path, seed: Any
) -> None:
    """write_class(seed=None) wrote sample_label3_seedNone_n2.png."""
    for call in (
        lambda: conditional.write_class(tmp_path, 3, n=2, seed=seed),
        lambda: conditional.write_samples(tmp_path, n=2, seed=seed),
    ):
        with pytest.raises(UsageError, match=r"^seed=.*: a whole number from 0 to \d+ is needed$"):
            call()
    assert not list(tmp_path.iterdir())
