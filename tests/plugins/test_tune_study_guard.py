"""ganhub tune: a study folder holds one study (another storage, an emptied study.db, a
supernet search or a changed `base:` is refused before any trial), the summary's default is
the base config's finished trial, and an objective no computed metric reports is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.identity import identity
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

from .test_tune import TINY, _tune_args

optuna = pytest.importorskip("optuna")
from optuna.storages.journal import JournalFileBackend, JournalStorage  # noqa: E402


def test_a_study_folder_refuses_another_studys_trials(tmp_path: Path, cli: Any) -> None:
    code, _, err = cli(*_tune_args(tmp_path, "clash", "trials=1"))
    assert code == 0, err
    folder = tmp_path / "studies" / "clash"
    kept = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    journal = tmp_path / "clash.journal"
    for change in ([f"storage={journal}"], [f"storage={journal}", "trainer.steps=100"]):
        code, out, err = cli(*_tune_args(tmp_path, "clash", "trials=2", *change))
        assert code == 2 and "holds the outputs of a study its storage" in err, (change, err)
        assert len(err.strip().splitlines()) == 1 and "trial 0" not in out + err
        # and the refused command left no empty study in the storage it was pointed at
        assert optuna.get_all_study_names(JournalStorage(JournalFileBackend(str(journal)))) == []
    # the same settings against an emptied study.db: its trials would overwrite trial_0000
    (folder / "study.db").unlink()
    kept.pop("study.db")
    code, out, err = cli(*_tune_args(tmp_path, "clash", "trials=2"))
    assert code == 2 and "its storage study.db does not hold" in err, err
    # a supernet search is refused before it trains: it would write into this folder
    args = ["tune", "plugin=toy2d", "space=arch", "sampler=oneshot", f"out={tmp_path / 'studies'}",
            "study=clash", "objective=reverse_kl", "trials=2", *TINY]  # fmt: skip
    code, out, err = cli(*args)
    assert code == 2 and "training the toy2d supernet" not in out, out + err
    assert not (folder / "supernet").exists() and not (folder / "architecture.json").exists()
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in kept} == kept
    assert [p.name for p in (folder / "trials").iterdir()] == ["trial_0000"]


def test_a_study_remembers_its_storage_and_base_keys(tmp_path: Path) -> None:
    search = tmp_path / "sb.yaml"
    spec = {"base": {"trainer.steps": 30, "trainer.eval_every": 15},
            "params": {"loss": ["hinge", "lsgan"]}}  # fmt: skip
    args = ["plugin=toy2d", f"out={tmp_path}", f"search={search}", "objective=reverse_kl"]
    search.write_text(yaml.safe_dump(spec))
    before = identity(prepare(parse_options(args)))
    spec["base"]["trainer.steps"] = 60
    search.write_text(yaml.safe_dump(spec))
    after = identity(prepare(parse_options(args)))
    assert before["base"] != after["base"] and "trainer.steps=60" in after["base"]
    spec["base"]["trainer.steps"] = 60.0  # the same setting typed another way
    search.write_text(yaml.safe_dump(spec))
    assert identity(prepare(parse_options(args))) == after


def test_a_changed_base_is_refused_on_resume(tmp_path: Path, cli: Any) -> None:
    search = tmp_path / "sb.yaml"
    spec = {"base": {"trainer.steps": 30, "trainer.eval_every": 15},
            "params": {"loss": ["hinge", "lsgan"]}}  # fmt: skip
    search.write_text(yaml.safe_dump(spec))
    args = ["tune", "plugin=toy2d", f"out={tmp_path}", f"search={search}", "study=basechg",
            "objective=reverse_kl", "trials=1"]  # fmt: skip
    code, _, err = cli(*args)
    assert code == 0, err
    record = json.loads((tmp_path / "basechg" / "study.json").read_text())
    assert record["storage"] == "study.db" and "trainer.steps=30" in record["base"]
    spec["base"]["trainer.steps"] = 60
    search.write_text(yaml.safe_dump(spec))
    code, _, err = cli(*args[:-1], "trials=2")
    said = "study 'basechg' was made with other settings: trainer.steps: 30 in the base then, "
    assert code == 2 and said + "60 in the base now; " in err, err


def test_the_summary_default_is_the_base_configs_finished_trial(tmp_path: Path) -> None:
    """Ctrl-C failed trial 0 (the default) and its re-run completed: the summary shows it."""
    from ganhub_tune.report import write_outputs
    from optuna.trial import TrialState, create_trial

    study = prepare(parse_options(["plugin=toy2d", f"out={tmp_path}", "objective=reverse_kl",
                                   "trials=2", *TINY]))  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "trainer": {}}))
    ostudy = optuna.create_study(directions=study.directions)
    attrs = {"default": True, "run_dir": str(run_dir)}
    ostudy.add_trial(create_trial(state=TrialState.FAIL, user_attrs=attrs))
    ostudy.add_trial(create_trial(value=0.25, user_attrs={**attrs, "continues": 0}))
    facts = write_outputs(study, ostudy)
    assert facts["default_values"] == {"reverse_kl": 0.25}, facts["summary"]
    assert "| **reverse_kl** | 0.25 | 0.25 |" in facts["summary"]


def test_an_objective_no_computed_metric_reports_is_refused_before_a_trial(
    tmp_path: Path,
) -> None:
    args = ["plugin=dcgan", "preset=tiny", f"out={tmp_path}", "objective=fd_digits"]
    with pytest.raises(ConfigError) as err:
        prepare(parse_options(args))
    assert str(err.value) == ("objective=fd_digits: reported by the metric fid, and the runs "
                              "compute eval.metrics=[]; add eval.metrics=[fid]")  # fmt: skip
    prepare(parse_options([*args, "eval.metrics=[fid]"]))  # computed: accepted
    prepare(parse_options([*args[:-1], "objective=step_time"]))  # measured by every run


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["plugin=dcgan", "objective=kid"],
         "objective=kid: reported by the metric kid, and the runs compute the dcgan defaults "
         "[digit_modes, fid]; add eval.metrics=[kid]"),
        (["plugin=toy2d", "objective=fd_digits"],
         "objective=fd_digits: reported by the metric fid, which does not apply to these toy2d "
         "runs (see ganhub list metrics)"),
    ],
)  # fmt: skip
def test_the_domains_default_metrics_and_what_applies_are_checked_before_a_trial(
    tmp_path: Path, args: list[str], line: str
) -> None:
    """With eval.metrics unset the first trial trained in full (2,500 dcgan steps) and then
    stopped the study; an objective of a metric that never applies did the same."""
    with pytest.raises(ConfigError) as err:
        prepare(parse_options([*args, f"out={tmp_path}", "trials=1"]))
    assert str(err.value) == line
    assert not any(tmp_path.iterdir())  # no study was created


def test_the_summary_says_why_it_has_no_default_column(tmp_path: Path) -> None:
    from ganhub_tune.report import write_outputs
    from optuna.trial import create_trial

    search = tmp_path / "s.yaml"
    search.write_text(yaml.safe_dump({"params": {"loss": ["hinge", "lsgan"]}}))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "trainer": {}}))
    for sampler, reason in (
        ("tpe", "the base config is not in the search space (loss='nonsaturating' is not one "
                "of its choices)"),
        ("grid", "sampler=grid runs only the points of its grid"),
    ):  # fmt: skip
        study = prepare(parse_options(["plugin=toy2d", f"out={tmp_path}", f"search={search}",
                                       "objective=reverse_kl", f"sampler={sampler}"]))  # fmt: skip
        ostudy = optuna.create_study(directions=study.directions)
        choices = optuna.distributions.CategoricalDistribution(["hinge", "lsgan"])
        ostudy.add_trial(create_trial(value=0.5, params={"loss": "hinge"}, distributions={
            "loss": choices}, user_attrs={"run_dir": str(run_dir)}))  # fmt: skip
        summary = write_outputs(study, ostudy)["summary"]
        assert f"No default column: {reason}." in summary, summary


def test_an_objective_the_first_trial_does_not_report_removes_the_new_study(
    tmp_path: Path, cli: Any
) -> None:
    """An undeclared objective is known only once a trial reports its metrics: the study it
    stopped stayed on disk, and the corrected command was refused as another study."""
    args = _tune_args(tmp_path, "typo", "trials=1", "trainer.steps=20", "trainer.eval_every=20")
    wrong = [a if a != "objective=reverse_kl" else "objective=nosuch" for a in args]
    code, _, err = cli(*wrong, "direction=maximize")
    assert code == 2 and "objective=nosuch: the toy2d run reports" in err, err
    assert "the new study" in err and "is removed" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "studies" / "typo").exists()
    code, _, err = cli(*args)  # the corrected command
    assert code == 0, err
