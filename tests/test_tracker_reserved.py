"""Metric names a logger keeps for itself (metrics.jsonl's `step`, W&B's `step` column and its
`_step`, the sample images' tag) or renames into another metric's name: each metric keeps its
own record under a distinct name, said once, with the real libraries read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.loggers.names import MetricNames

from .conftest import TINY_TOY
from .test_trackers import _mlflow, _wandb_records, no_network, wandb_home  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.*")


def _png(path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (255, 0, 0)).save(path)
    return path


def test_jsonl_keeps_its_step_and_time_and_the_metrics_of_those_names(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganhub.loggers.builtin import JsonlLogger

    logger = JsonlLogger(workdir, resolve(TINY_TOY))
    for step in (2, 4):
        logger.log(step, {"step": 100.0 + step, "time": 7.0, "loss/D": 0.5})
    logger.resumed_at(2)  # a resume reads each record's own step back
    logger.close()
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2]
    assert rows[0]["metric/step"] == 102.0 and rows[0]["metric/time"] == 7.0
    assert rows[0]["time"] != 7.0 and rows[0]["loss/D"] == 0.5
    err = capsys.readouterr().err
    assert err.count("is logged as") == 2  # once per metric, not per step
    assert "logger 'jsonl': metric 'step' is logged as 'metric/step'" in err


def test_tensorboard_keeps_the_sample_images_apart_from_a_metric_of_their_tag(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """TensorBoard files a tag under its first kind of data: a scalar `samples` logged before
    the first grid made the grids scalars (and the scalar plot held images)."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    from ganhub.loggers.builtin import TensorBoardLogger

    logger = TensorBoardLogger(workdir, resolve(TINY_TOY))
    logger.log(2, {"samples": 3.0, "loss/D": 0.5})
    logger.log_artifacts(2, [_png(workdir / "samples" / "step_0000002.png")])
    logger.close()
    events = EventAccumulator(str(workdir / "tb"))
    events.Reload()
    kinds = {t: events.SummaryMetadata(t).plugin_data.plugin_name for t in events.Tags()["tensors"]}
    assert kinds == {"samples": "images", "metric/samples": "scalars", "loss/D": "scalars"}
    assert "metric 'samples' is logged as 'metric/samples'" in capsys.readouterr().err


def test_a_renamed_metric_never_takes_another_metrics_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = MetricNames("x", lambda n: "mine" if n == "step" else None)
    first = names.rename({"step": 1.0, "metric/step": 2.0})
    assert first == {"metric/step_2": 1.0, "metric/step": 2.0}  # the own name wins
    assert names("step") == "metric/step_2"  # the same name every time
    assert names.rename({"metric/step_2": 3.0}) == {"metric/step_2_2": 3.0}
    assert capsys.readouterr().err.count("is logged as") == 2


@pytest.mark.slow
def test_wandb_keeps_its_step_column_and_own_columns(
    workdir: Path,
    wandb_home: Path,  # noqa: F811
    no_network: list[Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """W&B plots every metric against ganhub's `step` column (a metric `step` moved its points)
    and overwrites `_step`/`_runtime` with its own (the metric's values were lost)."""
    pytest.importorskip("wandb")
    from ganhub.loggers.trackers import WandbLogger

    logger = WandbLogger(workdir, resolve([*TINY_TOY, "loggers=[wandb]"]))
    own = {"step": 9.0, "_step": 8.0, "_runtime": 7.0, "_timestamp": 6.0, "samples": 5.0}
    for step in (2, 4):
        logger.log(step, {**own, "loss/D": 0.5})
    logger.log_artifacts(4, [_png(workdir / "samples" / "step_0000004.png")])
    logger.close()
    (offline,) = (workdir / "wandb").glob("offline-run-*")
    rows = [r["history"]["item"] for r in _wandb_records(offline) if r.get("type") == "history"]
    metrics = [row for row in rows if "loss/D" in row]
    assert [row["step"] for row in metrics] == [2, 4]
    for row in metrics:
        assert {k: row[f"metric/{k}"] for k in own} == own
    assert [row["step"] for row in rows if row.get("samples._type") == "image-file"] == [4]
    err = capsys.readouterr().err
    assert err.count("is logged as") == len(own)
    assert "logger 'wandb': metric '_runtime' is logged as 'metric/_runtime'" in err
    assert no_network == []


def test_mlflow_never_logs_a_renamed_metric_over_another(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`acc (top-1)` became `acc _top-1_`, the name of another metric: their values mixed."""
    pytest.importorskip("mlflow")
    from ganhub.loggers.trackers import MLFLOW_RUN_FILE, MLflowLogger

    logger = MLflowLogger(workdir, resolve([*TINY_TOY, "loggers=[mlflow]"]))
    for step in (2, 4):
        logger.log(step, {"eval/acc (top-1)": 0.25, "eval/acc _top-1_": 0.75})
    logger.close()
    client = _mlflow(workdir)
    run = client.get_run(json.loads((workdir / MLFLOW_RUN_FILE).read_text())["run_id"])
    assert run.data.metrics == {"eval/acc _top-1_": 0.75, "eval/acc _top-1__2": 0.25}
    history = client.get_metric_history(run.info.run_id, "eval/acc _top-1_")
    assert [(m.step, m.value) for m in history] == [(2, 0.75), (4, 0.75)]
    assert "metric 'eval/acc (top-1)' is logged as 'eval/acc _top-1__2'" in capsys.readouterr().err
