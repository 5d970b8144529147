"""What users type to `ganhub sample` and `ganhub export`: keys taken or refused, output paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ganhub

from .conftest import TINY_TOY


@pytest.fixture
def run_dir(workdir: Path) -> Path:
    ganhub.train([*TINY_TOY, "name=s"])
    return workdir / "runs" / "s"


@pytest.mark.parametrize(
    "key", ["trainer.steps=5", "loss=hinge", "tricks=[ema]", "eval.n_samples=9"]
)
def test_keys_only_training_reads_are_refused_in_one_line(
    cli: Any, run_dir: Path, key: str
) -> None:
    """They were accepted and did nothing (exit 0)."""
    code, out, err = cli("sample", str(run_dir), key, "--n", "4")
    name = key.partition("=")[0]
    assert code == 2 and not out and len(err.strip().splitlines()) == 1
    assert f"{name}: ganhub sample does not train or score" in err
    assert not (run_dir / "samples" / "sample_seed0_n4.png").exists()


def test_a_model_key_that_changes_the_weights_is_named(cli: Any, run_dir: Path) -> None:
    """The error blamed "its run's config", which the user had not changed."""
    code, _, err = cli("sample", str(run_dir), "model.g_hidden=7", "--n", "4")
    assert code == 2 and "does not fit the config with model.g_hidden changed" in err
    code, out, _ = cli("sample", str(run_dir), "--n", "4")  # the run's own config samples
    assert code == 0 and out.strip()


def test_an_output_under_a_file_names_the_file(cli: Any, run_dir: Path, tmp_path: Path) -> None:
    """`--out FILE/x` said "File exists" of the path the user gave."""
    (tmp_path / "plain").write_text("x")
    code, _, err = cli("export", str(run_dir), "--out", str(tmp_path / "plain" / "x"))
    assert code == 2 and f"'{tmp_path / 'plain'}' is a file, not a folder" in err


def test_sampling_options_name_the_file_so_another_call_writes_beside_it(
    cli: Any, workdir: Path
) -> None:
    """`ganhub sample RUN sample.psi=0.3 --n 4` overwrote the default call's sample_seed0_n4."""
    tiny = ["plugin=stylegan", "preset=tiny", "trainer.steps=2", "trainer.progress=false",
            "eval.metrics=[]", "loggers=[]"]  # fmt: skip
    ganhub.train([*tiny, "name=sg"])
    run = workdir / "runs" / "sg"
    names = []
    for extra in ([], ["sample.psi=0.3"], ["sample.psi=0.3", "sample.cutoff=2"]):
        code, out, err = cli("sample", str(run), *extra, "--n", "4", "--out", "o")
        assert code == 0, err
        names.append(Path(out.strip().splitlines()[0]).name)
    assert names == [
        "sample_seed0_n4.png", "sample_seed0_n4_psi0.3.png", "sample_seed0_n4_psi0.3_cutoff2.png"
    ]  # fmt: skip
    assert len(list((workdir / "o").glob("*.png"))) == 3 * 2  # a grid and a mixing grid each
    # a model.* key changes how the generator runs (cyclegan's model.inference=paper): named too
    code, out, err = cli("sample", str(run), "model.noise=false", "--n", "4", "--out", "o")
    assert code == 0, err
    assert Path(out.strip().splitlines()[0]).name == "sample_seed0_n4_noisefalse.png"
