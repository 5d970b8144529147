"""ganhub tune, as a user: another pruner or sampler seed for a stored study is said and
recorded as another sampler is; a worker that joins a running study with another strategy is
refused; counts read `1 trial`; a signal that stops a `sampler=oneshot` supernet prints the
summary of the trials the study holds, as a signal that stops a trial does."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from ganhub_tune.identity import IDENTITY

from .plugins.test_tune import _load, _spec_file, _tune_args

optuna = pytest.importorskip("optuna")

SHORT = ("trainer.steps=20", "trainer.eval_every=20")


def _study(tmp_path: Path, name: str) -> Any:
    return _load(f"sqlite:///{tmp_path / 'studies' / name / 'study.db'}", name)


def _record(tmp_path: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((tmp_path / "studies" / name / "study.json").read_text()))


def _notes(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("ganhub tune: note:")]


def test_another_pruner_or_sampler_seed_is_said_and_recorded(tmp_path: Path, cli: Any) -> None:
    """A study made with pruner=none went on under pruner=median (and another sampler_seed)
    without a word, and neither was recorded: only a changed sampler was said."""
    first = ("pruner=none", "sampler_seed=0", *SHORT)
    code, out, err = cli(*_tune_args(tmp_path, "strat", "trials=1", *first))
    assert code == 0, err
    assert _record(tmp_path, "strat")["pruner"] == "none"
    assert _record(tmp_path, "strat")["sampler_seed"] == 0

    code, out, err = cli(*_tune_args(tmp_path, "strat", "trials=2", "pruner=median",
                                     "sampler_seed=5", *SHORT))  # fmt: skip
    assert code == 0, err  # a strategy may change between runs: said, not refused
    notes = _notes(out)
    assert len(notes) == 2, out
    assert "was last run with pruner=none; its next trials are judged by pruner=median" in notes[0]
    seed = "was last run with sampler_seed=0; its next trials are drawn with sampler_seed=5"
    assert seed in notes[1], out
    stored = _study(tmp_path, "strat")
    assert len(stored.get_trials()) == 2
    assert stored.user_attrs[IDENTITY]["pruner"] == "median"
    assert stored.user_attrs[IDENTITY]["sampler_seed"] == 5
    assert _record(tmp_path, "strat")["pruner"] == "median"
    assert _record(tmp_path, "strat")["sampler_seed"] == 5

    code, out, err = cli(*_tune_args(tmp_path, "strat", "trials=2", "pruner=median",
                                     "sampler_seed=5", *SHORT))  # fmt: skip
    assert code == 0 and not _notes(out), out  # the same strategy again: nothing to say


def test_a_worker_with_another_sampler_is_refused_while_a_trial_runs(
    tmp_path: Path, cli: Any
) -> None:
    """Two workers of one storage with different samplers: each start overwrote the recorded
    sampler, so the record (and the summary) named whichever worker started last."""
    args = ("pruner=none", *SHORT)
    code, _, err = cli(*_tune_args(tmp_path, "pair", "trials=1", "sampler=random", *args))
    assert code == 0, err
    running = _study(tmp_path, "pair").ask()  # another worker's trial, still running

    code, out, err = cli(*_tune_args(tmp_path, "pair", "trials=2", "sampler=tpe", *args))
    assert code == 2 and "Traceback" not in err, err
    (line,) = err.strip().splitlines()
    assert f"has trial {running.number} running with sampler=random" in line
    assert "start this worker with sampler=random, not sampler=tpe" in line
    stored = _study(tmp_path, "pair")
    assert stored.user_attrs[IDENTITY]["sampler"] == "random"  # the record did not flip
    assert _record(tmp_path, "pair")["sampler"] == "random"
    assert len(stored.get_trials()) == 2  # no trial started

    # a worker killed long ago (its heartbeat stale) runs nothing: the change is allowed
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{tmp_path / 'studies/pair/study.db'}", heartbeat_interval=5, grace_period=20
    )
    storage.record_heartbeat(running._trial_id)
    with sqlite3.connect(tmp_path / "studies/pair/study.db") as con:
        con.execute("update trial_heartbeats set heartbeat = datetime('now', '-1 hour')")
    storage.engine.dispose()
    code, out, err = cli(*_tune_args(tmp_path, "pair", "trials=2", "sampler=tpe", *args))
    assert code == 0, err
    assert "was last run with sampler=random; its next trials use sampler=tpe" in out
    assert _study(tmp_path, "pair").user_attrs[IDENTITY]["sampler"] == "tpe"


def test_counts_of_one_are_singular(tmp_path: Path, cli: Any) -> None:
    """`1 trials: 1 complete` in summary.md, `all 1 trials failed`, `(1 finished trial(s))`."""
    code, out, err = cli(*_tune_args(tmp_path, "one", "trials=1", "pruner=none", *SHORT))
    assert code == 0, err
    summary = (tmp_path / "studies/one/summary.md").read_text()
    assert "\n1 trial: 1 complete, 0 pruned, 0 failed." in summary, summary
    code, out, err = cli(*_tune_args(tmp_path, "one", "trials=1", "pruner=none", *SHORT))
    assert code == 0 and "holds 1 finished trial, as many as trials=1 asks" in out, out

    spec = _spec_file(tmp_path, {"loss": ["hinge", "wasserstein"], "tricks": [["label_smoothing"]]})
    code, out, err = cli("tune", "plugin=toy2d", "trials=1", f"search={spec}",
                         f"out={tmp_path / 'bad'}", "objective=reverse_kl", *SHORT)  # fmt: skip
    assert code == 2, out + err
    assert err.startswith("ganhub: error: the study's one trial failed, trial 0: trick "), err
    assert "1 trials" not in err


def test_a_signal_that_stops_the_supernet_prints_the_summary_of_the_study(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study with finished trials whose supernet trains again (its files deleted): Ctrl-C in
    the supernet ended the command with the stop line alone, while a Ctrl-C in a trial prints
    the summary of the finished trials first."""
    import ganhub.api

    args = ["tune", "plugin=toy2d", "space=arch", "sampler=oneshot", "trials=1",
            "objective=reverse_kl", "pruner=none", f"out={tmp_path / 'studies'}", "study=shot",
            "trainer.steps=5", "trainer.eval_every=5", "trainer.batch_size=64",
            "data.n_samples=2000", "eval.n_samples=500"]  # fmt: skip
    code, out, err = cli(*args)
    assert code == 0, err
    folder = tmp_path / "studies/shot"
    (folder / "architecture.json").unlink()
    shutil.rmtree(folder / "supernet")
    (folder / "summary.json").unlink()
    real = ganhub.api.train

    def train(config: Any, **kwargs: Any) -> dict[str, Any]:
        if config.name == "supernet":  # Ctrl-C: the run stops after a checkpoint
            return {"signal": 2, "steps": 1, "run_dir": str(folder / "supernet"), "metrics": {}}
        return dict(real(config, **kwargs))

    monkeypatch.setattr(ganhub.api, "train", train)
    code, out, err = cli(*args)
    assert code == 130, err  # 128 + SIGINT, as before
    lines = out.splitlines()
    assert lines[-1].startswith("ganhub tune: the supernet run was stopped by signal 2; the "
                                "study stops"), out  # fmt: skip
    assert "# Study shot" in out and "best config in" in lines[-2], out
    assert json.loads((folder / "summary.json").read_text())["complete"] == 1
    assert not (folder / "architecture.json").exists()  # the rerun trains the supernet on
