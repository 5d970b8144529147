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
