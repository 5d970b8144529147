"""stylegan's sampling options name the run's own values, and its `sample.*` keys refuse a
value that is no number in their own words.

`--psi`, `--frames` and explore's `--n` default to the run's `sample.psi`, `sample.frames` and
`sample.grid`: a refusal said "(default 48)" (the config class's default) for a run that set
`sample.frames=6`. `sample.psi=abc`, `sample.frames=2.5` and `sample.grid=true` had pydantic's
"Input should be a valid number" (or "a number is needed, not true") without what is valid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

TINY = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]
PSI = "is the share of w's distance from w_avg that a sample keeps: give a psi of 0 or more"
FRAMES = "counts the frames of an interpolation, which has two ends"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 px run trained for one step with sampling keys of its own."""
    root = tmp_path_factory.mktemp("sg")
    ganhub.train([*TINY, "trainer.steps=1", "name=t", f"out_dir={root}", "sample.frames=6",
                  "sample.grid=4", "sample.psi=0.5"])  # fmt: skip
    return root / "t"


def _refused(cli: Cli, *args: str) -> str:
    """The one line a refused command printed (exit 2, nothing written)."""
    code, out, err = cli(*args)
    lines = err.strip().splitlines()
    assert code == 2 and not out and len(lines) == 1, (code, out, err)
    assert "Input should" not in err and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("verb", "option", "value", "line"),
    [
        ("explore", "--frames", "1", f"{FRAMES}: give 2 or more (leave --frames out for the "
         "run's sample.frames, 6)"),
        ("interpolate", "--frames", "1", f"{FRAMES}: give 2 or more (leave --frames out for "
         "the run's sample.frames, 6)"),
        ("explore", "--n", "0", "counts the images of a grid: give 1 or more (leave --n out "
         "for the run's sample.grid, 4)"),
        ("mix", "--psi", "-1", f"{PSI} (0: w_avg's image, 1: no truncation; leave --psi out "
         "for the run's sample.psi, 0.5)"),
        ("explore", "--psi", "inf", f"{PSI} (0: w_avg's image, 1: no truncation; leave --psi "
         "out for the run's sample.psi, 0.5)"),
    ],
)  # fmt: skip
def test_a_refused_option_names_the_runs_own_value(
    cli: Cli, workdir: Path, run_dir: Path, verb: str, option: str, value: str, line: str
) -> None:
    """What is valid, then what leaving the option out gives for this run: not 48, 64, 0.7."""
    said = _refused(cli, "stylegan", verb, str(run_dir), option, value, "--out", "o")
    assert said == f"ganhub: error: {option} {value}: {line}"
    assert not Path("o").exists()


@pytest.mark.parametrize(
    ("item", "line"),
    [
        ("sample.psi=abc", f"sample.psi='abc': {PSI} (0: w_avg's image, 1: no truncation)"),
        ("sample.psi=true", f"sample.psi=True: {PSI} (0: w_avg's image, 1: no truncation)"),
        ("sample.frames=2.5", f"sample.frames=2.5: {FRAMES}: give a whole number, 2 or more"),
        ("sample.frames=[3]", f"sample.frames=[3]: {FRAMES}: give a whole number, 2 or more"),
        ("sample.grid=many", "sample.grid='many': counts the images of a grid: give a whole "
         "number, 1 or more"),
        ("sample.grid=true", "sample.grid=True: counts the images of a grid: give a whole "
         "number, 1 or more"),
        ("sample.cutoff=x", "sample.cutoff='x': counts the style vectors truncated, from the "
         "first: give a whole number from 0 (none) to the generator's style vectors (2 per "
         "resolution from 4 px: 8 at 32 px), or leave it unset to truncate all"),
    ],
)  # fmt: skip
def test_a_sample_key_that_is_no_number_says_what_is_valid(
    cli: Cli, workdir: Path, item: str, line: str
) -> None:
    """`ganhub run` refuses it in one line before a run directory is made."""
    assert _refused(cli, "run", *TINY, item, "name=p") == f"ganhub: error: {line}"
    assert not (workdir / "runs").exists()


def test_numbers_pydantic_reads_are_still_taken(cli: Cli, workdir: Path) -> None:
    """A whole float for a count and a number as text stay valid; an empty key keeps its own
    line."""
    config = ganhub.resolve([*TINY, "sample.frames=3.0", "sample.grid=5", "sample.psi=0.25"])
    assert (config.sample.frames, config.sample.grid, config.sample.psi) == (3, 5, 0.25)
    said = _refused(cli, "config", *TINY, "sample.psi=")
    assert "sample.psi= has no value" in said


@pytest.mark.parametrize(
    ("call", "given", "line"),
    [
        ("interpolation_gif", {"frames": 1}, f"interpolation_gif(frames=1): {FRAMES}: give 2 "
         "or more (leave frames out for 48)"),
        ("interpolation_gif", {"frames": "60"}, f"interpolation_gif(frames='60'): {FRAMES}: "
         "give a whole number, 2 or more (leave frames out for 48)"),
        ("interpolation_gif", {"keys": 1}, "interpolation_gif(keys=1): counts the w points a "
         "closed loop passes through: give 2 or more (leave keys out for 4)"),
        ("style_mixing_grid", {"rows": 0}, "style_mixing_grid(rows=0): counts the row sources "
         "of the grid: give 1 or more (leave rows out for 4)"),
        ("truncation_grid", {"n": 2.5}, "truncation_grid(n=2.5): counts the latents of each "
         "row: give a whole number, 1 or more (leave n out for 8)"),
        ("interpolation_gif", {"psi": -1}, f"interpolation_gif(psi=-1): {PSI} (0: w_avg's "
         "image, 1: no truncation; None: the run's sample.psi)"),
        ("truncation_grid", {"cutoff": 9}, "truncation_grid(cutoff=9): a 16 px generator has 6 "
         "style vectors to truncate; give 1..6, or 0 to truncate none (None: the run's "
         "sample.cutoff, all when unset)"),
    ],
)  # fmt: skip
def test_the_python_pictures_refuse_in_the_words_of_their_options(
    workdir: Path, run_dir: Path, call: str, given: dict[str, object], line: str
) -> None:
    """`interpolation_gif(frames=1)` wrote a one-frame GIF and `keys=1` a still loop,
    `frames="60"` raised a TypeError, psi=-1 had words of its own; nothing is written now."""
    import ganhub_stylegan

    from ganhub.errors import UsageError

    system = ganhub.load(run_dir, plugin="stylegan").system
    with pytest.raises(UsageError) as caught:
        getattr(ganhub_stylegan, call)(system, workdir / "out.png", **given)
    assert str(caught.value) == line
    assert not (workdir / "out.png").exists()
