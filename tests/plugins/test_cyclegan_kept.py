"""A folder run keeps a few of its own sample inputs: the run samples where its data folder is
not (`ganhub_cyclegan.kept`); its export, made for sharing, holds none of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError
from ganhub.export import export_run
from ganhub.wiring import make_run

from .test_cyclegan import TINY, TINY_FOLDER, _png

pytestmark = pytest.mark.usefixtures("one_thread")

FOLDER = [*TINY_FOLDER, "data.load_size=18", "trainer.steps=1"]


def _h2z(root: Path, test_a: int = 3, test_b: int = 2) -> Path:
    """trainA/ trainB/ testA/ testB/ of distinct noise images."""
    rng = np.random.default_rng(0)
    counts = {"trainA": 4, "trainB": 4, "testA": test_a, "testB": test_b}
    for side, n in counts.items():
        for i in range(n):
            _png(root / side / f"{i}.png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    return root


def _forget_kept_inputs(run_dir: Path) -> None:
    """Make `run_dir` a run saved before inputs were kept: its checkpoints without them."""
    for path in (run_dir / "checkpoints").glob("step_*/model.safetensors"):
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata()
        tensors = load_file(str(path))
        kept = [k for k in tensors if k.startswith("sample_inputs.")]
        assert kept == ["sample_inputs.A", "sample_inputs.B"]
        save_file({k: v for k, v in tensors.items() if k not in kept}, str(path), metadata=meta)


def test_a_run_samples_without_its_folder_and_its_export_holds_none_of_its_images(  # type: ignore[no-untyped-def]
    workdir: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run keeps a few of its own images to sample from; its export, made for sharing,
    held them too (in generator.safetensors) and a samples/ grid showing them."""
    data = _h2z(workdir / "h2z")
    run_dir = Path(ganhub.train([*FOLDER, f"data.path={data}"])["run_dir"])
    before = ganhub.load(run_dir).sample(5, seed=0)  # the folder is there
    data.rename(workdir / "moved")
    capsys.readouterr()
    model = ganhub.load(run_dir)
    assert torch.equal(model.sample(5, seed=0), before)  # the same with or without it
    assert model.sample(3, seed=4).shape == (3, 3, 16, 16)
    assert capsys.readouterr().err.count("inputs kept with the run") == 1  # said once
    code, out, err = cli("sample", str(run_dir), "--n", "2", "--out", str(workdir / "s"))
    assert code == 0 and out.strip().endswith("sample_seed0_n2.png"), err
    assert err.count("inputs kept with the run") == 1 and err.count("\n") == 1
    with pytest.raises(ConfigError, match="folder does not exist"):  # metrics read the data
        model.system.eval_images(4)
    export = export_run(run_dir, out=workdir / "export")
    assert not (export / "samples").exists()
    assert not [k for k in load_file(str(export / "generator.safetensors")) if "sample" in k]
    assert "no samples: this run's samples show its training data" in capsys.readouterr().err
    translated = ganhub.load(export).system.translate(before[:2], "AtoB")
    assert translated.shape == (2, 3, 16, 16)  # what an export is for needs no data
    code, _, err = cli("sample", str(export), "--out", str(workdir / "s2"))
    assert code == 2 and err.count("\n") == 1 and "data.path=" in err, err
    code, _, err = cli("sample", str(export), "--out", str(workdir / "s3"),
                       f"data.path={workdir / 'moved'}")  # fmt: skip
    assert code == 0, err


def test_paired_inputs_stay_aligned_and_are_capped(workdir: Path) -> None:
    from ganhub_cyclegan.kept import MAX_KEPT, kept_count

    for i in range(3):  # pair i: left half grey level 40*i, right half its negative
        image = np.zeros((20, 40, 3), dtype=np.uint8)
        image[:, :20], image[:, 20:] = 40 * i + 20, 235 - 40 * i
        _png(workdir / "pairs" / "test" / f"{i}.png", image)
        _png(workdir / "pairs" / "train" / f"{i}.png", image)
    args = [*FOLDER, "task=paired", f"data.path={workdir / 'pairs'}", "data.direction=BtoA"]
    system = make_run(resolve(args)).system
    system.before_training()
    a, b = system.sample_inputs.draw(7, seed=5)
    assert a.shape == b.shape == (7, 3, 16, 16)
    assert torch.allclose(a + b, torch.zeros_like(a), atol=0.02)  # each input with its target
    a, _ = system.sample_inputs.draw(4, seed=0)  # BtoA: the right halves, in listed order
    want = torch.tensor([235.0, 195.0, 155.0, 235.0]) / 127.5 - 1
    assert torch.allclose(a[:, 0, 0, 0], want, atol=0.01)
    assert kept_count(3, 16) == MAX_KEPT and kept_count(3, 256) == 42 and kept_count(3, 4096) == 1


def test_damaged_kept_inputs_in_a_checkpoint_are_one_line(workdir: Path) -> None:
    data = _h2z(workdir / "h2z")
    run_dir = Path(ganhub.train([*FOLDER, f"data.path={data}"])["run_dir"])
    (weights,) = (run_dir / "checkpoints").glob("step_*/model.safetensors")
    with safe_open(str(weights), "pt") as fh:
        meta = fh.metadata()
    tensors = load_file(str(weights))
    for bad in (
        tensors["sample_inputs.A"].float(),
        tensors["sample_inputs.A"][:, :, :8].contiguous(),
    ):
        save_file({**tensors, "sample_inputs.A": bad}, str(weights), metadata=meta)
        with pytest.raises(UsageError, match=r"^the sample inputs kept with this run are damaged"):
            ganhub.load(run_dir)
    rest = {k: v for k, v in tensors.items() if k != "sample_inputs.B"}
    save_file(rest, str(weights), metadata=meta)
    with pytest.raises(UsageError, match="side B is missing"):
        ganhub.load(run_dir)


def test_a_run_saved_before_inputs_were_kept(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    data = _h2z(workdir / "h2z")
    run_dir = Path(ganhub.train([*FOLDER, f"data.path={data}"])["run_dir"])
    _forget_kept_inputs(run_dir)
    assert ganhub.load(run_dir).sample(2).shape == (2, 3, 16, 16)  # reads its folder, as before
    data.rename(workdir / "moved")
    cli("plugins")  # what ran before is not the command's
    code, _, err = cli("sample", str(run_dir))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("ganhub: error: this run keeps no sample inputs")
    assert "`ganhub cyclegan translate RUN --input IMAGES/`" in err and "data.path=" in err
    code, _, err = cli("sample", str(run_dir), "--out", "s", f"data.path={workdir / 'moved'}")
    assert code == 0, err
    # the embedded digits keep nothing and need nothing
    embedded = ganhub.train([*TINY, "trainer.steps=1"])["run_dir"]
    model = ganhub.load(embedded)
    assert not model.system.sample_inputs.held and model.sample(2).shape == (2, 3, 16, 16)
