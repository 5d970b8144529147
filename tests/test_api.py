"""The Python API: train, load (EMA weights when present), sample reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganhub
from ganhub.errors import UsageError

from .conftest import TINY_DCGAN


def test_train_load_sample(workdir: Path) -> None:
    summary = ganhub.train([*TINY_DCGAN, "tricks=[ema]", "name=api"])
    assert summary["steps"] == 2 and Path(summary["checkpoint"]).is_dir()
    model = ganhub.load(summary["run_dir"])
    assert model.generator is model.system.G_ema
    assert repr(model) == (  # what a notebook shows (was <ganhub.api.TrainedGAN object at 0x..>)
        f"<TrainedGAN dcgan at step 2 from checkpoint '{summary['checkpoint']}' on cpu>"
    )
    a, b = model.sample(6, seed=1), model.sample(6, seed=1)
    assert a.shape == (6, 1, 32, 32) and torch.equal(a, b)
    assert not torch.equal(a, model.sample(6, seed=2))
    assert a.min() >= -1.0 and a.max() <= 1.0
    # the loaded weights are the trained EMA weights
    trained = ganhub.load(workdir / "runs/api").system.state_dict()
    assert all(torch.equal(trained[k], v) for k, v in model.system.state_dict().items())


def test_train_accepts_a_dict_and_keyword_overrides(workdir: Path) -> None:
    summary = ganhub.train(
        {"plugin": "toy2d", "trainer": {"steps": 3, "progress": False}, "loggers": []},
        model__g_hidden=8, model__d_hidden=8, name="kw",
    )  # fmt: skip
    assert summary["steps"] == 3 and summary["run_dir"].endswith("kw")
    summary = ganhub.train(plugin="toy2d", trainer__steps=2, trainer__progress=False, loggers=[])
    assert summary["steps"] == 2


def test_a_keyword_joins_the_section_a_dict_sets(workdir: Path) -> None:
    """`trainer__batch_size=` next to `{"trainer": {"steps": 2}}` once replaced the whole
    section: the run trained the default 2,000 steps."""
    summary = ganhub.train(
        {"plugin": "toy2d", "trainer": {"steps": 2}, "loggers": []},
        trainer__batch_size=8, trainer__progress=False, eval__metrics=[],
    )  # fmt: skip
    assert summary["steps"] == 2
    assert ganhub.load(summary["run_dir"]).config.trainer.batch_size == 8
    assert ganhub.train("plugin=toy2d", trainer__steps=1, trainer__progress=False)["steps"] == 1
    with pytest.raises(UsageError, match=r"ganhub.train\(config=5\): give a RunConfig"):
        ganhub.train(5)  # type: ignore[arg-type]


def test_sample_arguments_are_checked_in_one_line(workdir: Path) -> None:
    import numpy as np

    model = ganhub.load(ganhub.train([*TINY_DCGAN, "model.conditional=true"])["run_dir"])
    assert model.sample(np.int64(2), seed=np.int64(3)).shape[0] == 2
    bad: list[tuple[dict[str, object], str]] = [
        ({"n": 0}, "n=0: a whole number of at least 1"),
        ({"n": 2.5}, "n=2.5: a whole number"),
        ({"n": "4"}, "n='4': a whole number"),
        ({"n": 2, "seed": -1}, "seed=-1: a whole number from 0 to 4294967295"),
        ({"n": 2, "seed": 2**70}, "seed=1180591620717411303424"),
        ({"n": 2, "labels": torch.tensor([1, 2, 3])}, "integer tensor of shape (2,) is needed"),
        ({"n": 2, "labels": torch.tensor([1.0, 2.0])}, "got torch.float32 (2,)"),
        ({"n": 2, "labels": torch.tensor([1, 99])}, "labels: 99 is not a class; each must be"),
    ]
    for kwargs, message in bad:
        with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
            model.sample(**kwargs)  # type: ignore[arg-type]
    # the class names this run has, not a fixed example it may not have ('10')
    with pytest.raises(UsageError, match=r"label -1: a class index is 0\.\.9, or a class name as text \('0', '1', '2', '3', '4', '5', \.\.\.\)"):  # fmt: skip
        model.labels_for(-1, 2)
    for run_dir in (None, 123):
        with pytest.raises(UsageError, match="give the path of a run directory"):
            ganhub.load(run_dir)  # type: ignore[arg-type]
    Path("afile").write_text("x")
    with pytest.raises(UsageError, match="afile: a file is there where a folder is needed"):
        model.write_samples("afile")
    with pytest.raises(UsageError, match=r"^n=10001: at most 10,000 samples per grid or file"):
        model.write_samples("grids", n=10_001)  # one batch: 10^8 ended in an allocator error
    assert not Path("grids").exists()


def test_load_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a ganhub run directory"):
        ganhub.load(tmp_path)


def test_a_run_loads_after_its_data_folder_is_gone(workdir: Path) -> None:
    import shutil

    from PIL import Image

    folder = workdir / "imgs"
    folder.mkdir()
    for i in range(8):
        Image.new("L", (32, 32), i * 30).save(folder / f"{i}.png")
    summary = ganhub.train(
        [*TINY_DCGAN, "data=folder", f"data.path={folder}", "trainer.batch_size=4"]
    )
    shutil.rmtree(folder)
    assert ganhub.load(summary["run_dir"]).sample(2).shape == (2, 3, 32, 32)


def test_generator_of_a_run_with_several_is_the_first(workdir: Path) -> None:
    """`.generator` of a cyclegan run is G_AB (its EMA copy with ema); it raised AttributeError
    ('CycleGANSystem' object has no attribute 'G')."""
    summary = ganhub.train(["plugin=cyclegan", "preset=tiny", "trainer.steps=1", "name=cg"])
    model = ganhub.load(summary["run_dir"])
    assert model.generator is model.system.G_AB
    assert model.system.generator("G_BA") is model.system.G_BA
    summary = ganhub.train(["plugin=cyclegan", "preset=tiny", "trainer.steps=1",
                            "tricks=[ema]", "name=cg_ema"])  # fmt: skip
    model = ganhub.load(summary["run_dir"])
    assert model.generator is model.system.G_AB_ema
