"""ganhub tune: a study that releases before one-choice params were fixed made (they searched a
one-choice categorical over its one value) resumes; and `storage=` expands `~` and `$VAR` in an
SQLite database's path, as ganhub reads the other paths it is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.identity import IDENTITY, RECORD, identity, strategy
from ganhub_tune.storage import open_study
from ganhub_tune.study import prepare

optuna = pytest.importorskip("optuna")

ARGS = ["plugin=toy2d", "study=s", "objective=reverse_kl", "data.dataset=ring",
        "trainer.batch_size=64", "data.n_samples=2000", "model.g_hidden=32", "model.d_hidden=32",
        "eval.n_samples=500", "trainer.steps=20", "trainer.eval_every=10", "pruner=none",
        "tricks=[r1]"]  # fmt: skip
SPACE = {
    "optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
    "loss": ["lsgan"],
    "optim.G.betas": {"type": "categorical", "choices": [[0.0, 0.99]], "also": ["optim.D.betas"]},
    "trick.r1.gamma": {"type": "float", "low": 0.1, "high": 1.0, "when": {"loss": ["lsgan"]}},
}
# what the earlier release recorded for this space and command line (read from a study it made):
# the one-choice params searched, the condition on `loss` undecided, the command line's keys fixed
SEARCHED_THEN = [
    "loss categorical None None False None ['lsgan'] []",
    "optim.D.lr float 5e-05 0.005 True None [] []",
    "optim.G.betas categorical None None False None [[0.0, 0.99]] [] also ['optim.D.betas']",
    "optim.G.lr float 0.0001 0.001 True None [] []",
    "trick.r1.gamma float 0.1 1.0 False None [] [('loss', ('lsgan',))]",
]
FIXED_THEN = ["data.dataset=ring", "data.n_samples=2000", "eval.n_samples=500",
              "model.d_hidden=32", "model.g_hidden=32", "trainer.batch_size=64",
              "trainer.eval_every=10", "trainer.steps=20", 'tricks=["r1"]']  # fmt: skip


def _args(tmp_path: Path, space: dict[str, Any]) -> list[str]:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"params": space}, sort_keys=False))
    return [*ARGS, f"out={tmp_path / 'studies'}", f"search={path}"]


def _made_the_earlier_way(tmp_path: Path) -> Path:
    """The study folder, storage and finished trial an earlier release left: its identity (in
    the storage and in study.json) and its trial's params hold the one-choice params."""
    study = prepare(parse_options(_args(tmp_path, SPACE)))
    then = {**identity(study), "space": SEARCHED_THEN, "fixed": FIXED_THEN, **strategy(study)}
    stored = optuna.create_study(study_name="s", storage=study.storage_url)
    stored.set_user_attr(IDENTITY, then)
    (study.directory / RECORD).write_text(json.dumps({"storage": "study.db", **then}, indent=2))
    floats, one = (
        optuna.distributions.FloatDistribution,
        optuna.distributions.CategoricalDistribution,
    )
    dists = {"optim.G.lr": floats(1e-4, 1e-3, log=True), "optim.D.lr": floats(5e-5, 5e-3, log=True),
             "optim.G.betas": one(["[0.0, 0.99]"]), "loss": one(["lsgan"]),
             "trick.r1.gamma": floats(0.1, 1.0)}  # fmt: skip
    params = {"optim.G.lr": 3e-4, "optim.D.lr": 1e-3, "optim.G.betas": "[0.0, 0.99]",
              "loss": "lsgan", "trick.r1.gamma": 0.5}  # fmt: skip
    trial = optuna.trial.create_trial(
        params=params, distributions=dists, value=1.0, user_attrs={"strategy": strategy(study)}
    )
    stored.add_trial(trial)
    return study.directory


def test_a_study_that_searched_a_one_choice_param_resumes(tmp_path: Path, cli: Any) -> None:
    """Searched over [lsgan] then, fixed to lsgan now: the same study (it was refused: `loss:
    searched over [lsgan] then, fixed to lsgan now`); the storage records it the current way
    from then on. Another value now is still another study."""
    directory = _made_the_earlier_way(tmp_path)
    code, out, err = cli("tune", *_args(tmp_path, SPACE), "trials=2")
    assert code == 0, err
    assert "resuming study 's' (1 finished trial)" in out + err
    stored = optuna.load_study(study_name="s", storage=f"sqlite:///{directory / 'study.db'}")
    assert len(stored.trials) == 2 and "loss" not in stored.trials[1].params
    now = stored.user_attrs[IDENTITY]
    assert "loss=lsgan" in now["fixed"] and not any(s.startswith("loss ") for s in now["space"])
    assert json.loads((directory / RECORD).read_text())["fixed"] == now["fixed"]
    again = prepare(parse_options(_args(tmp_path, SPACE)))  # and again, the current way
    assert len(open_study(again).trials) == 2


def test_a_one_choice_param_fixed_to_another_value_now_is_another_study(
    tmp_path: Path, cli: Any
) -> None:
    directory = _made_the_earlier_way(tmp_path)
    db = (directory / "study.db").read_bytes()
    code, _, err = cli("tune", *_args(tmp_path, {**SPACE, "loss": ["hinge"]}), "trials=2")
    assert code == 2 and "study 's' was made with other settings: " in err, err
    assert "loss: searched over [lsgan] then, fixed to hinge now" in err, err
    assert (directory / "study.db").read_bytes() == db  # no trial was added


def test_storage_expands_home_and_variables_in_an_sqlite_path(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sqlite:///~/studies/x.db` is a database in the home folder (it was a path relative to
    the current folder, whose `~` folder did not exist: refused); `sqlite:///x.db` stays a
    path in the current folder."""
    home = workdir / "home"
    (home / "studies").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("STUDIES", str(home / "studies"))
    space = {"optim.G.lr": SPACE["optim.G.lr"]}
    for storage, made in [
        ("sqlite:///~/studies/x.db", home / "studies" / "x.db"),
        ("sqlite:///$STUDIES/y.db", home / "studies" / "y.db"),
        ("sqlite:///z.db", workdir / "z.db"),
    ]:
        args = [a if a != "study=s" else f"study={made.stem}" for a in _args(workdir, space)]
        study = prepare(parse_options([*args, f"storage={storage}"]))
        assert study.options.storage == f"sqlite:///{made if 'z.db' not in storage else 'z.db'}"
        open_study(study)
        assert made.is_file(), storage
        stored = json.loads((study.directory / RECORD).read_text())["storage"]
        assert stored == study.options.storage
    assert not (workdir / "~").exists() and not (workdir / "$STUDIES").exists()
