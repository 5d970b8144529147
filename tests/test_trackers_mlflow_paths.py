"""A relative SQLite tracking URI names a file relative to the folder it was typed in: the saved
config keeps its absolute path, and a resume that logs to another store says so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import ganhub

from .conftest import TINY_TOY

pytest.importorskip("mlflow")


def test_a_relative_sqlite_store_is_saved_by_its_absolute_path(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config.yaml kept `sqlite:///shared.db`, the resume advice repeated it, and typing it from
    another folder made a new store and a new MLflow run without a word."""
    (workdir / "here").mkdir()
    os.chdir(workdir / "here")
    keys = [*TINY_TOY, "loggers=[mlflow]", "logger.mlflow.tracking_uri=sqlite:///shared.db"]
    run = Path(ganhub.train([*keys, "name=m", f"out_dir={workdir / 'runs'}"])["run_dir"])
    saved = yaml.safe_load((run / "config.yaml").read_text())["logger"]["mlflow"]
    assert saved["tracking_uri"] == f"sqlite:///{workdir / 'here' / 'shared.db'}"
    first = json.loads((run / "mlflow_run.json").read_text())["run_id"]
    os.chdir(workdir)  # elsewhere: the saved, absolute spelling continues the MLflow run
    capsys.readouterr()
    ganhub.train(
        [f"resume={run}", "trainer.steps=6", f"logger.mlflow.tracking_uri={saved['tracking_uri']}"]
    )
    assert "starting a new MLflow run" not in capsys.readouterr().err
    assert json.loads((run / "mlflow_run.json").read_text())["run_id"] == first
    # the same text as first typed names ./shared.db here, another file: said out loud
    ganhub.train(
        [f"resume={run}", "trainer.steps=8", "logger.mlflow.tracking_uri=sqlite:///shared.db"]
    )
    err = capsys.readouterr().err
    assert f"this run's MLflow run {first} is in sqlite:///{workdir / 'here' / 'shared.db'}" in err
    assert "starting a new MLflow run there" in err
