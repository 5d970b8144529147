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


@pytest.mark.parametrize("trick", ["reweight", "resample"])
def test_a_paired_translation_is_refused_in_one_line(cli: CLI, workdir: Path, trick: str) -> None:
    """cyclegan task=paired stopped at step one with "its real_batch() raised RuntimeError:
    Given groups=1, weight of size [16, 3, 3, 3], expected input[2, 6, 32, 32] to have 3
    channels" (medgan likewise, [3, 64, 64] against [1, 64, 64])."""
    reference = workdir / "reference"
    reference.mkdir()
    for i in range(MIN_REFERENCE):
        Image.new("RGB", (32, 32), (i * 5, 40, 200 - i * 3)).save(reference / f"{i:03d}.png")
    code, _, err = cli("run", "plugin=cyclegan", "task=paired", "preset=tiny",
                       "trainer.steps=2", "trainer.progress=false", "loggers=[jsonl]",
                       "eval.metrics=[]", f"tricks=[{trick}]",
                       f"trick.{trick}.reference={reference}", f"trick.{trick}.steps=2",
                       "name=paired")  # fmt: skip
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert "RuntimeError" not in err
    assert line.startswith(f"ganhub: error: trick '{trick}': the 'cyclegan' discriminator's real")
    assert "[6, 32, 32], not the [3, 32, 32] images the density-ratio classifier learned" in line
    assert line.endswith("this domain does not support it")
