"""ganhub tune as a user meets it: the summary of a study run by several strategies, parameter
importances from too few trials, and the audit of docs/tune.md's commands."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ganhub_tune import report

from .test_tune import TINY, _space_file

optuna = pytest.importorskip("optuna")

# a few tiny steps: a trial is about a second
FAST = [*[i for i in TINY if not i.startswith(("trainer.steps", "trainer.eval_every"))],
        "trainer.steps=20", "trainer.eval_every=10", "pruner=none"]  # fmt: skip


def _tune(tmp_path: Path, *extra: str) -> list[str]:
    return ["tune", "plugin=toy2d", f"out={tmp_path / 'studies'}", "study=s",
            f"search={_space_file(tmp_path)}", "objective=reverse_kl", *FAST, *extra]  # fmt: skip


def test_the_summary_names_the_strategies_of_the_studys_trials(cli: Any, tmp_path: Path) -> None:
    """The heading named the sampler of the command that wrote the summary, though the study's
    first trials were drawn by another one (a resumed study, another worker)."""
    code, _, err = cli(*_tune(tmp_path, "trials=2", "sampler=random"))
    assert code == 0, err
    code, out, err = cli(*_tune(tmp_path, "trials=3", "sampler=tpe", "sampler_seed=1"))
    assert code == 0, err
    folder = tmp_path / "studies" / "s"
    summary = (folder / "summary.md").read_text()
    heading = summary.splitlines()[0]
    assert "sampler=tpe" not in heading and "several search strategies" in heading
    facts = json.loads((folder / "summary.json").read_text())
    assert [(s["sampler"], s["sampler_seed"], s["trials"]) for s in facts["strategies"]] == [
        ("random", 0, [0, 1]),
        ("tpe", 1, [2]),
    ]
    assert "- sampler=random, pruner=none, sampler_seed=0: trials 0-1" in summary
    assert "- sampler=tpe, pruner=none, sampler_seed=1: trial 2" in summary
    assert out.count("several search strategies") == 1  # the printed summary says it too
    # a study run by one strategy keeps its short heading
    args = _tune(tmp_path, "trials=2", "sampler=random")
    code, _, err = cli(*["study=one" if a == "study=s" else a for a in args])
    assert code == 0, err
    first = (tmp_path / "studies" / "one" / "summary.md").read_text().splitlines()[0]
    assert first.endswith("sampler=random, pruner=none)")


def test_no_importances_from_a_handful_of_trials(cli: Any, tmp_path: Path) -> None:
    """fANOVA's random forest was fitted to 2 complete trials and its numbers printed as the
    study's parameter importances."""
    code, out, err = cli(*_tune(tmp_path, "trials=3", "sampler=random"))
    assert code == 0, err
    folder = tmp_path / "studies" / "s"
    assert json.loads((folder / "importances.json").read_text()) == {}
    assert not (folder / "importances.png").exists()
    assert not (folder / "importances.html").exists()
    facts = json.loads((folder / "summary.json").read_text())
    assert facts["importances_need"] == report.MIN_IMPORTANCE_TRIALS - 3
    need = report.MIN_IMPORTANCE_TRIALS
    assert f"need {need} complete trials: this study has 3, {need - 3} more to go" in out
    assert "Parameter importances (fANOVA):" not in out


def test_importances_come_once_the_study_has_enough_complete_trials() -> None:
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    ostudy = optuna.create_study()
    dist = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}
    need = report.MIN_IMPORTANCE_TRIALS
    for i in range(need):
        x, y = i / need, (i * 7 % need) / need
        ostudy.add_trial(create_trial(params={"x": x, "y": y}, distributions=dist, value=10 * x))
    complete = ostudy.get_trials(states=(TrialState.COMPLETE,))
    study: Any = SimpleNamespace(objectives=["v"])
    found = report._importances(ostudy, study, complete)
    assert set(found["v"]) == {"x", "y"} and found["v"]["x"] > found["v"]["y"]
    # fANOVA, seeded, as the summary says (Optuna 5's default is PED-ANOVA)
    fanova = optuna.importance.FanovaImportanceEvaluator(seed=0).evaluate(ostudy)
    total = sum(fanova.values())
    assert found["v"] == {k: round(float(v) / total, 4) for k, v in fanova.items()}
    assert report._importances(ostudy, study, complete[:-1]) == {}


def test_a_queued_trial_is_counted_and_shows_its_values(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After Ctrl-C the summary counted `3 trials: 1 complete, 0 pruned, 0 failed, 1
    interrupted` (the third, queued to continue the stopped one, in no count) and listed it as
    `waiting` with no values."""
    from ganhub_tune import runner

    from .test_tune_audit3 import _sigint_once

    _sigint_once(monkeypatch, runner, "suggest", lambda trial, param: trial.number == 1)
    code, out, err = cli(*_tune(tmp_path, "trials=2"))
    assert code == 130, err
    facts = json.loads((tmp_path / "studies" / "s" / "summary.json").read_text())
    assert (facts["complete"], facts["interrupted"], facts["queued"]) == (1, 1, 1)
    assert "3 trials: 1 complete, 0 pruned, 0 failed, 1 interrupted, 1 queued." in out
    (row,) = [line for line in out.splitlines() if line.startswith("| 2 |")]
    assert "| queued (continues trial 1) |" in row and "optim.G.lr=" in row


def test_help_names_every_storage_the_docs_offer(cli: Any) -> None:
    """`storage=` in --help named PostgreSQL only; SQLite files and journal files work too."""
    code, out, _ = cli("tune", "--help")
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.strip().startswith("storage=")]
    assert all(kind in row for kind in ("postgresql://", "sqlite:///", ".journal"))
    (row,) = [line for line in out.splitlines() if line.strip().startswith("objective=")]
    assert "[per domain]" in row


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("{type: float, low: 1.0e-4, high: 1.0e-3, step: 1.0e-2}", "every trial would take 0.0001"),
        ("{type: int, low: 2, high: 3, step: 2}", "every trial would take 2"),
    ],
)
def test_a_step_wider_than_its_range_is_refused(
    cli: Any, tmp_path: Path, spec: str, said: str
) -> None:
    """Optuna draws `low` in every trial: the study searched a key it never changed."""
    key = "model.g_layers" if "int" in spec else "optim.G.lr"
    search = tmp_path / "space.yaml"
    search.write_text(f"params:\n  {key}: {spec}\n")
    code, _, err = cli("tune", "plugin=toy2d", f"out={tmp_path / 'o'}", f"search={search}")
    assert code == 2 and said in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # before anything is written


def test_importances_without_scikit_learn_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Optuna's fANOVA needs scikit-learn, which the tune extra does not install: the summary
    ended in an ImportError (Optuna 4), or left the importances out without a word."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))  # fmt: skip

    def no_forest() -> Any:  # what Optuna's fANOVA raises without scikit-learn
        raise ImportError("Tried to import 'sklearn' but failed")

    monkeypatch.setattr(report, "fanova", no_forest)
    study: Any = SimpleNamespace(objectives=["v"])
    ostudy = optuna.create_study()
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    for i in range(report.MIN_IMPORTANCE_TRIALS):
        ostudy.add_trial(create_trial(params={"x": i / 10}, value=float(i),
                                      distributions={"x": FloatDistribution(0, 1)}))  # fmt: skip
    assert report._importances(ostudy, study, ostudy.trials) == {}
    assert not report._has_sklearn()
