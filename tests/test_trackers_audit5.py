"""Trackers as a user meets them: two W&B sessions of one run in one second, and metric names,
counts and values that MLflow refuses or stores its own way."""

from __future__ import annotations

import datetime as dt
import glob
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.loggers.trackers import MLFLOW_RUN_FILE, WANDB_RUN_FILE

from .conftest import TINY_TOY
from .test_trackers import _mlflow, _wandb_records, no_network, wandb_home  # noqa: F401

_NOW = [dt.datetime(2026, 1, 2, 3, 4, 5, 500_000)]


class _Clock(dt.datetime):
    """One clock for W&B's folder names and ganhub's, which moves only when ganhub waits: a
    resume starts within the same second as the session before it."""

    @classmethod
    def fromtimestamp(cls, t: float, tz: Any = None) -> dt.datetime:  # type: ignore[override]
        return _NOW[0]

    @classmethod
    def now(cls, tz: Any = None) -> dt.datetime:  # type: ignore[override]
        return _NOW[0]


def _sleep(seconds: float) -> None:
    _NOW[0] += dt.timedelta(seconds=seconds)


@pytest.mark.slow
def test_two_wandb_sessions_in_one_second_keep_both_records(
    workdir: Path,
    wandb_home: Path,  # noqa: F811
    no_network: list[Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """W&B names a session's folder by its start second: older wandb (0.21) wrote a resume that
    started in that second into the first session's folder, over its records; later ones name
    it <folder>-1, which the `wandb sync` glob ganhub printed (offline-run-*-<id>) left out."""
    pytest.importorskip("wandb")
    from ganhub.loggers.trackers import WandbLogger, wandb_logger

    monkeypatch.setattr(sys.modules["wandb.sdk.wandb_settings"], "datetime", _Clock)
    monkeypatch.setattr(wandb_logger, "datetime", _Clock, raising=False)
    monkeypatch.setattr(wandb_logger, "time", SimpleNamespace(sleep=_sleep), raising=False)
    run_dir = workdir / "run"
    run_dir.mkdir()
    config = resolve([*TINY_TOY, "loggers=[wandb]", "trainer.progress=true"])
    for step, key in [(2, "first"), (4, "second")]:  # a run, then its resume: no sleep
        logger = WandbLogger(run_dir, config)
        logger.log(step, {"loss/D": 1.0 / step, key: 1.0})
        logger.close()
    run_id = json.loads((run_dir / WANDB_RUN_FILE).read_text())["id"]
    sessions = sorted((run_dir / "wandb").glob(f"offline-run-*-{run_id}*"))
    assert [p.name for p in sessions] == [
        f"offline-run-20260102_030405-{run_id}",
        f"offline-run-20260102_030406-{run_id}",  # the resume waited for the next second
    ]
    first, second = (
        [r["history"]["item"] for r in _wandb_records(p) if r.get("type") == "history"]
        for p in sessions
    )
    assert [(r["step"], r["first"]) for r in first] == [(2, 1.0)]  # not written over
    assert [(r["step"], r["second"]) for r in second] == [(4, 1.0)]
    printed = [
        line for line in capfd.readouterr().out.splitlines() if line.startswith("ganhub: W&B")
    ]
    assert len(printed) == 2 and printed[0] == printed[1]
    assert sorted(glob.glob(printed[-1].rsplit(" ", 1)[1])) == [str(p) for p in sessions]
    assert no_network == []


def test_the_printed_wandb_sync_takes_sessions_wandb_numbered(tmp_path: Path) -> None:
    """Two processes resuming one run in one second (W&B adds -1 to the second's folder)."""
    from ganhub.loggers.trackers.wandb_logger import _offline_line

    names = ["offline-run-20260102_030405-ab12cd34", "offline-run-20260102_030405-ab12cd34-1"]
    for name in [*names, "offline-run-20260102_030405-ef56gh78"]:
        (tmp_path / "wandb" / name).mkdir(parents=True)
    sync_glob = _offline_line(tmp_path, "ab12cd34").rsplit(" ", 1)[1]
    assert sorted(Path(p).name for p in glob.glob(sync_glob)) == names


def test_mlflow_keeps_metrics_whose_names_or_number_it_would_refuse(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MLflow refuses a whole batch for one name it does not take (parentheses, '?', '//', a
    '..' part, over 250 characters) or for over 1000 metrics: every metric of the step was
    lost, and the 60 s after it too (the end of the run included, which stayed RUNNING)."""
    pytest.importorskip("mlflow")
    from ganhub.loggers.trackers import MLflowLogger

    logger = MLflowLogger(workdir, resolve([*TINY_TOY, "loggers=[mlflow]"]))
    odd = {"eval/acc (top-1)": 0.5, "eval/q?": 0.25, "/x//y/": 3.0, "eval/../up": 4.0}
    many = {f"many/k{i}": float(i) for i in range(1200)}
    plain = {"loss/D": float("nan"), "loss/G": 0.75, "eval/a/b:c": 1.0, "m" * 300: 2.0}
    for step in (2, 4):
        logger.log(step, {**plain, **odd, **many})
    logger.close()
    err = capsys.readouterr().err
    assert "could not log" not in err and "were not sent" not in err
    assert err.count("is logged as") == 5  # once per renamed metric, not per step
    assert "metric 'eval/acc (top-1)' is logged as 'eval/acc _top-1_'" in err

    client = _mlflow(workdir)
    run = client.get_run(json.loads((workdir / MLFLOW_RUN_FILE).read_text())["run_id"])
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    assert len(metrics) == len(plain) + len(odd) + len(many)
    renamed = {"eval/acc _top-1_": 0.5, "eval/q_": 0.25, "x/y": 3.0, "eval/up": 4.0}
    assert {k: metrics[k] for k in renamed} == renamed
    assert metrics["m" * 250] == 2.0 and metrics["many/k1199"] == 1199.0
    assert math.isnan(metrics["loss/D"]) and metrics["eval/a/b:c"] == 1.0  # kept as they are
    history = client.get_metric_history(run.info.run_id, "eval/acc _top-1_")
    assert [m.step for m in history] == [2, 4]
