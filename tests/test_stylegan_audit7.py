"""stylegan's `--cutoff` refusals end with what leaving the option out gives (the run's
`sample.cutoff`), not the key's "leave it unset to truncate all"; the Python pictures name the
call and the argument as typed, and the call's own default, not the option's "(default 48)"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)

TINY = ["plugin=stylegan", "preset=tiny", "trainer.progress=false", "loggers=[jsonl]"]
CUTOFF = (
    "counts the style vectors truncated, from the first: give a whole number from 0 (none) to "
    "the generator's style vectors (2 per resolution from 4 px: 8 at 32 px)"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16 px run (6 style vectors) trained for one step, truncating its first 2."""
    root = tmp_path_factory.mktemp("sg")
    ganhub.train([*TINY, "trainer.steps=1", "name=t", f"out_dir={root}", "sample.cutoff=2"])
    return root / "t"


def _refused(cli: Cli, *args: str) -> str:
    code, out, err = cli("stylegan", *args, "--out", "o")
    lines = err.strip().splitlines()
    assert code == 2 and not out and len(lines) == 1, (code, out, err)
    assert not Path("o").exists()
    return lines[0]


@pytest.mark.parametrize("verb", ["mix", "explore"])
def test_a_cutoff_that_is_no_number_says_what_leaving_the_option_out_gives(
    cli: Cli, workdir: Path, run_dir: Path, verb: str
) -> None:
    """`--cutoff q` ended "or leave it unset to truncate all", the `sample.cutoff` key's words:
    an option is left out, not unset, and gives the run's sample.cutoff (here 2, not all)."""
    line = _refused(cli, verb, str(run_dir), "--cutoff", "q")
    assert line == (
        f"ganhub: error: --cutoff q: {CUTOFF}, or leave --cutoff out for the run's sample.cutoff"
    )
    code, _, err = cli("config", *TINY, "sample.cutoff=q")
    assert code == 2 and err.strip().endswith(f"{CUTOFF}, or leave it unset to truncate all")


def test_a_cutoff_past_the_generator_names_the_runs_own_cutoff(
    cli: Cli, workdir: Path, run_dir: Path
) -> None:
    """`--cutoff 9` said "(leave --cutoff out to truncate all)" for a run whose sample.cutoff
    truncates only 2."""
    line = _refused(cli, "truncation", str(run_dir), "--cutoff", "9")
    assert line == (
        "ganhub: error: --cutoff 9: a 16 px generator has 6 style vectors to truncate; give "
        "1..6, or 0 to truncate none (leave --cutoff out for the run's sample.cutoff, 2)"
    )


@pytest.mark.parametrize(
    ("call", "given", "line"),
    [
        ("interpolation_gif", {"frames": 1}, "interpolation_gif(frames=1): counts the frames of "
         "an interpolation, which has two ends: give 2 or more (leave frames out for 48)"),
        ("interpolation_frames", {"keys": "3"}, "interpolation_frames(keys='3'): counts the w "
         "points a closed loop passes through: give a whole number, 2 or more (leave keys out "
         "for 4)"),
        ("style_mixing_grid", {"cols": 0}, "style_mixing_grid(cols=0): counts the column "
         "sources of the grid: give 1 or more (leave cols out for 5)"),
        ("style_mixing_grid", {"crossover": 6}, "style_mixing_grid(crossover=6): a 16 px "
         "generator has 6 style vectors; give 1..5 (the rows' styles before it, the columns' "
         "from it on), or leave crossover out for half"),
        ("interpolation_gif", {"fps": 0}, "interpolation_gif(fps=0): sets the GIF's frames per "
         "second: give a number above 0 (leave fps out for 12)"),
    ],
)  # fmt: skip
def test_the_python_pictures_name_the_argument_as_typed(
    workdir: Path, run_dir: Path, call: str, given: dict[str, object], line: str
) -> None:
    """`crossover=6` said "must be between 1 and 5" and `fps=0` raised ZeroDivisionError."""
    import ganhub_stylegan

    from ganhub.errors import UsageError

    system = ganhub.load(run_dir, plugin="stylegan").system
    args = () if call == "interpolation_frames" else (workdir / "out.gif",)
    with pytest.raises(UsageError) as caught:
        getattr(ganhub_stylegan, call)(system, *args, **given)
    assert str(caught.value) == line
    assert not (workdir / "out.gif").exists()
