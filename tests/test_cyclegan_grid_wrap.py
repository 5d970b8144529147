"""A translator's sample grid of many rows is dealt into blocks side by side, not one strip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ganhub_cyclegan.grids import wrapped_rows
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_layers_d=2",
    "trainer.progress=false", "loggers=[]", "eval.metrics=[]",
]  # fmt: skip


def test_rows_are_dealt_into_blocks_read_top_to_bottom() -> None:
    rows = torch.arange(7.0).reshape(7, 1, 1, 1)  # one column: row i holds the value i
    tiles, per_line = wrapped_rows([rows, -rows])  # k=2; floor(sqrt(7 // 2)) = 1 block
    assert per_line == 2 and tiles.flatten().tolist()[:4] == [0, 0, 1, -1]
    rows = torch.arange(50.0).reshape(50, 1, 1, 1)
    tiles, per_line = wrapped_rows([rows, rows])  # 5 blocks of 10 rows, 10 tiles a line
    lines = tiles.flatten().reshape(-1, per_line)
    assert per_line == 10 and lines.shape == (10, 10)
    assert lines[:, 0].tolist() == list(range(10)) and lines[0, ::2].tolist() == [0, 10, 20, 30, 40]
    tiles, per_line = wrapped_rows([torch.zeros(11, 1, 1, 1)])  # 3 blocks of 4: 1 cell empty
    assert per_line == 3 and tiles.flatten().tolist()[-1] == -1.0


@pytest.mark.parametrize("task", ["unpaired", "paired"])
def test_a_large_grid_is_about_square(task: str, tmp_path: Path) -> None:
    """`ganhub sample RUN --n 500` of a 32-pixel cyclegan run was 206 x 17002 pixels."""
    run = make_run(resolve([*TINY, f"task={task}", f"out_dir={tmp_path}"]))
    (path,) = run.system.write_samples(tmp_path / "s", "grid", n=60)
    width, height = Image.open(path).size
    per_row = 6 if task == "unpaired" else 3
    blocks = int((60 // per_row) ** 0.5)
    assert width == 2 + blocks * per_row * 18 and 0.5 < width / height < 2
    (path,) = run.system.write_samples(tmp_path / "s", "preview", n=8)  # as during training
    assert Image.open(path).size == (2 + per_row * 18, 2 + 8 * 18)
