"""Interrupted runs resumed: what a kill at an unlucky moment must not change (the best
checkpoint, the kept checkpoints, metrics.jsonl's rows)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine import checkpoint
from ganhub.engine.lock import RunLock
from ganhub.engine.loop import fit
from ganhub.engine.rundir import FAILED_FILE, RunDirectory
from ganhub.wiring import make_run

from .conftest import TINY_TOY
from .test_keep_best import Scripted, _best, _steps, scripted_hub


class Killed(BaseException):
    """Stands for kill -9 at the moment it is raised (nothing after it runs)."""


def test_a_kill_between_the_best_checkpoint_and_its_record_keeps_that_best(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The best checkpoint of step 10 is written, the run dies before best.json names it: the
    resume (from that checkpoint, which it does not evaluate again) records it as the best, as
    the run that was not interrupted does."""
    scripted = Scripted([5.0, 2.0, 3.0, 4.0])  # evaluations at steps 5, 10, 15 and 20
    hub = scripted_hub(scripted)
    args = [*TINY_TOY, "name=k", "trainer.steps=20", "trainer.eval_every=5",
            "trainer.checkpoint_every=5", "trainer.keep_checkpoints=1",
            "eval.metrics=[scripted]", "trainer.keep_best=score"]  # fmt: skip
    write_best = checkpoint.write_best
    calls: list[int] = []

    def dies_at_the_second(directory: Path, best: checkpoint.Best) -> None:
        calls.append(best.step)
        if len(calls) == 2:
            raise Killed
        write_best(directory, best)

    monkeypatch.setattr(checkpoint, "write_best", dies_at_the_second)
    with pytest.raises(Killed):
        fit(make_run(resolve(args, hub=hub), hub))
    monkeypatch.setattr(checkpoint, "write_best", write_best)
    run_dir = workdir / "runs/k"
    assert _best(run_dir)["step"] == 5 and 10 in _steps(run_dir)  # the moment of the kill

    summary = fit(make_run(resolve(["resume=runs/k"], hub=hub), hub))
    assert _best(run_dir) == {"metric": "score", "step": 10, "value": 2.0, "better": "lower"}
    assert summary["best"]["step"] == 10
    assert _steps(run_dir) == [10, 20]  # as uninterrupted: the best and the last


def test_a_kill_before_the_first_best_record_keeps_that_best(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first evaluation's best checkpoint is written and the run dies before best.json
    exists: the resume learns which way the metric improves from the run (no record says it)."""
    scripted = Scripted([2.0, 3.0, 4.0])  # evaluations at steps 5, 10 and 15
    hub = scripted_hub(scripted)
    args = [*TINY_TOY, "name=f", "trainer.steps=15", "trainer.eval_every=5",
            "trainer.checkpoint_every=5", "trainer.keep_checkpoints=1",
            "eval.metrics=[scripted]", "trainer.keep_best=score"]  # fmt: skip

    def dies(directory: Path, best: checkpoint.Best) -> None:
        raise Killed

    write_best = checkpoint.write_best
    monkeypatch.setattr(checkpoint, "write_best", dies)
    with pytest.raises(Killed):
        fit(make_run(resolve(args, hub=hub), hub))
    monkeypatch.setattr(checkpoint, "write_best", write_best)
    run_dir = workdir / "runs/f"
    assert not (run_dir / "checkpoints" / "best.json").exists() and 5 in _steps(run_dir)
    fit(make_run(resolve(["resume=runs/f"], hub=hub), hub))
    assert _best(run_dir) == {"metric": "score", "step": 5, "value": 2.0, "better": "lower"}


def test_a_worse_logged_evaluation_leaves_the_record(workdir: Path) -> None:
    """An evaluation logged at the resumed step that did not beat the record changes nothing."""
    scripted = Scripted([2.0, 5.0])
    hub = scripted_hub(scripted)
    args: list[Any] = [*TINY_TOY, "name=w", "trainer.steps=10", "trainer.eval_every=5",
                       "trainer.checkpoint_every=5", "eval.metrics=[scripted]",
                       "trainer.keep_best=score"]  # fmt: skip
    fit(make_run(resolve(args, hub=hub), hub))
    run_dir = workdir / "runs/w"
    assert _best(run_dir)["step"] == 5
    scripted.values += [6.0]
    fit(make_run(resolve(["resume=runs/w", "trainer.steps=15"], hub=hub), hub))
    assert _best(run_dir) == {"metric": "score", "step": 5, "value": 2.0, "better": "lower"}


def test_a_resume_taking_over_a_failing_run_finds_no_stale_failure_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second resume waiting for the lock (a supervisor retrying) takes the run over the
    moment a failing run lets go: the failing run's failed.json must be written before, so
    that the resume clears it, never after (a finished run marked failed)."""
    first = RunDirectory.create(tmp_path, "r")
    release = RunLock.release
    taken: list[RunDirectory] = []

    def release_then_taken_over(lock: RunLock) -> None:
        release(lock)
        if not taken:
            taken.append(RunDirectory.open(first.path))  # clears failed.json, holds the lock

    monkeypatch.setattr(RunLock, "release", release_then_taken_over)
    first.fail(RuntimeError("boom"), step=3, resumable=True)
    assert taken, "the lock was never let go"
    assert not (first.path / FAILED_FILE).exists()  # the run is being trained again
    taken[0].close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names descriptors by /proc")
def test_a_checkpoint_is_on_disk_before_older_ones_are_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut must not lose the new checkpoint after the old ones were removed: the
    folders that the step folder and the `latest` pointer are renamed into are synced before
    pruning (syncing the files alone does not make a rename durable)."""
    synced: list[str] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    directory = tmp_path / "checkpoints"
    checkpoint.save(directory, 1, {"w": torch.zeros(2)}, {}, keep=1)
    monkeypatch.setattr(os, "fsync", recording)
    checkpoint.save(directory, 2, {"w": torch.ones(2)}, {}, keep=1)
    assert str(directory.resolve()) in synced  # the rename of step_0000002 and of latest
    assert [p.name for p in checkpoint.step_dirs(directory)] == ["step_0000002"]
