"""ganhub tune, as a user: another sampler for a stored study is said and recorded, too few
directions are refused in one line naming where they came from, and a study a signal stops
prints the summary of the trials it finished before the line that says it stopped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune import runner
from ganhub_tune.cli import parse_options
from ganhub_tune.identity import IDENTITY
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

from .plugins.test_tune import _load, _tune_args
from .plugins.test_tune_audit3 import _sigint_once

optuna = pytest.importorskip("optuna")

SHORT = ("pruner=none", "trainer.steps=20", "trainer.eval_every=20")


def _stored(tmp_path: Path, name: str) -> Any:
    return _load(f"sqlite:///{tmp_path / 'studies' / name / 'study.db'}", name)


def test_another_sampler_for_a_stored_study_is_said_and_recorded(tmp_path: Path, cli: Any) -> None:
    """A study made with sampler=random went on under sampler=tpe without a word: the sampler
    was recorded nowhere. Now the study keeps its last sampler, and a change is one line."""
    code, out, err = cli(*_tune_args(tmp_path, "mixed", "trials=1", "sampler=random", *SHORT))
    assert code == 0, err
    record = json.loads((tmp_path / "studies/mixed/study.json").read_text())
    assert record["sampler"] == "random"
    assert _stored(tmp_path, "mixed").user_attrs[IDENTITY]["sampler"] == "random"

    code, out, err = cli(*_tune_args(tmp_path, "mixed", "trials=2", "sampler=tpe", *SHORT))
    assert code == 0, err  # Optuna may change a study's sampler: said, not refused
    notes = [line for line in out.splitlines() if "was last run with sampler=random" in line]
    assert len(notes) == 1 and "its next trials use sampler=tpe" in notes[0], out
    study = _stored(tmp_path, "mixed")
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "COMPLETE"]
    assert study.user_attrs[IDENTITY]["sampler"] == "tpe"
    assert json.loads((tmp_path / "studies/mixed/study.json").read_text())["sampler"] == "tpe"

    code, out, err = cli(*_tune_args(tmp_path, "mixed", "trials=2", "sampler=tpe", *SHORT))
    assert code == 0, err
    assert "was last run with sampler" not in out  # the same sampler again: nothing to say


def _prepare_error(tmp_path: Path, spec: dict[str, Any] | None, *items: str) -> str:
    extra = []
    if spec is not None:
        search = tmp_path / "space.yaml"
        search.write_text(yaml.safe_dump(spec))
        extra.append(f"search={search}")
    with pytest.raises(ConfigError) as refused:
        prepare(parse_options(["plugin=toy2d", f"out={tmp_path / 'out'}", *extra, *items]))
    return str(refused.value)


def test_too_few_directions_name_where_they_came_from(tmp_path: Path, cli: Any) -> None:
    """`direction=['minimize'] must give one direction per objective ['reverse_kl', 'modes']`:
    Python's list syntax, and no word of the search file the directions came from."""
    spec = {"objective": ["reverse_kl", "modes"], "direction": "minimize"}
    message = _prepare_error(tmp_path, spec)
    assert message.startswith(f"{tmp_path / 'space.yaml'}: direction: minimize gives 1 direction "
                              "for 2 objectives (reverse_kl, modes)"), message  # fmt: skip
    assert "['" not in message and "\n" not in message
    message = _prepare_error(tmp_path, None, "objective=[reverse_kl,modes]", "direction=minimize")
    assert message.startswith("direction=minimize gives 1 direction for 2 objectives "
                              "(reverse_kl, modes)"), message  # fmt: skip
    assert "['" not in message and "direction=[minimize,maximize]" in message
    search = tmp_path / "space.yaml"
    code, _, err = cli("tune", "plugin=toy2d", f"out={tmp_path / 'o'}", f"search={search}")
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(search) in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("name", "where", "said"),
    [
        ("__call__", runner._FailureStreak, "stopped by signal 2 between trials; the study stops"),
        ("suggest", runner, "stopped by signal 2 in trial 2; the study stops"),
    ],
)
def test_a_stopped_study_prints_the_summary_of_what_finished(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, name: str, where: Any, said: str
) -> None:
    """Ctrl-C with trials still to run ended with the stop line alone: no summary of the
    trials that had finished, and no summary.json. Now the summary, then the stop line."""
    if name == "__call__":  # once trial 1 is stored, before trial 2 is asked for
        _sigint_once(monkeypatch, where, name, lambda streak, study, trial: trial.number == 1)
    else:  # while trial 2 draws its values
        _sigint_once(monkeypatch, where, name, lambda trial, param: trial.number == 2)
    code, out, err = cli(*_tune_args(tmp_path, "stop", "trials=3", *SHORT))
    assert code == 130, err  # 128 + SIGINT, as before
    lines = out.splitlines()
    assert lines[-1].startswith(f"ganhub tune: {said}"), out
    assert "# Study stop" in out and out.index("# Study stop") < out.index(lines[-1])
    assert "best config in" in lines[-2]
    facts = json.loads((tmp_path / "studies/stop/summary.json").read_text())
    assert facts["complete"] == 2
    assert (tmp_path / "studies/stop/best.yaml").is_file()
