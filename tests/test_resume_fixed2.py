"""A key no resume may change, typed at resume, checked against what the checkpoint records.

The early check of a typed `seed=` (or `condition.*`) compared it with the run's config.yaml:
with config.yaml edited to `seed: 7`, typing the seed the checkpoint was trained with (0) was
refused as "trained with seed=7". The checkpoint's record is what was trained: typing its value
resumes (and writes it back into config.yaml), any other value is refused naming it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-step toy run (seed 0) with checkpoints at steps 2 and 4."""
    out = tmp_path_factory.mktemp("runs")
    keys = [f"out_dir={out}", "name=r", "seed=0", "trainer.checkpoint_every=2", "eval.metrics=[]"]
    fit(make_run(resolve([*TINY_TOY, *keys])))
    return out / "r"


def _edited(trained: Path, tmp_path: Path) -> Path:
    """A copy of the run whose config.yaml was edited to seed: 7 after it trained."""
    run_dir = tmp_path / "r"
    shutil.copytree(trained, run_dir)
    path = run_dir / "config.yaml"
    text = path.read_text()
    assert "\nseed: 0\n" in text
    path.write_text(text.replace("\nseed: 0\n", "\nseed: 7\n", 1))
    return run_dir


def test_typing_the_seed_the_checkpoint_was_trained_with_resumes(
    trained: Path, tmp_path: Path, cli: Cli
) -> None:
    run_dir = _edited(trained, tmp_path)
    code, _, err = cli("run", f"resume={run_dir}", "seed=0", "trainer.steps=6")
    assert code == 0, err
    state = json.loads((run_dir / "checkpoints/step_0000006/state.json").read_text())
    assert state["state"]["fixed"]["seed"] == 0
    assert "\nseed: 0\n" in (run_dir / "config.yaml").read_text()  # the edit is undone


def test_another_seed_typed_is_refused_naming_the_checkpoints_value(
    trained: Path, tmp_path: Path, cli: Cli
) -> None:
    run_dir = _edited(trained, tmp_path)
    for typed in ("5", "7"):  # 7: the edited config.yaml's, still not what was trained
        code, _, err = cli("run", f"resume={run_dir}", f"seed={typed}", "trainer.steps=6")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert (
            f"seed={typed}: {run_dir} trained with seed=0, and a resumed run's seed cannot "
            f"change ({run_dir / 'config.yaml'} was edited to seed=7 after checkpoint "
            "step_0000004: resume with seed=0, which writes it back); make a new run"
        ) in err, err
    assert not (run_dir / "checkpoints/step_0000006").exists()
