"""Whole-number options of the plugins' commands refuse a bad value in ganhub's one line
(`--size 0: is the square side ...: give a whole number from 8 to 4096`), as `ganhub eval --n`
does, not in click's "Invalid value for '--size': 0 is not in the range 8<=x<=4096"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["cyclegan", "translate", ".", "--input", "x", "--size", "0"],
         "--size 0: is the square side the inputs are resized to: give a whole number from 8 "
         "to 4096"),
        (["cyclegan", "translate", ".", "--input", "x", "--batch-size", "abc"],
         "--batch-size abc: counts the images translated at once: give a whole number of 1 or "
         "more"),
        (["textgan", "generate", ".", "--n", "0"],
         "--n 0: counts the sentences to print: give a whole number of 1 or more"),
        (["textgan", "curve", ".", "--temperature", "1", "--n", "1.5"],
         "--n 1.5: counts the samples scored per temperature: give a whole number of 1 or "
         "more"),
        (["interpret", "directions", ".", "--directions", "65"],
         "--directions 65: counts the directions to find and walk: give a whole number from 1 "
         "to 64"),
        (["interpret", "probes", ".", "--samples", "39"],
         "--samples 39: counts the codes sampled to fit and score the probes: give a whole "
         "number from 40 to 100000"),
        (["stylegan", "check", ".", "--image-size", "x"],
         "--image-size x: is the model.image_size to check the images for: give a whole "
         "number from 8 to 1024"),
    ],
)  # fmt: skip
def test_a_whole_number_option_refuses_in_one_line(
    cli: Cli, workdir: Path, args: list[str], line: str
) -> None:
    code, _, err = cli(*args)
    assert code == 2 and err.strip() == f"ganhub: error: {line}", err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["sample", ".", "--steps", "5"],
         "No such option '--steps': trainer.steps=5 is for ganhub run (training only), not "
         "ganhub sample, which takes sampling keys (sample.*, model.*, data.*, device)"),
        (["sample", ".", "--psi=0.5"],
         "No such option '--psi': config keys are given as key=value: sample.psi=0.5"),
        (["eval", ".", "--psi", "0.5"],
         "No such option '--psi': sample.psi=0.5 is for ganhub sample, not ganhub eval, which "
         "takes eval.* keys (the eval. prefix is optional) and, where the run's data has "
         "moved, data.*"),
        (["eval", ".", "--metrics", "fid"],
         "No such option '--metrics': config keys are given as key=value: eval.metrics=fid"),
    ],
)  # fmt: skip
def test_a_flag_that_is_a_config_key_names_what_the_command_takes(
    cli: Cli, workdir: Path, args: list[str], line: str
) -> None:
    """`ganhub sample RUN --steps 5` suggested trainer.steps=5, a key sample then refused."""
    code, _, err = cli(*args)
    assert code == 2 and line in err and len(err.strip().splitlines()) == 1, err
