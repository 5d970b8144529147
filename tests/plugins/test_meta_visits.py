"""`ganhub meta`'s task visits: which tricks' state runs through them (a declaration of the
trick, `Trick.state_follows_training`, not a list of built-in names), what an outer step of
several visits logs (their mean, not the last one's) and where a NaN stop says it happened."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from ganhub_meta.carry import CarriedTricks
from ganhub_meta.reptile import MetaOptions, meta_config, meta_train, task_config

from ganhub.errors import TrainingError
from ganhub.hookspecs import hookimpl
from ganhub.metrics.rundata import read_metrics
from ganhub.plugins import Hub, get_hub
from ganhub.tricks import Trick
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

BASE = ["plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "loggers=[jsonl]",
        "trainer.progress=false", "eval.metrics=[]", "name=m"]  # fmt: skip


class StepsSeen(Trick):
    """A plugin's trick whose state follows the training: the steps it has seen, logged."""

    name = "steps_seen"
    state_follows_training = True

    def setup(self, system: Any) -> None:
        """Count from 0."""
        self.n = torch.zeros(())

    def observe(self, phase: Any, out: Any, ctx: Any) -> None:
        """Log the count (a device scalar, no sync)."""
        out.stats[self.name] = self.n.clone()

    def after_step(self, step: int, system: Any) -> None:
        """One more step."""
        self.n.add_(1)

    def state_dict(self) -> dict[str, Any]:
        """The count."""
        return {"n": self.n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The count."""
        self.n = state["n"]


class StepsOfTask(StepsSeen):
    """The same count, of a task's own data: it stays with its task."""

    name = "steps_of_task"
    state_follows_training = False


def _hub() -> Hub:
    def register(register: Any) -> None:
        register(StepsSeen.name, StepsSeen)
        register(StepsOfTask.name, StepsOfTask)

    return Hub.discover(extra=(("visits", SimpleNamespace(register_tricks=hookimpl(register))),))


def test_a_plugin_trick_declares_state_that_follows_the_training(workdir: Path) -> None:
    """carry.py named ada, balance and ema: a plugin's trick could not take part, and an
    outer step of 2 visits logged the last visit's means only (4 and 10, not 2.5 and 8.5)."""
    assert Trick.state_follows_training is False
    hub = _hub()
    options = MetaOptions(classes=[0, 1], outer_steps=2, inner_steps=3, tasks_per_step=2)
    config = meta_config([*BASE, "tricks=[steps_seen,steps_of_task]"], options, hub)
    meta_train(config, options, hub)
    rows = [r for r in read_metrics(workdir / "runs" / "m") if "steps_seen" in r]
    # visits of 3 steps laid end to end: counts 0-2 and 3-5 at outer step 1, 6-8 and 9-11 at 2
    assert [r["steps_seen"] for r in rows] == [2.5, 8.5]
    # a task's own count stays with it: the seed draws one task twice, then a new one (0-2)
    # and the first again (6-8)
    assert [r["steps_of_task"] for r in rows] == [2.5, 4.0]
    meta = make_run(config, hub)
    try:
        assert set(CarriedTricks(meta).own) == {"steps_seen"}
    finally:
        meta.close()


def test_a_nan_stop_names_the_outer_step_and_the_meta_runs_checkpoint(tmp_path: Path) -> None:
    """It named the step on the tasks' timeline only, and 'no checkpoint was written' (the
    task's Run writes none) where the meta run had one."""
    from ganhub_meta.carry import StepLosses

    hub = get_hub()
    options = MetaOptions(classes=[0, 1], outer_steps=3, inner_steps=3)
    config = meta_config([*BASE, f"out_dir={tmp_path}"], options, hub)
    meta = make_run(config, hub)
    task = make_run(task_config(config, (0,), tmp_path / "s", hub, options), hub)
    try:
        meta.last_checkpoint = tmp_path / "checkpoints" / "step_000001"
        task.step = 6
        task.stats.add({"loss/D": torch.tensor(float("nan"))}, watch="D")
        with pytest.raises(TrainingError) as raised:
            StepLosses(meta, 1, 3).add(task)
    finally:
        task.close()
        meta.close()
    said = str(raised.value)
    assert "at or before step 6 of the tasks' timeline (outer step 2 of 3);" in said, said
    assert f"last good checkpoint: {meta.last_checkpoint}" in said, said
