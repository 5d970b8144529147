"""A resumed reweight run keeps the density-ratio classifier its checkpoint holds: options that
only the classifier's training reads cannot change on resume (config.yaml would record a
classifier the run never trained), while those that act on its odds at every step can."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ganhub_fairness.ratio import MIN_REFERENCE
from PIL import Image

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")
CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def test_a_resume_that_changes_the_classifiers_training_is_refused(cli: CLI, workdir: Path) -> None:
    """`ganhub run resume=runs/r trick.reweight.steps=50` trained on with the 2-step classifier
    and wrote steps: 50 to config.yaml, without a word; now one line names the key, both
    values and what can change, before the run writes anything."""
    ref = workdir / "ref"
    ref.mkdir()
    for i in range(MIN_REFERENCE):
        Image.new("L", (32, 32), 4 * i).save(ref / f"{i:03d}.png")
    args = [*TINY_DCGAN, "eval.metrics=[]", "tricks=[reweight]", "trick.reweight.steps=2"]
    code, _, err = cli("run", *args, f"trick.reweight.reference={ref}", "name=r")
    assert code == 0, err
    config = (workdir / "runs/r/config.yaml").read_text()
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=4", "trick.reweight.steps=50")
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("ganhub: error: trick.reweight.steps=50 (trained with 2): "), line
    assert "flatten and max_weight can" in line and "Traceback" not in err
    assert (workdir / "runs/r/config.yaml").read_text() == config
    assert not (workdir / "runs/r/checkpoints/step_0000004").exists()
    # the same folder named relatively, and an option that acts on the odds, resume
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=4", "trick.reweight.reference=ref",
                       "trick.reweight.flatten=0.5")  # fmt: skip
    assert code == 0, err
    assert "flatten: 0.5" in (workdir / "runs/r/config.yaml").read_text()
