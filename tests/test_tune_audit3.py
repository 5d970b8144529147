"""ganhub tune, as a user: a supernet trained again in a study that has run gets its preference
trained, run-folder keys are refused, a signal after the last trial still ends with the summary,
SIGTERM between trials stops the study as Ctrl-C does, and a `when:` or param key that is no
searched or config key suggests only a close name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ganhub_tune import oneshot, runner
from ganhub_tune.cli import parse_options
from ganhub_tune.study import prepare

from ganhub.errors import ConfigError

from .plugins.test_tune import _load, _tune_args

optuna = pytest.importorskip("optuna")

SHORT = ("trials=2", "pruner=none", "trainer.steps=20", "trainer.eval_every=20")


def _trials(tmp_path: Path, name: str) -> list[Any]:
    return _load(f"sqlite:///{tmp_path / 'studies' / name / 'study.db'}", name).get_trials()


def _oneshot_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["tune", "plugin=toy2d", "space=arch", "sampler=oneshot", "trainer.steps=5",
            "objective=reverse_kl", "eval.n_samples=500", "data.n_samples=2000",
            "trainer.batch_size=64", f"out={tmp_path / 'studies'}", "study=arch", *extra]  # fmt: skip


def test_a_supernet_trained_again_runs_its_preference_in_a_study_that_has_run(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting a finished oneshot study's supernet trained it again on the next command, and
    its preferred architecture never ran: the study held its trials, nothing was queued."""
    code, out, err = cli(*_oneshot_args(tmp_path, "trials=2"))
    assert code == 0, err
    folder = tmp_path / "studies" / "arch"
    ran = [t.params for t in _trials(tmp_path, "arch")]
    assert len(ran) == 2
    (folder / oneshot.ARCHITECTURE_FILE).unlink()
    for path in sorted((folder / "supernet").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (folder / "supernet").rmdir()
    real_write = oneshot._write
    key = "model.g_layers"  # the new supernet prefers a depth no trial has run

    def prefer_another(path: Path, arch: dict[str, dict[Any, float]]) -> None:
        other = next(v for v in arch[key] if all(v != params[key] for params in ran))
        arch[key] = {v: (0.9 if v == other else 0.1 / (len(arch[key]) - 1)) for v in arch[key]}
        real_write(path, arch)

    monkeypatch.setattr(oneshot, "_write", prefer_another)
    code, out, err = cli(*_oneshot_args(tmp_path, "trials=2"))
    assert code == 0, err
    assert "training the toy2d supernet" in out
    assert "its preferred architecture runs as one more trial" in out
    arch = oneshot.read_architecture(folder / oneshot.ARCHITECTURE_FILE, prepare(parse_options(
        _oneshot_args(tmp_path, "trials=2")[1:])))  # fmt: skip
    preferred = oneshot.preferred_params(arch)
    trials = _trials(tmp_path, "arch")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert all(trials[2].params[k] == v for k, v in preferred.items())
    assert (
        "Trial 2 is the architecture the weight-sharing supernet"
        in (folder / "summary.md").read_text()
    )
    # read back (not trained) on the next command: nothing more is queued or run
    monkeypatch.undo()
    code, out, err = cli(*_oneshot_args(tmp_path, "trials=2"))
    assert code == 0, err
    assert len(_trials(tmp_path, "arch")) == 3


@pytest.mark.parametrize("item", ["out_dir=elsewhere", "name=mine", "resume=runs/x"])
def test_run_folder_keys_are_refused(tmp_path: Path, cli: Any, item: str) -> None:
    """out_dir= and name= were overwritten by each trial's own folder without a word (the runs
    went to OUT/STUDY/trials), resume= made every trial resume one run."""
    with pytest.raises(ConfigError) as err:
        parse_options(["plugin=toy2d", item])
    assert str(err.value).startswith(f"{item}: ganhub tune ")
    code, _, err_text = cli("tune", "plugin=toy2d", "trials=1", f"out={tmp_path / 'o'}", item)
    assert code == 2 and len(err_text.strip().splitlines()) == 1, err_text
    assert not (tmp_path / "o").exists() and not (tmp_path / "elsewhere").exists()


def _signal_once(monkeypatch: pytest.MonkeyPatch, signum: int, number: int) -> None:
    """`signum` to this process once Optuna has stored trial `number` (its callbacks run)."""
    real = runner._FailureStreak.__call__
    sent: list[bool] = []

    def wrapper(self: Any, study: Any, trial: Any) -> None:
        if not sent and trial.number == number:
            sent.append(True)
            os.kill(os.getpid(), signum)
        real(self, study, trial)

    monkeypatch.setattr(runner._FailureStreak, "__call__", wrapper)


def test_ctrl_c_after_the_last_trial_still_writes_the_summary(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C once the last trial was stored said the study stops (exit 130) and printed no
    summary, though it held every trial it was asked for."""
    _signal_once(monkeypatch, signal.SIGINT, 1)
    code, out, err = cli(*_tune_args(tmp_path, "last", *SHORT))
    assert code == 0, err
    assert "signal 2 came after the last trial; the study is complete" in out
    assert "# Study last" in out and "best config in" in out
    assert json.loads((tmp_path / "studies/last/summary.json").read_text())["complete"] == 2


_SIGTERM_AFTER_TRIAL_0 = """
import os, signal, sys
from ganhub_tune import runner
real, sent = runner._FailureStreak.__call__, []
def wrapper(self, study, trial):
    if not sent:
        sent.append(True)
        os.kill(os.getpid(), signal.SIGTERM)
    real(self, study, trial)
runner._FailureStreak.__call__ = wrapper
from ganhub.cli import main
main(sys.argv[1:])
"""


def test_sigterm_between_trials_stops_the_study_as_ctrl_c_does(tmp_path: Path, cli: Any) -> None:
    """SIGTERM after a trial was stored ended the process inside Optuna (no line saying the
    study stops); now it stops the study before the next trial and the rerun continues it."""
    args = _tune_args(tmp_path, "term", *SHORT)
    proc = subprocess.run([sys.executable, "-c", _SIGTERM_AFTER_TRIAL_0, *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "stopped by signal 15 between trials; the study stops" in proc.stdout
    assert [t.state.name for t in _trials(tmp_path, "term")] == ["COMPLETE"]
    code, _, err = cli(*args)
    assert code == 0, err
    assert [t.state.name for t in _trials(tmp_path, "term")] == ["COMPLETE", "COMPLETE"]


def _refused(tmp_path: Path, spec: dict[str, Any]) -> str:
    search = tmp_path / "space.yaml"
    search.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        prepare(parse_options(["plugin=toy2d", f"out={tmp_path / 'out'}", f"search={search}"]))
    return str(err.value)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("model.dropout", ""),  # was: did you mean 'model.d_act'?
        ("model.depth", ""),
        ("trainer.steps", ""),  # was: did you mean 'trainer.batch_size'?
        ("los", "loss"),
        ("optim.G.beta", "optim.G.betas"),
    ],
)
def test_a_when_key_suggests_only_a_close_name(tmp_path: Path, key: str, hint: str) -> None:
    """A `when:` on a key the study does not search suggested any key of the same section."""
    spec = {"params": {"model.g_hidden": {"type": "categorical", "choices": [64, 128],
                                          "when": {key: [1]}}}}  # fmt: skip
    message = _refused(tmp_path, spec)
    assert f"when: names '{key}'" in message
    assert (f"(did you mean '{hint}'?)" in message) if hint else ("did you mean" not in message)


@pytest.mark.parametrize(
    ("key", "hint"), [("model.depth", ""), ("model.g_hiden", "model.g_hidden")]
)
def test_a_param_key_suggests_only_a_close_config_key(tmp_path: Path, key: str, hint: str) -> None:
    """A param that is no config key suggested an unrelated one of its section."""
    message = _refused(tmp_path, {"params": {key: {"type": "int", "low": 1, "high": 3}}})
    assert f"param '{key}' is not a config key of toy2d" in message
    assert (f"(did you mean '{hint}'?)" in message) if hint else ("did you mean" not in message)


@pytest.mark.parametrize(
    ("items", "warned"),
    [
        (["objective=modes", "direction=minimize"], ["modes"]),
        (["objective=[reverse_kl,modes]", "direction=[maximize,maximize]"], ["reverse_kl"]),
        (["objective=modes", "direction=maximize"], []),
        (["objective=reverse_kl"], []),
    ],
)
def test_a_direction_against_the_metric_s_is_warned(
    tmp_path: Path, items: list[str], warned: list[str]
) -> None:
    """objective=modes direction=minimize ran a study that looked for the worst runs, silently."""
    study = prepare(parse_options(["plugin=toy2d", f"out={tmp_path}", "sampler=random", *items]))
    assert [n.split("objective ", 1)[1].split(",")[0] for n in study.notes] == warned
