"""stylegan's sampling options (`sample.*`): a value out of range is one ganhub line naming
the key, the value, why and what to give, not pydantic's "Input should be ..."."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.mark.parametrize(
    ("value", "size", "valid"),
    [("-1", 16, "1..6"), ("-8", 32, "1..8"), ("7", 16, "1..6")],
)
def test_a_cutoff_out_of_range_names_the_range_of_this_generator(
    cli: CLI, workdir: Path, value: str, size: int, valid: str
) -> None:
    """`sample.cutoff=-1` said "sample.cutoff=-1: Input should be greater than or equal to 0",
    where a cutoff past the generator's style vectors said what to give; now both do."""
    code, out, err = cli("run", "plugin=stylegan", "preset=tiny", f"model.image_size={size}",
                         f"sample.cutoff={value}", "name=c")  # fmt: skip
    assert code == 2 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Input should" not in err and "Traceback" not in err
    assert lines[0].startswith(f"ganhub: error: sample.cutoff={value}: ")
    assert (
        f"a {size} px generator has {valid[3:]} style vectors to truncate; give {valid}, or 0 "
        "to truncate none" in err
    )
    assert not (workdir / "runs").exists()  # refused before a run directory is made


@pytest.mark.parametrize(
    ("key", "value", "give"),
    [("psi", "-0.5", "give a psi of 0 or more"), ("grid", "0", "give 1 or more"),
     ("frames", "1", "give 2 or more")],
)  # fmt: skip
def test_other_sampling_bounds_say_why_and_what_to_give(
    cli: CLI, workdir: Path, key: str, value: str, give: str
) -> None:
    """psi, grid and frames had pydantic's wording too ("Input should be greater than or equal
    to 1"); `ganhub config` refuses them as a run does."""
    code, _, err = cli("config", "plugin=stylegan", "preset=tiny", f"sample.{key}={value}")
    assert code == 2 and "Input should" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"ganhub: error: sample.{key}={value}: ") and give in err


def test_the_bounds_still_allow_what_they_allowed(cli: CLI, workdir: Path) -> None:
    """0 and the largest cutoff, psi 0 and above 1, a grid of one and two frames."""
    for value in ("sample.cutoff=0", "sample.cutoff=6", "sample.psi=0", "sample.psi=1.5",
                  "sample.grid=1", "sample.frames=2"):  # fmt: skip
        code, _, err = cli("config", "plugin=stylegan", "preset=tiny", "model.image_size=16",
                           value)  # fmt: skip
        assert code == 0, (value, err)
