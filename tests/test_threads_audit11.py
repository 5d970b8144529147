"""trainer.threads: torch's CPU thread count for a run, applied when it starts and given back
when it ends (in-process callers go on with their own count), refused beyond the machine's
cores, changeable at resume; toy2d's default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import ganhub
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.engine.run import Run
from ganhub.errors import ConfigError
from ganhub.hookspecs import hookimpl
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_TOY

CORES = len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cpuset)
needs_two_cores = pytest.mark.skipif(CORES < 2, reason="one core: every count is the same")


@pytest.fixture
def caller_threads() -> Iterator[int]:
    """The caller's own count, different from the one thread the runs below ask for."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


class ThreadsSeen:
    """Records torch's thread count at every step of the runs it watches."""

    def __init__(self) -> None:
        self.counts: list[int] = []

    @hookimpl
    def after_step(self, run: Run, step: int, metrics: dict[str, float] | None) -> None:
        self.counts.append(torch.get_num_threads())


@needs_two_cores
def test_the_run_trains_with_its_count_and_the_caller_gets_its_own_back(
    workdir: Path, caller_threads: int
) -> None:
    seen = ThreadsSeen()
    get_hub().pm.register(seen)
    try:
        summary = ganhub.train([*TINY_TOY, "trainer.threads=1"])
    finally:
        get_hub().pm.unregister(seen)
    assert summary["steps"] == 4
    assert seen.counts == [1] * 4  # every step on one thread
    assert torch.get_num_threads() == caller_threads  # and the notebook's count is back


@needs_two_cores
def test_auto_leaves_the_process_count(workdir: Path, caller_threads: int) -> None:
    run = make_run(resolve([*TINY_TOY, "trainer.threads=auto"]))
    assert torch.get_num_threads() == caller_threads
    fit(run)
    assert torch.get_num_threads() == caller_threads


@needs_two_cores
def test_a_run_that_fails_to_start_gives_the_count_back(workdir: Path, caller_threads: int) -> None:
    # init_from names no run: refused while the run builds, after the count was applied
    config = resolve([*TINY_TOY, "trainer.threads=1", "init_from=runs/nothing-here"])
    with pytest.raises(ConfigError):
        make_run(config)
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "true"])
def test_a_count_that_is_not_one_or_more_is_one_line(cli: Any, value: str) -> None:
    code, out, err = cli("config", "plugin=toy2d", f"trainer.threads={value}")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0, err
    assert "trainer.threads=" in err and "integer >= 1, or auto" in err


def test_more_threads_than_cores_is_refused_before_a_run_folder_exists(
    workdir: Path, cli: Any
) -> None:
    before = torch.get_num_threads()
    code, _, err = cli("run", *TINY_TOY, f"trainer.threads={CORES + 1}", "name=r")
    assert code == 2
    assert err.strip().count("\n") == 0, err
    assert f"trainer.threads={CORES + 1}" in err and f"use 1 to {CORES}, or auto" in err
    assert not (workdir / "runs/r").exists()
    assert torch.get_num_threads() == before


@needs_two_cores
def test_a_resume_may_change_the_count(workdir: Path, caller_threads: int) -> None:
    fit(make_run(resolve([*TINY_TOY, "trainer.threads=1", "name=r"])))
    seen = ThreadsSeen()
    get_hub().pm.register(seen)
    try:
        run = make_run(resolve(["resume=runs/r", "trainer.steps=6", "trainer.threads=2"]))
        fit(run)
    finally:
        get_hub().pm.unregister(seen)
    assert run.step == 6 and seen.counts == [2, 2]
    saved = yaml.safe_load((workdir / "runs/r/config.yaml").read_text())
    assert saved["trainer"]["threads"] == 2  # what the resumed session trained with


def test_toy2d_states_its_thread_default(cli: Any) -> None:
    """toy2d's MLPs train 1.6x faster on one thread than on two on a quiet 2-core machine
    (docs/performance.md#cpu-threads): its default is one thread; auto is the user's choice."""
    code, out, err = cli("config", "plugin=toy2d")
    assert code == 0, err
    assert yaml.safe_load(out)["trainer"]["threads"] == 1
    assert resolve(["plugin=toy2d", "trainer.threads=auto"]).trainer.threads == "auto"
