"""Real-number options of the plugins' commands refuse a bad value in ganhub's one line
(`--radius 0: is the --at lesion's radius in voxels: give a number above 0`), as the
whole-number options do (`clikit.RealNumber`), not in click's "'abc' is not a valid float";
nan and inf are refused with the range."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)
TEMPERATURE = (
    "is the softmax temperature of sampling, as sample.temperature (near 0: greedy decoding; "
    "below 1: safer, less varied sentences): give a number from 1.2e-38 to 100"
)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["medgan", "simulate", ".", "--at", "1,1", "--radius", "abc"],
         "--radius abc: is the --at lesion's radius in voxels: give a number above 0"),
        (["medgan", "simulate", ".", "--at", "1,1", "--radius", "inf"],
         "--radius inf: is the --at lesion's radius in voxels: give a number above 0"),
        (["textgan", "generate", ".", "--temperature", "hot"], f"--temperature hot: {TEMPERATURE}"),
        (["textgan", "curve", ".", "--temperature", "0.8", "--temperature", "1,2"],
         f"--temperature 1,2: {TEMPERATURE}"),
    ],
)  # fmt: skip
def test_a_real_number_option_refuses_in_one_line(
    cli: Cli, workdir: Path, args: list[str], line: str
) -> None:
    code, _, err = cli(*args)
    assert code == 2 and err.strip() == f"ganhub: error: {line}", err
