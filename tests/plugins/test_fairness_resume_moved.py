"""A resumed reweight run keeps the density-ratio classifier its checkpoint holds: the reference
folder it was trained on may have moved since, which one note line says; a resume that adds
the trick still needs the folder and refuses a missing one before it starts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ganhub_fairness.ratio import MIN_REFERENCE
from PIL import Image
from safetensors.torch import load_file

from ..conftest import TINY_DCGAN

pytestmark = pytest.mark.usefixtures("one_thread")
CLI = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def _reference(root: Path) -> Path:
    root.mkdir()
    for i in range(MIN_REFERENCE):
        Image.new("L", (32, 32), 4 * i).save(root / f"{i:03d}.png")
    return root


def _classifier(checkpoint: Path) -> dict[str, list[float]]:
    """The reweight classifier's weights in a checkpoint (state.json names their tensors)."""
    state = json.loads((checkpoint / "state.json").read_text())
    tensors = load_file(str(checkpoint / "state.safetensors"))
    net = state["state"]["tricks"]["reweight"]["net"]
    return {k: tensors[v["__tensor__"]].flatten().tolist() for k, v in net.items()}


def test_a_resume_after_the_reference_folder_moved_keeps_the_checkpoints_classifier(
    cli: CLI, workdir: Path
) -> None:
    """`ganhub run resume=runs/r` after `mv ref ref2` was refused with "trick.reweight.reference=
    .../ref: does not exist" although the run never reads it again; now it trains on with the
    same classifier and one note line."""
    ref = _reference(workdir / "ref")
    args = [*TINY_DCGAN, "eval.metrics=[]", "tricks=[reweight]", "trick.reweight.steps=2"]
    code, _, err = cli("run", *args, f"trick.reweight.reference={ref}", "name=r")
    assert code == 0, err
    ref.rename(workdir / "ref2")
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=4")
    assert code == 0, err
    assert f"ganhub: note: trick.reweight.reference={ref} no longer exists" in err
    assert "training the density-ratio classifier" not in err  # none trained again
    checkpoints = workdir / "runs" / "r" / "checkpoints"
    before, after = (_classifier(checkpoints / f"step_{s:07d}") for s in (2, 4))
    assert before == after
    rows = [
        json.loads(line) for line in (workdir / "runs/r/metrics.jsonl").read_text().splitlines()
    ]
    assert max(row.get("step", 0) for row in rows) == 4
    assert any("reweight/weight_mean" in row for row in rows if row.get("step") == 4)


def test_a_resume_that_adds_reweight_with_a_moved_folder_is_still_refused(
    cli: CLI, workdir: Path
) -> None:
    """A run trained without the trick has no classifier to keep: the missing folder is
    refused in one line before the run writes anything."""
    code, _, err = cli("run", *TINY_DCGAN, "eval.metrics=[]", "name=r")
    assert code == 0, err
    config = (workdir / "runs/r/config.yaml").read_text()
    code, _, err = cli("run", "resume=runs/r", "trainer.steps=4", "tricks=[reweight]",
                       f"trick.reweight.reference={workdir / 'gone'}")  # fmt: skip
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith("ganhub: error: trick.reweight.reference=")
    assert "does not exist" in err and "Traceback" not in err
    assert (workdir / "runs/r/config.yaml").read_text() == config
    assert not (workdir / "runs/r/checkpoints/step_0000004").exists()
