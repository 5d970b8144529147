"""`ganhub stylegan mix|truncation|interpolate|explore` refuse a value out of bounds in the words
of its `sample.*` key (why, then what to give), one ganhub line, exit 2, before anything is
written; `sample.psi=inf` is refused in those words too, not pydantic's "finite number"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

TINY = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]
PSI = "is the share of w's distance from w_avg that a sample keeps: give a psi of 0 or more"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 px run (6 style vectors) trained for one step."""
    root = tmp_path_factory.mktemp("sg")
    ganhub.train([*TINY, "trainer.steps=1", "name=t", f"out_dir={root}"])
    return root / "t"


def _refused(cli: Cli, *args: str) -> str:
    """The one line a refused command printed (exit 2, nothing on stdout, nothing written)."""
    code, out, err = cli("stylegan", *args, "--out", "o")
    lines = err.strip().splitlines()
    assert code == 2 and not out and len(lines) == 1, (code, out, err)
    assert "Invalid value" not in err and "not in the range" not in err and "Traceback" not in err
    assert not Path("o").exists()
    return lines[0]


@pytest.mark.parametrize("value", ["-1", "-8"])
def test_a_negative_cutoff_says_the_range_of_this_generator(
    cli: Cli, workdir: Path, run_dir: Path, value: str
) -> None:
    """`--cutoff -1` said click's "-1 is not in the range x>=0"; now the line `sample.cutoff`
    gives, after `--cutoff -1:`, as a cutoff past the style vectors already did."""
    for verb in ("explore", "mix", "truncation", "interpolate"):
        line = _refused(cli, verb, str(run_dir), "--cutoff", value)
        assert line == (
            f"ganhub: error: --cutoff {value}: a 16 px generator has 6 style vectors to "
            "truncate; give 1..6, or 0 to truncate none (leave --cutoff out for the run's "
            "sample.cutoff, unset: truncate all)"
        )
    code, _, err = cli("config", *TINY, f"sample.cutoff={value}")
    assert code == 2 and "a 16 px generator has 6 style vectors to truncate; give 1..6" in err


@pytest.mark.parametrize("value", ["-0.5", "inf", "nan"])
def test_psi_out_of_bounds_is_refused_as_sample_psi_is(
    cli: Cli, workdir: Path, run_dir: Path, value: str
) -> None:
    """`--psi -0.5` had click's range wording, `--psi inf` a line naming `psi=inf` without the
    option; `sample.psi=inf` had pydantic's "Input should be a finite number"."""
    for verb in ("explore", "mix", "interpolate"):
        line = _refused(cli, verb, str(run_dir), "--psi", value)
        assert line.startswith(f"ganhub: error: --psi {value.lstrip('+')}: {PSI}"), line
    code, out, err = cli("config", *TINY, f"sample.psi={value}")
    lines = err.strip().splitlines()
    assert code == 2 and not out and len(lines) == 1 and "Input should" not in err, err
    assert lines[0].startswith("ganhub: error: sample.psi=") and PSI in lines[0]


def test_a_non_finite_psi_is_refused_before_a_run_is_made(cli: Cli, workdir: Path) -> None:
    """`ganhub run sample.psi=-inf` is refused in one line, with no run directory."""
    code, _, err = cli("run", *TINY, "sample.psi=-inf", "name=p")
    assert code == 2 and PSI in err and len(err.strip().splitlines()) == 1, err
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize(
    ("verb", "option", "value", "words"),
    [
        ("explore", "--frames", "1", "counts the frames of an interpolation, which has two "
         "ends: give 2 or more"),
        ("explore", "--n", "0", "counts the images of a grid: give 1 or more"),
        ("explore", "--crossover", "0", "a 16 px generator has 6 style vectors; give 1..5"),
        ("mix", "--rows", "0", "counts the row sources of the grid: give 1 or more"),
        ("mix", "--cols", "-1", "counts the column sources of the grid: give 1 or more"),
        ("truncation", "--n", "0", "counts the latents of each row: give 1 or more"),
        ("interpolate", "--keys", "1", "counts the w points a closed loop passes through: "
         "give 2 or more"),
    ],
)  # fmt: skip
def test_the_other_bounded_options_say_why_and_what_to_give(
    cli: Cli, workdir: Path, run_dir: Path, verb: str, option: str, value: str, words: str
) -> None:
    """--frames, --n, --crossover, --rows, --cols and --keys had click's "x>=1" wording; the
    keys they stand for (`sample.frames`, `sample.grid`) are refused in the same words."""
    line = _refused(cli, verb, str(run_dir), option, value)
    assert line.startswith(f"ganhub: error: {option} {value}: {words}"), line
    if option in ("--frames", "--n") and verb == "explore":
        # the same why and bound; the option's default is the run's value, the key's its own
        key = {"--frames": "sample.frames", "--n": "sample.grid"}[option]
        _, _, err = cli("config", *TINY, f"{key}={value}")
        assert err.strip().startswith(f"ganhub: error: {key}={value}: {words}"), err


def test_the_bounds_still_allow_their_edges(cli: Cli, workdir: Path, run_dir: Path) -> None:
    """psi 0, cutoff 0 and 6, two frames and two keys, crossover 5, one row, column and latent."""
    for verb, *options in (
        ("interpolate", "--psi", "0", "--cutoff", "6", "--frames", "2", "--keys", "2"),
        ("mix", "--cutoff", "0", "--crossover", "5", "--rows", "1", "--cols", "1"),
        ("truncation", "--n", "1", "--cutoff", "0"),
    ):
        code, out, err = cli("stylegan", verb, str(run_dir), *options, "--out", "ok")
        assert code == 0 and Path(out.strip()).is_file(), err
