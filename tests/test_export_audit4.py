"""`ganhub export` as a user meets it: a --seed that is no seed is refused in one ganhub line
naming the option and what is valid, not in click's "'x' is not a valid integer"."""

from __future__ import annotations

from pathlib import Path

import pytest

SEED = "seeds the random draws: give a whole number from 0 to 4294967295"


@pytest.mark.parametrize("value", ["x", "1.5", "-1", "4294967296"])
def test_a_bad_seed_is_refused_in_one_line_naming_the_option(
    cli, workdir: Path, value: str
) -> None:  # type: ignore[no-untyped-def]
    """click said "Invalid value for '--seed': 'x' is not a valid integer." (or "-1 is not in
    the range 0<=x<=4294967295."); --format is read in any case before the seed is."""
    (workdir / "run").mkdir()
    code, out, err = cli("export", "run", "--format", "SAFETENSORS", "--seed", value)
    assert code == 2 and not out, err
    assert err.strip() == f"ganhub: error: --seed {value}: {SEED}"
    assert not (workdir / "run" / "export-safetensors").exists()


def test_the_help_says_the_range_of_the_seed(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("export", "--help")
    assert code == 0 and "--seed INTEGER" in out and "(0 to 4294967295)" in out


def test_a_bad_format_is_refused_in_one_line_naming_the_option(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """click said "Invalid value for '--format': 'onxx' is not one of ..."."""
    (workdir / "run").mkdir()
    code, _, err = cli("export", "run", "--format", "onxx")
    assert code == 2 and err.strip() == (
        "ganhub: error: --format onxx: 'onxx' is not one of safetensors, onnx, torchscript "
        "(did you mean 'onnx'?)"
    )


@pytest.mark.parametrize("seed", [-1, "x", True])
def test_export_run_refuses_a_bad_seed_before_it_starts(workdir: Path, seed: object) -> None:
    """`export_run(seed="x")` stopped halfway with torch's "manual_seed expected a long";
    seed=-1 was taken."""
    from ganhub.errors import UsageError
    from ganhub.export import export_run

    (workdir / "run").mkdir()
    with pytest.raises(UsageError) as caught:
        export_run(workdir / "run", out=workdir / "out", seed=seed)  # type: ignore[arg-type]
    assert str(caught.value) == f"seed={seed!r}: a whole number from 0 to 4294967295 is needed"
    assert not (workdir / "out").exists()


@pytest.mark.parametrize("command", [["sample"], ["stylegan", "mix"]])
def test_every_seed_option_refuses_in_the_same_line(cli, workdir: Path, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    """`ganhub sample --seed abc` said click's "'abc' is not a valid integer"."""
    (workdir / "run").mkdir()
    code, out, err = cli(*command, "run", "--seed", "abc")
    assert code == 2 and not out, err
    assert err.strip() == f"ganhub: error: --seed abc: {SEED}"
