"""The fairness tricks on a paired translation: D reads each target with its input stacked on
it, which the density-ratio classifier (trained on the targets alone) cannot weigh; refused in
one line that says so, not a convolution's channel error blamed on the plugin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ganhub_fairness.ratio import MIN_REFERENCE
from PIL import Image

pytestmark = pytest.mark.usefixtures("one_thread")
CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


@pytest.mark.parametrize(("trick", "task"), [("reweight", "paired"), ("resample", "unpaired")])
def test_a_translation_is_refused_in_one_line(
    cli: CLI, workdir: Path, trick: str, task: str
) -> None:
    """cyclegan task=paired stopped at step one with "its real_batch() raised RuntimeError:
    Given groups=1, weight of size [16, 3, 3, 3], expected input[2, 6, 32, 32] to have 3
    channels" (medgan likewise, [3, 64, 64] against [1, 64, 64]); unpaired, it trained, D_A's
    images weighted by a classifier of domain B. A translation samples nothing from noise:
    refused before the classifier trains."""
    reference = workdir / "reference"
    reference.mkdir()
    for i in range(MIN_REFERENCE):
        Image.new("RGB", (32, 32), (i * 5, 40, 200 - i * 3)).save(reference / f"{i:03d}.png")
    code, _, err = cli("run", "plugin=cyclegan", f"task={task}", "preset=tiny",
                       "trainer.steps=2", "trainer.progress=false", "loggers=[jsonl]",
                       "eval.metrics=[]", f"tricks=[{trick}]",
                       f"trick.{trick}.reference={reference}", f"trick.{trick}.steps=2",
                       "name=paired")  # fmt: skip
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert "RuntimeError" not in err
    assert line.startswith(f"ganhub: error: trick '{trick}' reweights a generator's training")
    assert f"'cyclegan' run translates images (task {task}) and samples none from noise" in line
    assert not (workdir / "runs").exists()
