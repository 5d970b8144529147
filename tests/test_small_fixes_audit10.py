"""Four user-facing lines: a path inside a run names the run to give; an export inside a run
adapts next to that run; `data.digit_groups` without `data.proportions` names the missing key;
`precision=fp16` says what ganhub calls half precision."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganhub
from ganhub.errors import ConfigError

from .conftest import TINY_DCGAN, TINY_TOY

QUIET = ["trainer.eval_every=0", "eval.metrics=[]", "device=cpu", "trainer.steps=2"]


@pytest.fixture
def run(workdir: Path) -> Path:
    """A trained toy run, runs/src."""
    ganhub.train([*TINY_TOY, *QUIET, "name=src"])
    return Path("runs/src")


def test_a_path_inside_a_run_names_the_run_to_give(run: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`resume=runs/src/config.yaml`, `ganhub sample runs/src/checkpoints` and `ganhub report
    runs/src/samples` said "is not a ganhub run directory (.../config.yaml is missing)"."""
    step = sorted((run / "checkpoints").iterdir())[-1]
    for args in (
        ["run", f"resume={run / 'config.yaml'}"],
        ["run", f"resume={run / 'checkpoints'}"],
        ["sample", str(run / "checkpoints")],
        ["sample", str(step)],
        ["report", str(run / "samples")],
    ):
        code, _, err = cli(*args)
        assert code == 2, (args, err)
        typed = args[-1].removeprefix("resume=")
        line = f"'{typed}' is not a run directory but is inside one: give '{run}'"
        assert line in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    code, _, err = cli("report", str(run / "metrics.jsonl"))  # a file of the run
    assert code == 2 and f"is a file, not a run directory; give '{run}'" in err, err
    code, _, err = cli("sample", "runs/nope")  # no run anywhere above: said as before
    assert code == 2 and "'runs/nope': no such run directory" in err, err


def test_a_folder_above_a_linked_config_is_no_run(run: Path, tmp_path: Path) -> None:
    """Only a regular config.yaml marks a run: a link named config.yaml above is not one."""
    from ganhub.config.saved import run_holding

    assert run_holding(run / "checkpoints") == run
    assert run_holding((run / "samples").resolve()) == run.resolve()  # absolute as typed
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    (outer / "config.yaml").symlink_to((run / "config.yaml").resolve())
    assert run_holding(outer / "inner") is None


def test_an_export_inside_a_run_adapts_next_to_that_run(run: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`ganhub adapt runs/src/export-safetensors` put its run inside runs/src; it lands next
    to runs/src, named after both (docs/fewshot.md: never inside the run)."""
    from ganhub.adapt import adapt_config

    code, out, err = cli("export", str(run))
    assert code == 0, err
    export = run / "export-safetensors"
    assert export.is_dir(), out
    config = adapt_config(export, [])
    assert Path(config.out_dir) == Path("runs")
    assert config.name is not None and config.name.startswith("src-export-safetensors-adapt-")
    plain = adapt_config(run, [])  # a run itself: as before
    assert Path(plain.out_dir) == Path("runs") and str(plain.name).startswith("src-adapt-")


def test_digit_groups_without_proportions_names_the_missing_key(workdir: Path) -> None:
    """It said "is only read with data=digits and data.proportions, and data=digits was
    given", naming the key that was right."""
    groups = 'data.digit_groups=["0123","456789"]'
    with pytest.raises(ConfigError, match=r"and data\.proportions is missing") as caught:
        ganhub.train([*TINY_DCGAN, "data=digits", groups])
    assert "data=digits was given" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"and data=mnist was given"):  # the source is wrong
        ganhub.train([*TINY_DCGAN, "data=mnist", groups])


@pytest.mark.parametrize(
    ("typed", "ours"), [("fp16", "16"), ("FP16", "16"), ("half", "16"), ("bfloat16", "bf16")]
)
def test_precision_spelled_as_elsewhere_says_ganhubs_name(
    workdir: Path, typed: str, ours: str
) -> None:
    """`precision=fp16` got "did you mean 'bf16'?": half precision is ganhub's '16'."""
    from ganhub.config.resolve import resolve

    with pytest.raises(ConfigError, match=rf"give precision={ours} ") as caught:
        resolve([*TINY_TOY, f"precision={typed}"])
    assert "did you mean" not in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
