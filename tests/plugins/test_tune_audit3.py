"""ganhub tune: an empty `params:` section, `when:` on keys a search file does not search, and
Ctrl-C between two trials."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune import runner
from ganhub_tune.cli import parse_options
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

from .test_tune import _load, _tune_args

optuna = pytest.importorskip("optuna")


def _study(tmp_path: Path, spec: Any, *extra: str) -> Any:
    search = tmp_path / "space.yaml"
    search.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    return prepare(parse_options(["plugin=toy2d", f"out={tmp_path / 'out'}", f"search={search}",
                                  *extra]))  # fmt: skip


def _when(tmp_path: Path, on: dict[str, Any], *extra: str) -> dict[str, Any] | None:
    """The `when` of the file's model.g_hidden in the study's space (None: left the space)."""
    spec = {"params": {"model.g_hidden": {"type": "categorical", "choices": [64, 128],
                                          "when": on}}}  # fmt: skip
    study = _study(tmp_path, spec, *extra)
    found = [p.when for p in study.space.params if p.key == "model.g_hidden"]
    return dict(found[0]) if found else None


@pytest.mark.parametrize(
    "text", ["params:\n", "params: {}\n", "base: {trainer.steps: 20}\nparams:\n"]
)
def test_an_empty_params_section_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    """It merged nothing: the study ran the built-in space, not the params the user meant."""
    with pytest.raises(ConfigError) as err:
        _study(tmp_path, text)
    message = str(err.value)
    assert (
        message.startswith(f"{tmp_path / 'space.yaml'}: 'params' is empty") and "\n" not in message
    )
    assert not (tmp_path / "out").exists()  # refused before the study folder is made
    # a file without `params` sets the study's other settings over the built-in space
    study = _study(tmp_path, "base: {trainer.steps: 20}\n")
    assert study.base_config.trainer.steps == 20 and len(study.space.params) > 1


def test_when_may_name_a_built_in_param_or_a_fixed_key(tmp_path: Path) -> None:
    """A file's `when` on a param of the built-in space (loss), or on a key the command line
    fixes, was refused as "not a param listed before it", which the user could not fix."""
    assert _when(tmp_path, {"loss": ["hinge"]}) == {"loss": ("hinge",)}  # conditioned on it
    assert _when(tmp_path, {"loss": ["hinge"]}, "loss=hinge") == {}  # always sampled
    assert _when(tmp_path, {"loss": ["hinge"]}, "loss=lsgan") is None  # never sampled
    assert _when(tmp_path, {"trainer.steps": [20]}, "trainer.steps=20") == {}
    assert _when(tmp_path, {"trainer.steps": [20]}, "trainer.steps=30") is None
    # a value that is no choice of the built-in param is a mistake, not a param left out
    with pytest.raises(ConfigError, match=r"when: \{loss: 'hnige'\} never holds"):
        _when(tmp_path, {"loss": ["hnige"]})


@pytest.mark.parametrize(
    ("on", "extra", "named"),
    [
        ({"trainer.steps": [20]}, [], "'trainer.steps', which this study does not search"),
        ({"loss": ["hinge"]}, ["space=arch"], "'loss', which this study does not search"),
        ({"optim.D.betas": [[0.5, 0.999]]}, [], "tied to param 'optim.G.betas'"),
    ],
)  # fmt: skip
def test_when_on_a_key_no_param_searches_is_refused_saying_what_when_takes(
    tmp_path: Path, on: dict[str, Any], extra: list[str], named: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _when(tmp_path, on, *extra)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'space.yaml'}: param 'model.g_hidden': when: names")
    assert named in message and "or a key fixed on the command line" in message


def _sigint_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, when: Any) -> None:
    """`module.name` sends this process SIGINT (Ctrl-C) the first time `when(*args)` holds."""
    real = getattr(module, name)
    sent: list[bool] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not sent and when(*args):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def _trials(tmp_path: Path, name: str) -> list[Any]:
    return _load(f"sqlite:///{tmp_path / 'studies' / name / 'study.db'}", name).get_trials()


def test_ctrl_c_while_the_next_trial_chooses_its_values_interrupts_it(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after trial 0 ended, while trial 1 drew its values, failed trial 1 (counted as
    failed, never run again) and ended the command as "aborted"."""
    args = _tune_args(tmp_path, "gap", "trials=2", "pruner=none", "trainer.steps=20",
                      "trainer.eval_every=20")  # fmt: skip
    _sigint_once(monkeypatch, runner, "suggest", lambda trial, param: trial.number == 1)
    code, out, err = cli(*args)
    assert code == 130 and "aborted" not in err, err
    assert "trial 1: stopped by signal 2; the study stops" in out
    states = {t.number: (t.state.name, t.user_attrs) for t in _trials(tmp_path, "gap")}
    assert states[0][0] == "COMPLETE" and runner.INTERRUPTED in states[1][1]
    assert states[2] == ("WAITING", {runner.CONTINUES: 1})
    monkeypatch.undo()
    code, out, err = cli(*args)
    assert code == 0, err
    trials = _trials(tmp_path, "gap")
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].params == trials[1].params  # the interrupted trial, continued
    summary = json.loads((tmp_path / "studies/gap/summary.json").read_text())
    assert summary["failed"] == 0 and summary["interrupted"] == 1


def test_ctrl_c_after_a_trial_is_stored_stops_the_study_before_the_next(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while Optuna ran its callbacks after trial 0 raised inside Optuna ("ganhub:
    aborted"); now the study stops there, like a Ctrl-C in a trial, and the rerun goes on."""
    args = _tune_args(tmp_path, "after", "trials=2", "pruner=none", "trainer.steps=20",
                      "trainer.eval_every=20")  # fmt: skip
    _sigint_once(monkeypatch, runner._FailureStreak, "__call__", lambda *a: True)
    code, out, err = cli(*args)
    assert code == 130 and "aborted" not in err, err
    assert "stopped by signal 2 between trials; the study stops" in out
    assert [t.state.name for t in _trials(tmp_path, "after")] == ["COMPLETE"]
    monkeypatch.undo()
    code, out, err = cli(*args)
    assert code == 0, err
    assert [t.state.name for t in _trials(tmp_path, "after")] == ["COMPLETE", "COMPLETE"]


@pytest.mark.parametrize(
    ("item", "said"),
    [
        ("objective=[]", "objective=[]: give a name or [name,name], or leave objective= out"),
        ("direction=[]", "direction=[]: give a name or [name,name], or leave direction= out"),
        ("objective=[modes,modes]", "objective=[modes, modes] names 'modes' twice"),
    ],
)
def test_an_empty_or_repeated_objective_is_refused(tmp_path: Path, item: str, said: str) -> None:
    """objective=[] ran the domain's default objective, and [modes,modes] a study of two equal
    objectives (a Pareto front of one line), without a word."""
    with pytest.raises(ConfigError) as err:
        prepare(parse_options(["plugin=toy2d", f"out={tmp_path}", "sampler=random", item]))
    assert str(err.value).startswith(said)
    assert not list(tmp_path.iterdir())
