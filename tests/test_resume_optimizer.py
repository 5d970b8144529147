"""A resume that changes the optimizer: a momentum turned on, or another optim.*.name.

torch reads an optimizer's per-parameter state only in step(): a checkpoint of rmsprop without
momentum, resumed with optim.D.momentum=0.9, failed mid-step with KeyError 'momentum_buffer'
(adam -> rmsprop: 'square_avg', rmsprop -> adam: 'exp_avg') after config.yaml had been
rewritten with the new settings, so every later plain resume failed the same way; an sgd run
with momentum resumed as adam was refused as "damaged". Now a momentum turned on starts its
buffer as torch does, another optimizer starts afresh (one line says so), a damaged state is
refused before any step, and a resume that fails before its first checkpoint puts config.yaml
back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY


def _trained(name: str, *keys: str) -> Path:
    fit(make_run(resolve([*TINY_TOY, f"name={name}", *keys])))
    return Path("runs") / name


def _d_state(run_dir: Path) -> set[str]:
    """The per-parameter state keys D's optimizer saved in the newest checkpoint."""
    newest = sorted((run_dir / "checkpoints").glob("step_*"))[-1]
    import json

    state = json.loads((newest / "state.json").read_text())["state"]["optimizers"]["D"]["state"]
    items = state["__items__"] if "__items__" in state else list(state.items())
    return set(items[0][1])


def test_momentum_turned_on_for_rmsprop_starts_at_zero_and_the_run_goes_on(
    workdir: Path, cli: Any
) -> None:
    run_dir = _trained("rms", "optim.D.name=rmsprop")
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6", "optim.D.momentum=0.9")
    assert code == 0, err
    assert "momentum_buffer" in _d_state(run_dir)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["optim"]["D"]["momentum"] == 0.9
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=8")  # a plain resume after
    assert code == 0, err
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=10", "optim.D.momentum=0")
    assert code == 0, err
    assert "momentum_buffer" not in _d_state(run_dir)  # turned off: dropped, not kept stale


def test_a_new_momentum_buffer_is_zero_and_the_loaded_moments_are_kept(workdir: Path) -> None:
    run_dir = _trained("rms", "optim.D.name=rmsprop")
    newest = sorted((run_dir / "checkpoints").glob("step_*"))[-1]
    moments = [v for k, v in load_file(str(newest / "state.safetensors")).items()]
    run = make_run(resolve([f"resume={run_dir}", "trainer.steps=6", "optim.D.momentum=0.9"]))
    states = list(run.optimizers["D"].state.values())
    assert states and all(not s["momentum_buffer"].any() for s in states)
    kept = [s["square_avg"] for s in states]
    assert all(any(torch.equal(a, m) for m in moments) for a in kept)
    run.close()


@pytest.mark.parametrize(
    ("before", "after", "held"),
    [
        (["optim.D.name=adam"], ["optim.D.name=rmsprop"], "adam or adamw"),
        (["optim.D.name=rmsprop"], ["optim.D.name=adam"], "rmsprop"),
        (["optim.D.name=sgd", "optim.D.momentum=0.9"],
         ["optim.D.name=adam", "optim.D.momentum=0"], "sgd"),
    ],
)  # fmt: skip
def test_another_optimizer_starts_afresh_saying_so_in_one_line(
    workdir: Path, cli: Any, capsys: Any, before: list[str], after: list[str], held: str
) -> None:
    run_dir = _trained("o", *before)
    lr = make_run(resolve([f"resume={run_dir}", "trainer.steps=6"]))
    reached = lr.optimizers["D"].param_groups[0]["lr"]
    lr.close()
    run = make_run(resolve([f"resume={run_dir}", "trainer.steps=6", *after]))
    assert not run.optimizers["D"].state  # nothing of the other optimizer's state
    assert run.optimizers["G"].state  # the unchanged group keeps its own
    assert run.optimizers["D"].param_groups[0]["lr"] == reached
    run.close()
    capsys.readouterr()  # the note make_run gave
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=6", *after)
    assert code == 0, err
    notes = err.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("ganhub: note: optim.D.name="), err
    assert f"holds D's {held} state" in notes[0] and "starts afresh" in notes[0]
    code, _, err = cli("run", f"resume={run_dir}", "trainer.steps=8")  # its own state now
    assert code == 0 and not err.strip(), err


@pytest.mark.parametrize("failing", [1, 2, 4])
def test_a_resume_that_fails_before_its_first_checkpoint_leaves_config_yaml_as_it_was(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    """Only a refusal (a usage error) put config.yaml back: a step that raised left the new
    settings in it, and every plain resume after ran them again. Once the resume has written
    a checkpoint (at step 6, before its 4th step) config.yaml keeps its settings."""
    from ganhub.engine import loop

    run_dir, working = _trained("f"), loop.train_step
    before = (run_dir / "config.yaml").read_bytes()
    calls = iter(range(1, 100))

    def failing_step(run: Any, batches: Any) -> None:
        if next(calls) == failing:
            raise RuntimeError("a step that fails")
        working(run, batches)

    monkeypatch.setattr(loop, "train_step", failing_step)
    with pytest.raises(RuntimeError, match="a step that fails"):
        fit(make_run(resolve([f"resume={run_dir}", "trainer.steps=10", "optim.D.lr=1e-2",
                              "trainer.checkpoint_every=6"])))  # fmt: skip
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (saved["optim"]["D"]["lr"] == 1e-2) == (failing == 4)
    if failing < 4:
        assert (run_dir / "config.yaml").read_bytes() == before
    assert (run_dir / "failed.json").is_file()  # the failure is recorded
    monkeypatch.setattr(loop, "train_step", working)
    assert fit(make_run(resolve([f"resume={run_dir}", "trainer.steps=10"])))["steps"] == 10
