"""stylegan's image commands refuse an option typed as no number in the words of its bounds,
and the `sample.*` keys name no default a preset may not give.

`--frames abc`, `--psi x` and `--n 1.5` had click's "Invalid value for '--frames': 'abc' is
not a valid integer." while `sample.frames=abc` said why the key counts and what to give;
`sample.frames=1` with `preset=tiny` (8 frames) said "(default 48)", the config class's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import ganhub
from ganhub.errors import ConfigError

Cli = Callable[..., tuple[int, str, str]]

FRAMES = "counts the frames of an interpolation, which has two ends: give a whole number, 2 or more"
PSI = "is the share of w's distance from w_avg that a sample keeps: give a psi of 0 or more"
LATENTS = "counts the latents of each row: give a whole number, 1 or more (default 8)"


@pytest.mark.parametrize(
    ("verb", "option", "value", "line"),
    [
        ("explore", "--frames", "abc", f"{FRAMES} (leave --frames out for the run's sample.frames)"),
        ("interpolate", "--frames", "2.5", f"{FRAMES} (leave --frames out for the run's "
         "sample.frames)"),
        ("explore", "--psi", "x", f"{PSI} (0: w_avg's image, 1: no truncation; leave --psi out "
         "for the run's sample.psi)"),
        ("explore", "--n", "1.5", "counts the images of a grid: give a whole number, 1 or more "
         "(leave --n out for the run's sample.grid)"),
        ("truncation", "--n", "many", LATENTS),
        ("mix", "--rows", "x", "counts the row sources of the grid: give a whole number, 1 or "
         "more (default 4)"),
        ("mix", "--crossover", "half", "is the style index where the columns' styles take "
         "over: give a whole number from 1 to one less than the generator's style vectors "
         "(leave --crossover out for half)"),
    ],
)  # fmt: skip
def test_an_option_that_is_no_number_says_what_is_valid(
    cli: Cli, workdir: Path, verb: str, option: str, value: str, line: str
) -> None:
    (workdir / "run").mkdir()
    code, out, err = cli("stylegan", verb, "run", option, value)
    assert (code, out) == (2, ""), err
    assert err.strip() == f"ganhub: error: {option} {value}: {line}"


def test_numbers_are_still_read_as_config_keys_read_them(cli: Cli, workdir: Path) -> None:
    """'3.0' is a whole number as for `sample.frames=3.0`: the command gets to the run."""
    (workdir / "run").mkdir()
    code, _, err = cli("stylegan", "explore", "run", "--frames", "3.0", "--n", "4", "--psi", "1")
    assert code != 0 and "--frames" not in err and "--n" not in err and "--psi" not in err
    code, out, _ = cli("stylegan", "explore", "--help")
    assert code == 0 and "--frames INTEGER" in out and "--psi FLOAT" in out


@pytest.mark.parametrize(
    ("item", "line"),
    [
        ("sample.frames=1", "sample.frames=1: counts the frames of an interpolation, which has "
         "two ends: give 2 or more"),
        ("sample.frames=abc", f"sample.frames='abc': {FRAMES}"),
        ("sample.grid=0", "sample.grid=0: counts the images of a grid: give 1 or more"),
        ("sample.grid=2.5", "sample.grid=2.5: counts the images of a grid: give a whole "
         "number, 1 or more"),
        ("sample.psi=-1", f"sample.psi=-1: {PSI} (0: w_avg's image, 1: no truncation)"),
    ],
)  # fmt: skip
def test_a_sample_key_names_no_class_default(item: str, line: str) -> None:
    """preset=tiny draws 8 frames in a grid of 16: the line must not say 48 or 64."""
    with pytest.raises(ConfigError) as err:
        ganhub.resolve(["plugin=stylegan", "preset=tiny", item])
    assert str(err.value) == line
