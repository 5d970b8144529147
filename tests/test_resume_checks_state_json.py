"""A checkpoint's state.json edited or damaged: one line naming the checkpoint, the file, the
key that is missing or wrong, and that the checkpoint is damaged.

A state.json without its 'state' key was refused as "unreadable: 'state'" (a KeyError's text);
a text step, a dangling tensor reference or a malformed tuple said as little, or nothing that
named the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.loop import fit
from ganhub.errors import UsageError
from ganhub.wiring import make_run

from .conftest import TINY_TOY


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-step toy run with one checkpoint (step 4)."""
    out = tmp_path_factory.mktemp("runs")
    fit(make_run(resolve([*TINY_TOY, "name=r", f"out_dir={out}", "trainer.keep_checkpoints=1"])))
    return out / "r"


def _edited(trained: Path, tmp_path: Path, edit: Any) -> Path:
    """A copy of the run whose state.json `edit` changed (it takes and returns the JSON)."""
    run_dir = tmp_path / "r"
    shutil.copytree(trained, run_dir)
    (path,) = checkpoint.step_dirs(run_dir / "checkpoints")
    meta = json.loads((path / "state.json").read_text())
    (path / "state.json").write_text(json.dumps(edit(meta)))
    return run_dir


def _set(meta: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    meta["state"][key] = value
    return meta


DAMAGE = {
    "no state": (lambda m: {"step": m["step"]}, r"has no key 'state' \(it holds 'step'\)"),
    "no step": (lambda m: {"state": m["state"]}, r"has no key 'step' \(it holds 'state'\)"),
    "text step": (
        lambda m: {**m, "step": "4"},
        r"gives 'step' as the text '4', not a whole number of steps",
    ),
    "another step": (lambda m: {**m, "step": 7}, r"says step 7, its folder step_0000004"),
    "a list": (lambda m: [m], r"holds a list, not an object with 'step' and 'state'"),
    "state list": (lambda m: {**m, "state": []}, r"gives 'state' as a list, not an object"),
    "dangling tensor": (
        lambda m: _set(m, "rng", {"__tensor__": "t.999"}),
        r"refers at state\['rng'\] to tensor 't.999', which state.safetensors does not hold",
    ),
    "tuple text": (
        lambda m: _set(m, "phases", {"__tuple__": "ab"}),
        r"has at state\['phases'\] a '__tuple__' of the text 'ab', not a list",
    ),
    "items number": (
        lambda m: _set(m, "phases", {"__items__": 5}),
        r"has at state\['phases'\] '__items__' that are not \[key, value\] pairs",
    ),
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_state_json_names_the_file_and_the_key(
    trained: Path, tmp_path: Path, how: str
) -> None:
    edit, reason = DAMAGE[how]
    run_dir = _edited(trained, tmp_path, edit)
    path = run_dir / "checkpoints" / "step_0000004"
    with pytest.raises(UsageError, match=rf"^checkpoint '.*step_0000004' is damaged: its "
                       rf"state.json {reason}$"):  # fmt: skip
        checkpoint.load(path)
    assert checkpoint.load(path, weights_only=True)[0] == 4  # sampling needs the weights only


def test_a_resume_from_it_is_one_line(trained: Path, tmp_path: Path, cli: Any) -> None:
    run_dir = _edited(trained, tmp_path, lambda m: {"step": m["step"]})
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "step_0000004' is damaged: its state.json has no key 'state'" in err, err
