"""ganhub tune under interruption: a killed study resumes from its storage, and Ctrl-C stops
the study (not just its running trial)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .test_tune import _load, _tune_args

optuna = pytest.importorskip("optuna")


def _wait_for(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def _finished(db: Path) -> list[tuple[int, str]]:
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(db) as con:
            return con.execute("select number, state from trials where state in "
                               "('COMPLETE', 'PRUNED') order by number").fetchall()  # fmt: skip
    except sqlite3.OperationalError:
        return []  # tables not created yet


@pytest.mark.slow
def test_killed_study_resumes_from_storage(tmp_path: Path, cli: Any) -> None:
    args = _tune_args(tmp_path, "resume", "trials=4", "pruner=none", "trainer.steps=400")
    proc = subprocess.Popen([sys.executable, "-m", "ganhub", *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    db = tmp_path / "studies/resume/study.db"
    try:
        _wait_for(lambda: len(_finished(db)) >= 1 or proc.poll() is not None, 120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _finished(db)
    assert 1 <= len(before) < 4, proc.stderr.read() if proc.stderr else ""
    code, out, err = cli(*args)
    assert code == 0, err
    plural = "s" if len(before) != 1 else ""
    assert f"resuming study 'resume' ({len(before)} finished trial{plural})" in out
    after = _finished(db)
    assert len(after) == 4 and after[: len(before)] == before


def _ctrl_c(args: list[str], ready: Any) -> tuple[int, str, str]:
    """Run `ganhub *args` in its own process group, send SIGINT once `ready()` (or the process
    ended); (exit code, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "ganhub", *args], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(lambda: ready() or proc.poll() is not None, 120)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, err


def test_ctrl_c_stops_the_study_not_just_the_trial(tmp_path: Path, cli: Any) -> None:
    """SIGINT stops a trial's run after a checkpoint (as for `ganhub run`); the study used to
    go on with the next trial, or blame the objective when the first trial was stopped."""
    args = _tune_args(tmp_path, "stop", "trials=4", "pruner=none", "trainer.steps=4000")
    trials = tmp_path / "studies/stop/trials"
    code, out, err = _ctrl_c(args, lambda: any(trials.glob("*/metrics.jsonl")))
    assert code == 130, err
    assert "ganhub: error" not in err and len(_finished(tmp_path / "studies/stop/study.db")) < 4
    assert "the study stops" in out + err or "ganhub: interrupted" in err  # in a run, or between


def test_the_trial_ctrl_c_stopped_continues_when_the_command_runs_again(
    tmp_path: Path, cli: Any
) -> None:
    """The stopped trial was recorded failed and never run again: its run (checkpointed) was
    abandoned, and when it was trial 0 the summary's default column stayed empty for good."""
    args = _tune_args(tmp_path, "again", "trials=1", "pruner=none", "trainer.steps=800",
                      "trainer.checkpoint_every=20", "trainer.log_every=20")  # fmt: skip
    run = tmp_path / "studies/again/trials/trial_0000"
    code, _, err = _ctrl_c(args, lambda: any(run.glob("checkpoints/step_*")))
    assert code == 130 and not _finished(tmp_path / "studies/again/study.db"), err
    stopped_at = max(int(p.name.removeprefix("step_")) for p in run.glob("checkpoints/step_*"))
    assert 0 < stopped_at < 800
    code, _, err = cli(*args)
    assert code == 0, err
    study = _load(f"sqlite:///{tmp_path / 'studies/again/study.db'}", "again")
    (done,) = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert done.user_attrs["default"] and done.user_attrs["run_dir"] == str(run)
    assert sorted(p.name for p in run.parent.iterdir()) == ["trial_0000"]  # the same run
