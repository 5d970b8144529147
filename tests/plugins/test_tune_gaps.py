"""ganhub tune's gaps of December: a one-choice categorical is a fixed key, a tune option given
twice is refused, and an output or storage path that cannot be written is one line naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.study import prepare

from .test_tune import TINY

optuna = pytest.importorskip("optuna")

# a few tiny steps: a trial is about a second
FAST = [*[i for i in TINY if not i.startswith(("trainer.steps", "trainer.eval_every"))],
        "trainer.steps=20", "trainer.eval_every=10", "pruner=none"]  # fmt: skip


def _space(tmp_path: Path, params: dict[str, Any], **top: Any) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**top, "params": params}, sort_keys=False))
    return path


def _tune(tmp_path: Path, *extra: str) -> list[str]:
    return ["tune", "plugin=toy2d", f"out={tmp_path / 'studies'}", "study=s",
            "objective=reverse_kl", *FAST, *extra]  # fmt: skip


def _one_error(code: int, err: str) -> str:
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- 1: a categorical with one choice searches nothing: it is fixed, like key=value -----------


def test_a_one_choice_categorical_is_a_fixed_key_with_a_note(cli: Any, tmp_path: Path) -> None:
    """`loss: [hinge]` was searched: a param of the study, drawn as hinge in every trial."""
    space = _space(tmp_path, {
        "optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
        "loss": ["lsgan"],
        "optim.G.betas": {"type": "categorical", "choices": [[0.0, 0.99]],
                          "also": ["optim.D.betas"]},
        "trick.r1.gamma": {"type": "float", "low": 0.1, "high": 1.0, "when": {"loss": ["lsgan"]}},
        "trick.ema.decay": {"type": "float", "low": 0.9, "high": 0.99, "when": {"loss": ["hinge"]}},
    })  # fmt: skip
    args = [a for a in _tune(tmp_path, f"search={space}", "trials=1", "tricks=[r1]")
            if not a.startswith(("loss=", "optim.G.betas="))]  # fmt: skip
    code, out, err = cli(*args)
    assert code == 0, err
    assert ("ganhub tune: note: " f"{space}: param 'loss' has one choice, 'lsgan': every trial "
            "takes it, as loss=lsgan on the command line would") in out  # fmt: skip
    assert "param 'optim.G.betas' has one choice, [0.0, 0.99]" in out
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/studies/s/study.db")
    # the condition on the fixed loss is decided up front: gamma always, ema's decay never
    (searched,) = [set(t.params) for t in trials.trials]
    assert {"optim.G.lr", "trick.r1.gamma"} <= searched
    assert not searched & {"loss", "optim.G.betas", "trick.ema.decay"}
    config = yaml.safe_load((tmp_path / "studies/s/trials/trial_0000/config.yaml").read_text())
    assert config["loss"] == "lsgan"
    assert config["optim"]["G"]["betas"] == config["optim"]["D"]["betas"] == [0.0, 0.99]
    fixed = json.loads((tmp_path / "studies/s/study.json").read_text())
    assert "loss=lsgan" in json.dumps(fixed)
    # the study remembers it as fixed: another single choice is another study
    space.write_text(space.read_text().replace("- lsgan", "- hinge"))
    err = _one_error(*cli(*args)[::2])
    assert "loss: fixed to lsgan then, fixed to hinge now" in err, err


def test_the_command_line_wins_over_a_one_choice_param(cli: Any, tmp_path: Path) -> None:
    """A key given on the command line is fixed to its value, not to the file's one choice,
    and a bad one-choice value is refused naming its param."""
    lr = {"type": "float", "low": 1e-4, "high": 1e-3}
    space = _space(tmp_path, {"loss": ["lsgan"], "optim.G.lr": lr})
    study = prepare(parse_options(_tune(tmp_path, f"search={space}", "loss=hinge")[1:]))
    assert study.base_config.loss == "hinge" and not study.fixed_notes and not study.fixed
    assert "loss" not in [p.key for p in study.space.params]
    # a conditional one is fixed once its condition is: by the command line or a one-choice
    gamma = {"type": "categorical", "choices": [1.0], "when": {"tricks": [["r1"]]}}
    space = _space(tmp_path, {"tricks": [["r1"]], "trick.r1.gamma": gamma, "optim.G.lr": lr})
    args = [a for a in _tune(tmp_path, f"search={space}")[1:] if not a.startswith("tricks=")]
    study = prepare(parse_options(args))
    assert study.fixed == {"tricks": ["r1"], "trick.r1.gamma": 1.0}, study.fixed
    assert len(study.fixed_notes) == 2 and study.base_config.trick.r1.gamma == 1.0  # type: ignore[attr-defined]
    assert not {"tricks", "trick.r1.gamma"} & {p.key for p in study.space.params}
    study = prepare(parse_options([*args, "tricks=[ema]"]))
    assert study.fixed == {} and "trick.r1.gamma" not in {p.key for p in study.space.params}
    bad = _space(tmp_path, {"loss": ["hnige"], "optim.G.lr": lr})
    args = _tune(tmp_path / "t", f"search={bad}", "trials=1")
    err = _one_error(*cli(*[a for a in args if not a.startswith("loss=")])[::2])
    assert f"{bad}: param 'loss': " in err and "'hinge'" in err, err


# -- 2: the same key twice ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["trials=3", "trials=5"], "trials=3 and trials=5: the option 'trials' is given twice"),
        (["sampler=tpe", "sampler=random"], "sampler=tpe and sampler=random: the option 'sampler'"),
        (["timeout=5", "timeout=9"], "timeout=5 and timeout=9: the option 'timeout'"),
    ],
)
def test_a_tune_option_given_twice_is_refused(
    cli: Any, tmp_path: Path, items: list[str], expected: str
) -> None:
    """The last one was taken silently: `study=a ... study=b` would resume whichever came last."""
    err = _one_error(*cli(*_tune(tmp_path, *items))[::2])
    assert expected in err and "give it once" in err, err
    assert not (tmp_path / "studies").exists()


def test_a_search_file_base_key_given_both_ways_is_refused(cli: Any, tmp_path: Path) -> None:
    """`trainer.steps: 10` beside `trainer: {steps: 11}` in base: kept 11 without a word."""
    space = _space(tmp_path, {"loss": ["hinge", "lsgan"]},
                   base={"trainer.steps": 10, "trainer": {"steps": 11}})  # fmt: skip
    err = _one_error(*cli(*_tune(tmp_path, f"search={space}"))[::2])
    assert (f"{space}: base: the key 'trainer.steps' is given twice, as 10 and as 11 (once as a "
            "dotted key, once nested); give it once") in err, err  # fmt: skip


# -- 3: outputs and storages that cannot be written ------------------------------------------


def test_an_out_folder_that_cannot_be_made_is_one_line(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for out in ("/proc/ganhub_tune_x", str(tmp_path / "afile" / "sub")):
        code, _, err = cli("tune", "plugin=toy2d", f"out={out}", "trials=1", *FAST)
        err = _one_error(code, err)
        assert err.startswith(f"ganhub: error: out={out}: the study folder {out}/toy2d-hparams "
                              "cannot be written (") and "give out=DIR" in err, err  # fmt: skip


def test_a_storage_file_that_cannot_be_made_is_one_line(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    cases = {
        f"sqlite:///{tmp_path}/no/such/x.db": f"the folder {tmp_path}/no/such does not exist; "
        f"create it (mkdir -p {tmp_path}/no/such)",
        "sqlite:///no/such/x.db": "the folder no/such (in the current folder: "
        "sqlite:////no/such/x.db is absolute) does not exist",
        f"sqlite:///{tmp_path}": f"{tmp_path} is a folder; give the path of a database file "
        f"(sqlite:///{tmp_path}/study.db)",
        f"sqlite:///{tmp_path}/afile/x.db": f"{tmp_path}/afile is a file, not a folder",
        f"{tmp_path}/no/such/x.journal": f"the folder {tmp_path}/no/such does not exist",
        "sqlite:////proc/ganhub_tune_x.db": "cannot create or open the file "
        "/proc/ganhub_tune_x.db (unable to open database file); give a path",
        "/proc/ganhub_tune_x.journal": "cannot create or open the file "
        "/proc/ganhub_tune_x.journal (",
    }
    for url, expected in cases.items():
        code, _, err = cli(*_tune(tmp_path, "trials=1", f"storage={url}"))
        err = _one_error(code, err)
        assert err.startswith(f"ganhub: error: storage={url}: {expected}"), err
        assert not (tmp_path / "studies").exists()
