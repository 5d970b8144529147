"""A resume checked against what its checkpoint was trained with.

An edited `seed:` in a run's config.yaml resumed silently with the new seed (the data order a
resume continues), since only keys typed again were compared with the file: a checkpoint now
records the keys no resume may change, and a config that sets them otherwise is refused in
one line naming the file, the key and both values. An optimizer state that did not fit was
"does not fit this config or is damaged" with torch's words: it now says which, naming the
keys that changed what the optimizers train, or the file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]
STEP = "step_0000004"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-step toy run with one checkpoint (step 4)."""
    out = tmp_path_factory.mktemp("runs")
    keys = [f"out_dir={out}", "trainer.keep_checkpoints=1", "eval.metrics=[]"]
    fit(make_run(resolve([*TINY_TOY, "name=r", *keys])))
    return out / "r"


def _copy(
    trained: Path, tmp_path: Path, state: Callable[[dict[str, Any]], Any] | None = None
) -> Path:
    """A copy of the run, its state.json's training state changed by `state`."""
    run_dir = tmp_path / "r"
    shutil.copytree(trained, run_dir)
    if state is not None:
        path = run_dir / "checkpoints" / STEP / "state.json"
        meta = json.loads(path.read_text())
        state(meta["state"])
        path.write_text(json.dumps(meta))
    return run_dir


def _edit(run_dir: Path, old: str, new: str) -> str:
    """Edit the run's config.yaml; its text after the edit."""
    path = run_dir / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path.read_text()


def test_a_seed_edited_in_config_yaml_is_refused_naming_the_file(
    trained: Path, tmp_path: Path, cli: Cli
) -> None:
    run_dir = _copy(trained, tmp_path)
    edited = _edit(run_dir, "\nseed: 0\n", "\nseed: 7\n")
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (
        f"{run_dir / 'config.yaml'} gives seed=7, but checkpoint {STEP} was trained with seed=0, "
        f"and a resumed run's seed cannot change; set seed back to 0 in {run_dir / 'config.yaml'}"
    ) in err, err
    assert (run_dir / "config.yaml").read_text() == edited  # refused before anything changed
    assert not (run_dir / "checkpoints" / "step_0000006").exists()


def test_a_checkpoint_from_before_the_record_resumes_as_before(
    trained: Path, tmp_path: Path
) -> None:
    run_dir = _copy(trained, tmp_path, lambda s: s.pop("fixed"))
    _edit(run_dir, "\nseed: 0\n", "\nseed: 7\n")
    fit(make_run(resolve([f"resume={run_dir}", "trainer.steps=6"])))
    newest = json.loads((run_dir / "checkpoints/step_0000006/state.json").read_text())
    assert newest["state"]["fixed"] == {"seed": 7}  # recorded from now on


def test_a_record_that_is_not_one_is_a_damaged_state(
    trained: Path, tmp_path: Path, cli: Cli
) -> None:
    run_dir = _copy(trained, tmp_path, lambda s: s.__setitem__("fixed", [0]))
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6")
    assert code == 2 and f"the training state of {STEP} (state.json) is damaged" in err, err


def test_an_optimizer_that_trains_other_parameters_names_the_key_typed(
    trained: Path, tmp_path: Path, cli: Cli
) -> None:
    run_dir = _copy(trained, tmp_path)
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6", "tricks=[freeze_d]")
    line = err.strip().splitlines()[-1]
    assert code == 2 and "is damaged" not in line, err
    assert (
        f"the optimizer state of checkpoint {STEP} does not fit the optimizers this resume "
        "builds (D's optimizer trains 8 parameters in it, 4 in this resume): it sets "
        f"tricks=[freeze_d] (the run's: []), where {run_dir / 'config.yaml'} holds the run's "
        "settings"
    ) in line, line


def test_an_optimizer_that_does_not_fit_an_edited_config_names_the_file(
    trained: Path, tmp_path: Path, cli: Cli
) -> None:
    run_dir = _copy(trained, tmp_path)
    _edit(run_dir, "\ntricks: []\n", "\ntricks:\n- freeze_d\n")
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6")
    assert code == 2, err
    assert (
        f"does not fit the optimizers {run_dir / 'config.yaml'} describes (D's optimizer trains "
        "8 parameters in it, 4 in this resume), and this resume changes none of its keys"
    ) in err, err


def test_a_renumbered_optimizer_state_is_damaged_naming_state_json(
    trained: Path, tmp_path: Path, cli: Cli
) -> None:
    def renumber(state: dict[str, Any]) -> None:
        state["optimizers"]["G"]["param_groups"][0]["params"][0] = 99

    run_dir = _copy(trained, tmp_path, renumber)
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6")
    assert code == 2, err
    assert (
        f"the optimizer state of {STEP} (state.json, state.safetensors) is damaged (its "
        "state.json numbers the parameters of state['optimizers']['G'] otherwise than 0 to"
    ) in err, err


def test_optimizer_mismatch_counts_groups_parameters_and_shapes() -> None:
    """Torch's own words named neither the group nor the count."""
    from ganhub.engine.checkpoint_state import DamagedState, optimizer_mismatch

    a, b, c = (torch.nn.Parameter(torch.zeros(n)) for n in (2, 3, 4))
    two = torch.optim.Adam([{"params": [a]}, {"params": [b, c]}])
    one = torch.optim.Adam([a, b, c])
    two.zero_grad()
    for p in (a, b, c):
        p.grad = torch.ones_like(p)
    two.step()
    saved = {"D": two.state_dict()}
    assert optimizer_mismatch({"D": two}, saved) is None
    assert optimizer_mismatch({"D": one}, saved) == (
        "D's optimizer has 2 param groups in it, 1 in this resume"
    )
    fewer = torch.optim.Adam([{"params": [a]}, {"params": [b]}])
    assert optimizer_mismatch({"D": fewer}, saved) == (
        "D's optimizer trains 3 (1 + 2 by param group) parameters in it, 2 (1 + 1 by param "
        "group) in this resume"
    )
    swapped = torch.optim.Adam([{"params": [a]}, {"params": [c, b]}])
    assert optimizer_mismatch({"D": swapped}, saved, {id(c): "D.2.weight"}) == (
        "D.2.weight has moments of shape (3,) in it, is (4,) in this resume"
    )
    assert (
        optimizer_mismatch({"G": two}, saved) == "it holds no optimizer state for G (it holds 'D')"
    )
    with pytest.raises(DamagedState, match=r"state for parameter 7, which its param groups"):
        optimizer_mismatch({"D": two}, {"D": {**saved["D"], "state": {7: {}}}})
