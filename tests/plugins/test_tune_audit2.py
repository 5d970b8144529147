"""ganhub tune, audited as a user runs it: Ctrl-C while a trial's run is being built, a grid
study run again once done, a study folder moved (or a trial run on another machine), and
`repeats=` changed on a resumed study."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.runner import run_study
from ganhub_tune.storage import open_study
from ganhub_tune.study import Study, prepare

import ganhub.api
from ganhub.errors import ConfigError

from .test_tune_grid import FIXED

optuna = pytest.importorskip("optuna")
TrialState = optuna.trial.TrialState

# a toy2d study over two trick sets: two grid points, the base config's (tricks=[]) among them
SPACE = {"base": {"tricks": []}, "params": {"tricks": [[], ["ema"]]}}
TINY = ["trainer.steps=20", "trainer.eval_every=20", "eval.n_samples=500"]


def _study(tmp_path: Path, *extra: str) -> Study:
    spec = tmp_path / "space.yaml"
    spec.write_text(yaml.safe_dump(SPACE))
    items = ["plugin=toy2d", f"search={spec}", f"out={tmp_path / 'studies'}", "study=s"]
    return prepare(parse_options([*items, *FIXED, *extra]))


def _fake_train(monkeypatch: pytest.MonkeyPatch, interrupt: int | None = None) -> list[Any]:
    """Replace training with an instant run scoring 1.0; the `interrupt`-th call (from 1) is
    stopped by Ctrl-C before it trains (KeyboardInterrupt: no run handler is installed yet)."""
    calls: list[Any] = []

    def train(config: Any, hub: Any = None) -> dict[str, Any]:
        calls.append(config)
        if len(calls) == interrupt:
            raise KeyboardInterrupt
        return {"metrics": {"balanced_hq": 1.0}, "run_dir": str(Path(config.out_dir) / config.name)}

    monkeypatch.setattr(ganhub.api, "train", train)
    return calls


def _states(study: Study) -> list[tuple[str, str, bool]]:
    ostudy = open_study(study)
    return [(t.state.name, t.params.get("tricks", "?"), bool(t.user_attrs.get("default")))
            for t in ostudy.get_trials(deepcopy=False)]  # fmt: skip


@pytest.mark.parametrize("sampler", ["grid", "tpe"])
def test_ctrl_c_while_a_run_is_built_stops_the_trial_and_it_runs_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sampler: str
) -> None:
    """A Ctrl-C before the run's own handler (data, networks being built) reached Optuna as
    a failure: the trial was counted failed and never run again, so a grid study lost its
    point for good and a tpe study its default trial (trial 0) and the summary's default."""
    study = _study(tmp_path, f"sampler={sampler}", "trials=2")
    _fake_train(monkeypatch, interrupt=1)
    with pytest.raises((SystemExit, KeyboardInterrupt)) as stopped:  # (the latter: before)
        run_study(study, echo=lambda line: None)
    assert stopped.type is SystemExit and stopped.value.code == 130  # 128 + SIGINT, as a run
    first = _states(study)
    assert [s[0] for s in first] == ["FAIL", "WAITING"]  # the stopped trial, queued again
    _fake_train(monkeypatch)
    run_study(_study(tmp_path, f"sampler={sampler}", "trials=2"), echo=lambda line: None)
    trials = _states(study)
    complete = [s for s in trials if s[0] == "COMPLETE"]
    assert len(complete) == 2 and complete[0][1] == first[0][1], trials  # the stopped one first
    if sampler == "grid":  # each point ran
        assert sorted(s[1] for s in complete) == ["[]", "[ema]"], trials
    else:  # trial 0 was the base config (tricks=[]): it ran, and stays the default
        assert complete[0][1:] == ("[]", True), trials
    ostudy = open_study(study)
    stopped_trial = ostudy.trials[0]
    assert stopped_trial.user_attrs["interrupted"]["signal"] == 2  # not counted as failed


def test_a_done_grid_study_run_again_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running the command of a finished grid study again (to write its summary, or with a
    larger trials=) trained its first point once more each time."""
    calls = _fake_train(monkeypatch)
    lines: list[str] = []
    run_study(_study(tmp_path, "sampler=grid", "trials=10"), echo=lines.append)
    assert len(calls) == 2
    run_study(_study(tmp_path, "sampler=grid", "trials=10"), echo=lines.append)
    run_study(_study(tmp_path, "sampler=grid", "trials=20"), echo=lines.append)
    assert len(calls) == 2, [c.tricks for c in calls]
    assert len(_states(_study(tmp_path, "sampler=grid", "trials=10"))) == 2
    assert "every point of the grid has run (2 points)" in lines[-1]


def test_a_resumed_study_refuses_other_repeats(tmp_path: Path) -> None:
    """A study resumed with repeats=2 ranked means of two seeds with its single runs, and
    its summary called every value a mean."""
    open_study(_study(tmp_path, "trials=2"))
    with pytest.raises(ConfigError, match=r"other settings: repeats: 1 then, 2 now"):
        open_study(_study(tmp_path, "trials=2", "repeats=2"))
    open_study(_study(tmp_path, "trials=3"))  # trials= may change


@pytest.mark.slow
def test_best_yaml_comes_from_the_study_folder_wherever_it_is(tmp_path: Path, cli: Any) -> None:
    """The trial's run directory was stored as the path it had from the folder the study ran
    in: once the study folder moved (or the command ran from another folder), writing the
    summary failed (`config file ... does not exist`), or read another copy's trial; a trial a
    worker ran on another machine failed it the same way."""
    spec = tmp_path / "space.yaml"
    spec.write_text(yaml.safe_dump(SPACE))
    common = ["tune", "plugin=toy2d", f"search={spec}", "study=s", "trials=2", "sampler=grid",
              *FIXED, *TINY]  # fmt: skip
    code, _, err = cli(*common, f"out={tmp_path / 'a'}")
    assert code == 0, err
    best = (tmp_path / "a/s/best.yaml").read_text()
    shutil.move(tmp_path / "a", tmp_path / "b")
    code, _, err = cli(*common, f"out={tmp_path / 'b'}")
    assert code == 0, err
    moved = (tmp_path / "b/s/best.yaml").read_text()
    assert f"# trial run: {tmp_path / 'b/s/trials'}" in moved
    body = [line for line in best.splitlines() if not line.startswith("#")]
    assert [line for line in moved.splitlines() if not line.startswith("#")] == body
    shutil.rmtree(tmp_path / "b/s/trials")  # the trials ran on another worker's machine
    code, _, err = cli(*common, f"out={tmp_path / 'b'}")
    assert code == 0, err
    rebuilt = (tmp_path / "b/s/best.yaml").read_text()
    assert "config rebuilt from the trial's values" in rebuilt
    assert [line for line in rebuilt.splitlines() if not line.startswith("#")] == body


def test_the_summary_files_are_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """best.yaml, summary.md, summary.json, trials.csv and importances.json were written in
    place: a study killed while summarising left them cut short. And a `|` in a cell (a choice,
    a metric name) ended it, shifting the summary's table."""
    import os

    from ganhub_tune.report import _cell, write_outputs

    _fake_train(monkeypatch)
    study = _study(tmp_path, "sampler=grid", "trials=10")
    ostudy = run_study(study, echo=lambda _: None)
    write_outputs(study, ostudy)
    names = ["best.yaml", "summary.md", "summary.json", "trials.csv", "importances.json"]
    before = {n: (study.directory / n).read_bytes() for n in names}

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        write_outputs(study, ostudy)
    monkeypatch.undo()
    assert {n: (study.directory / n).read_bytes() for n in names} == before
    assert not [p.name for p in study.directory.iterdir() if p.name.startswith(".")]
    assert _cell("a|b\nc") == "a\\|b c" and _cell(0.123456) == "0.1235"
