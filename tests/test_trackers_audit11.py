"""Experiment trackers over a long run: a tracker slower than the run keeps a bounded queue
(memory stays flat however long the run), says so once, and still ends the run; two runs
open one new MLflow store together."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ganhub.loggers.trackers import common

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_a_tracker_slower_than_the_run_keeps_a_bounded_queue(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """While MAX_QUEUED records wait, what the run logs is dropped and counted (one line);
    the run's last records (checkpoint, end of the run) are never dropped."""
    gate = threading.Event()
    sent: list[str] = []
    worker = common._Worker("mlflow")
    # the first record holds the thread, as a server that answers slowly would
    worker.submit(lambda: (gate.wait(30), sent.append("first")), "the metrics of step 0")
    while worker.current is None:  # under way: what follows waits behind it
        time.sleep(0.001)
    logged = common.MAX_QUEUED * 3
    for step in range(1, logged + 1):
        worker.submit(lambda step=step: sent.append(str(step)), f"the metrics of step {step}")
        assert worker.calls.qsize() <= common.MAX_QUEUED  # never more waiting
    worker.submit(lambda: sent.append("end"), "the end of the run", last=True)
    assert worker.calls.qsize() <= common.MAX_QUEUED + 1
    gate.set()
    worker.close()
    # the records that waited are sent, in order, and the end of the run after them
    assert sent == ["first", *(str(step) for step in range(1, common.MAX_QUEUED + 1)), "end"]
    lost = logged - common.MAX_QUEUED
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"ganhub: warning: logger 'mlflow' is {common.MAX_QUEUED} records behind the run (the "
        f"tracker answers slower than the run logs): what it logs while {common.MAX_QUEUED} wait "
        "is dropped; training goes on",
        f"ganhub: warning: logger 'mlflow': {lost} of {logged + 2} records were not sent "
        f"({lost} while {common.MAX_QUEUED} waited)",
    ]
    assert lines[0] in DOCS.joinpath("trackers.md").read_text()  # the page shows it as it is


# Two processes open one new MLflow store at the same moment, as two terminals or two tune
# workers sending their runs to one `logger.mlflow.tracking_uri=sqlite:///...` do
_OPEN_STORE = """
import sys, time
from pathlib import Path
from ganhub.config.resolve import resolve
from ganhub.loggers.trackers import MLflowLogger
uri, go, run_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
config = resolve(["plugin=toy2d", "loggers=[mlflow]", f"logger.mlflow.tracking_uri={uri}"])
run_dir.mkdir()
while not go.exists():
    time.sleep(0.01)
logger = MLflowLogger(run_dir, config)
logger.log(1, {"loss/D": 1.0})
logger.close()
"""


@pytest.mark.slow  # two processes import MLflow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_two_runs_opening_one_new_mlflow_store_at_once_both_log(tmp_path: Path) -> None:
    """MLflow creates a new SQLite store's tables as it opens it; two runs doing so at once
    both failed and left the store half made, until one waited for the other."""
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    go = tmp_path / "go"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_STORE, uri, str(go), str(tmp_path / f"run{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    while not all((tmp_path / f"run{i}").is_dir() for i in range(2)):  # both imported
        assert all(run.poll() is None for run in runs), runs[0].communicate()[0]
        time.sleep(0.05)
    go.touch()
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("toy2d")
    assert experiment is not None
    found = client.search_runs([experiment.experiment_id])
    assert len(found) == 2 and {r.info.status for r in found} == {"FINISHED"}
    for run in found:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "loss/D")] == [1]
