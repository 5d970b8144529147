"""The plans `trainer.cuda_graphs` captures: which steps may share one CUDA graph.

Capturing needs a GPU (tests/test_speed_options.py runs it there); the keys that decide which
steps replay which graph are built on any device, so they are checked here with a recorder in
place of the graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_step
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


class PlanRecorder:
    """Stands in for `StepGraphs`: runs each plan eagerly and records its key."""

    def __init__(self) -> None:
        self.keys: list[tuple[Any, ...]] = []

    def step(self, run: Any, key: tuple[Any, ...], inputs: list[Any], run_plan: Any) -> None:
        self.keys.append(key)
        run_plan(inputs)


def plan_keys(tmp_path: Path, overrides: list[str], steps: int) -> list[tuple[Any, ...]]:
    """The plan key of every non-logging step of a short dcgan run."""
    run = make_run(resolve([*TINY_DCGAN, f"trainer.steps={steps}", "trainer.log_every=100",
                            f"out_dir={tmp_path}", "name=plans", *overrides]))  # fmt: skip
    recorder = PlanRecorder()
    run.graphs = recorder  # type: ignore[assignment]
    batches = run.batches()
    for _ in range(steps - 1):  # the last step logs (eager, no key)
        train_step(run, batches)
    run.close()
    return recorder.keys


def test_annealed_instance_noise_makes_another_plan(tmp_path: Path) -> None:
    """Steps with noise draw random numbers that steps after the anneal skip: replaying a
    graph captured with noise would shift every later random draw (seen on an H200: eager and
    graphs parted at the first step after the anneal)."""
    keys = plan_keys(
        tmp_path, ["tricks=[instance_noise]", "trick.instance_noise.anneal_steps=4"], 8
    )
    assert len(set(keys[:4])) == 1 and len(set(keys[4:])) == 1
    assert keys[0] != keys[4]


def test_steps_without_host_decisions_share_one_plan(tmp_path: Path) -> None:
    keys = plan_keys(tmp_path, ["tricks=[ema,diffaug]"], 8)
    assert len(set(keys)) == 1 and len(keys) == 7
