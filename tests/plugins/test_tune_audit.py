"""ganhub tune: speed objectives with repeats, every trial failure printed and counted, numeric
ranges checked against the schema, storages that do not open or are refused (no traceback, no
password, no file left), a refusal that names the differing key, a search file's base: named,
and a misspelt option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.storage import open_study
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

optuna = pytest.importorskip("optuna")

# two runs of 20 tiny steps each: a trial takes about a second
QUICK = ["data.dataset=ring", "trainer.steps=20", "trainer.eval_every=20",
         "trainer.batch_size=64", "data.n_samples=1000", "eval.n_samples=200",
         "model.g_hidden=16", "model.d_hidden=16", "tricks=[]"]  # fmt: skip


def _search(tmp_path: Path, spec: dict[str, Any], name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_repeats_score_speed_by_the_mean_over_run_seeds(tmp_path: Path, cli: Any) -> None:
    """Only the first seed's run measured its speed: every trial failed, silently, with
    'stopped after 2 failed trials in a row' (exit 3)."""
    code, out, err = cli("tune", "plugin=toy2d", "trials=1", "repeats=2", f"out={tmp_path}",
                         "objective=[reverse_kl,step_time]", *QUICK)  # fmt: skip
    assert code == 0, out + err
    assert "trial 0: reverse_kl=" in out and "(mean of 2 run seeds)" in out, out
    storage = f"sqlite:///{tmp_path / 'toy2d-hparams' / 'study.db'}"
    (trial,) = optuna.load_study(study_name="toy2d-hparams", storage=storage).trials
    assert trial.state.name == "COMPLETE"
    seeds = trial.user_attrs["seed_values"]
    assert len(seeds["step_time"]) == 2 and all(v > 0 for v in seeds["step_time"])
    assert trial.values[1] == pytest.approx(sum(seeds["step_time"]) / 2)


def test_any_failure_of_a_trial_is_printed_and_counted(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after a trial's first run (here its second seed's objective) was swallowed by
    Optuna: no 'trial N: failed:' line, and not the 'all trials failed' error."""
    import ganhub_tune.runner as runner

    real, calls = runner.objective_values, []

    def second_fails(*args: Any) -> list[float]:
        calls.append(1)
        if len(calls) > 1:
            raise ConfigError("objective=reverse_kl: boom")
        return real(*args)

    monkeypatch.setattr(runner, "objective_values", second_fails)
    code, out, err = cli("tune", "plugin=toy2d", "trials=2", "repeats=2", f"out={tmp_path}",
                         "objective=reverse_kl", "sampler=random", *QUICK)  # fmt: skip
    assert code == 2, out + err
    failed = [line for line in out.splitlines() if ": failed: " in line]
    assert [line.split(":")[0] for line in failed] == ["trial 0", "trial 1"], out
    assert all("objective=reverse_kl: boom" in line for line in failed)
    assert err.strip().startswith(
        "ganhub: error: all 2 trials failed; the first, trial 0: objective=reverse_kl: boom ("
    )


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"optim.G.lr": {"type": "float", "low": -1, "high": 0.001}},
         "param 'optim.G.lr': low=-1.0 is not valid: must be above 0"),
        ({"trainer.grad_accum": {"type": "int", "low": 0, "high": 2}},
         "param 'trainer.grad_accum': low=0 is not valid: must be at least 1"),
        ({"optim.G.lr": {"type": "float", "low": 1, "high": 3, "also": ["trainer.steps"]}},
         "param 'optim.G.lr' (for 'trainer.steps'): a float range sets values such as "),
        ({"trainer.log_every": {"type": "int", "low": 1, "high": 3, "step": 1},
          "eval.n_samples": {"type": "int", "low": 1, "high": 9, "step": 4}},
         ""),  # in range: accepted
    ],
)  # fmt: skip
def test_numeric_ranges_are_checked_against_the_schema_before_a_trial(
    tmp_path: Path, cli: Any, param: dict[str, Any], message: str
) -> None:
    """Only categorical choices were checked: a range below a key's bound ran trials that
    failed one after another."""
    spec = _search(tmp_path, {"params": param})
    args = ["plugin=toy2d", f"search={spec}", f"out={tmp_path / 's'}", "objective=reverse_kl"]
    if not message:
        prepare(parse_options(args))
        return
    with pytest.raises(ConfigError) as raised:
        prepare(parse_options(args))
    assert str(raised.value).startswith(f"{spec}: {message}"), str(raised.value)
    assert not (tmp_path / "s").exists()
    code, out, err = cli("tune", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "trial 0" not in out


def test_a_storage_without_its_driver_is_one_line_without_its_password(
    tmp_path: Path, cli: Any
) -> None:
    """mysql:// printed Optuna's ImportError traceback (exit 1); storage errors printed the
    password of a URL."""
    for url, said in [
        ("mysql://me:hunter2@localhost/db", "the mysql driver (Python module MySQLdb) is not "
         "installed: pip install mysqlclient, or give sqlite:///PATH.db, postgresql://USER@HOST"
         "/DB, or a journal file PATH.journal (or PATH.log)"),
        ("bogus://me:hunter2@x/db", "not a storage ganhub tune can open"),
        ("postgresql://me:hunter2@127.0.0.1:1/db", ""),  # no server there
    ]:  # fmt: skip
        code, out, err = cli("tune", "plugin=toy2d", f"storage={url}", f"out={tmp_path}")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "hunter2" not in out + err and f"storage={url.replace('hunter2', '***')}: " in err
        assert said in err, err
        assert list(tmp_path.iterdir()) == []


def test_a_refused_study_leaves_no_new_storage_file(tmp_path: Path, cli: Any) -> None:
    """The refusal ('holds the outputs of a study its storage ... does not hold') left the
    other storage's new database file behind."""
    out = f"out={tmp_path / 'studies'}"
    code, _, err = cli("tune", "plugin=toy2d", "trials=1", out, "objective=reverse_kl", *QUICK)
    assert code == 0, err
    for storage in (tmp_path / "other.db", tmp_path / "other.journal"):
        url = f"sqlite:///{storage}" if storage.suffix == ".db" else str(storage)
        code, _, err = cli("tune", "plugin=toy2d", "trials=2", out, "objective=reverse_kl",
                           f"storage={url}", *QUICK)  # fmt: skip
        assert code == 2 and "holds the outputs of a study its storage" in err, err
        assert not storage.exists(), storage
    # a database that was there before is another's: it stays, without a study of this command
    kept = tmp_path / "kept.db"
    optuna.create_study(study_name="theirs", storage=f"sqlite:///{kept}")
    code, _, err = cli("tune", "plugin=toy2d", "trials=2", out, "objective=reverse_kl",
                       f"storage=sqlite:///{kept}", *QUICK)  # fmt: skip
    assert code == 2 and optuna.get_all_study_names(f"sqlite:///{kept}") == ["theirs"], err


def test_the_other_settings_refusal_names_the_keys_that_differ(tmp_path: Path) -> None:
    """It printed both whole spaces' internal reprs, cut with '...'."""
    spec = _search(tmp_path, {"params": {
        "loss": ["hinge", "lsgan"],
        "optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
    }})  # fmt: skip
    base = ["plugin=toy2d", f"out={tmp_path}", "objective=reverse_kl", f"search={spec}"]
    open_study(prepare(parse_options([*base, "trainer.steps=30"])))
    with pytest.raises(ConfigError) as raised:
        open_study(prepare(parse_options([*base, "trainer.steps=30", "loss=hinge"])))
    assert str(raised.value) == (
        "study 'toy2d-hparams' was made with other settings: loss: searched over [hinge, lsgan] "
        "then, fixed to hinge now; its trials would not compare with these: run it with those "
        "settings, or give another study="
    )
    _search(tmp_path, {"params": {"optim.G.lr": {"type": "float", "low": 1e-5, "high": 1e-3}}})
    with pytest.raises(ConfigError) as raised:
        open_study(prepare(parse_options([*base[:2], *base[3:], "trainer.steps=40",
                                          "objective=modes"])))  # fmt: skip
    said = str(raised.value)
    for part in ("objective: reverse_kl then, modes now",
                 "loss: searched over [hinge, lsgan] then, searched over [nonsaturating, hinge, "
                 "lsgan] now",
                 "optim.G.lr: searched over float 0.0001..0.001 (log) then, searched over float "
                 "1e-05..0.001 now",
                 "trainer.steps: fixed to 30 then, fixed to 40 now"):  # fmt: skip
        assert part in said, said
    assert "..." not in said and "None" not in said


def test_an_error_in_a_search_files_base_names_the_file(tmp_path: Path, cli: Any) -> None:
    spec = _search(tmp_path, {"base": {"trainer.stepz": 100}, "params": {"loss": ["hinge"]}})
    code, _, err = cli("tune", "plugin=toy2d", f"search={spec}", f"out={tmp_path / 's'}")
    assert code == 2 and err.startswith(
        f"ganhub: error: {spec}: base: unknown key 'trainer.stepz' (did you mean 'trainer.steps'?)"
    ), err
    # a key the command line sets again is the command line's, not the file's
    _search(tmp_path, {"base": {"trainer.steps": 100}, "params": {"loss": ["hinge"]}})
    code, _, err = cli("tune", "plugin=toy2d", f"search={spec}", f"out={tmp_path / 's'}",
                       "trainer.steps=-1")  # fmt: skip
    assert code == 2 and err.startswith("ganhub: error: trainer.steps=-1: "), err


def test_a_misspelt_option_is_named_as_one(tmp_path: Path, cli: Any) -> None:
    """`trails=5` was taken for a config key: "did you mean 'tricks'?"."""
    out = f"out={tmp_path}"
    code, _, err = cli("tune", "plugin=toy2d", "trails=5", out)
    assert code == 2 and "unknown option 'trails' (did you mean 'trials'?)" in err, err
    code, _, err = cli("tune", "plugin=toy2d", "supernt.trainer.steps=5", out)
    assert code == 2 and "unknown option 'supernt.trainer.steps' (did you mean 'supernet'" in err
    code, _, err = cli("tune", "plugin=toy2d", "tricsk=[]", out)  # a config key's typo
    assert code == 2 and "unknown key 'tricsk'" in err, err
    assert list(tmp_path.iterdir()) == []


def test_study_json_keeps_no_password() -> None:
    """The record of a study in a PostgreSQL database (study.json) names it without its
    password (it did already: a guard)."""
    from types import SimpleNamespace

    from ganhub_tune.identity import storage_text

    url = "postgresql://me:hunter2@db.example/optuna"
    study: Any = SimpleNamespace(options=SimpleNamespace(storage=url))
    assert storage_text(study) == "postgresql://me:***@db.example/optuna"
