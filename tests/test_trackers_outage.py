"""The MLflow logger when its tracker fails during training: a tracking server that goes away
or stops answering, a store that breaks. Training goes on, one line names the root cause, the
queue is dropped rather than retried call by call, and close waits a bounded time."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from ganhub.config.resolve import resolve
from ganhub.loggers.trackers import common

from .conftest import TINY_TOY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.*")


@contextlib.contextmanager
def mlflow_stub(artifacts: Path) -> Iterator[SimpleNamespace]:
    """The few MLflow REST calls a run makes, on 127.0.0.1 (artifacts go to a local folder).
    `stub.requests` records (method, path, body, headers); `stub.delay` slows every answer;
    `stub.hang` (an Event) holds every answer until it is set."""
    stub = SimpleNamespace(requests=[], delay=0.0, hang=None, url="")
    experiments: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, Any]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, body: dict[str, Any], code: int = 200) -> None:
            if stub.hang is not None:
                stub.hang.wait(30)
            time.sleep(stub.delay)
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> dict[str, Any]:
            size = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(size) if size else b""
            stub.requests.append((self.command, self.path, raw.decode(), dict(self.headers)))
            return json.loads(raw or b"{}")

        def do_GET(self) -> None:
            self._record()
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}
            if url.path.endswith("experiments/get-by-name"):
                found = experiments.get(query["experiment_name"])
                return self._answer(
                    {"experiment": found} if found else missing, 200 if found else 404
                )
            if url.path.endswith("runs/get"):
                run = runs.get(query["run_id"])
                return self._answer({"run": run} if run else missing, 200 if run else 404)
            return self._answer({})

        def do_POST(self) -> None:
            body, path = self._record(), urlparse(self.path).path
            if path.endswith("experiments/create"):
                experiment = {
                    "experiment_id": str(len(experiments) + 1),
                    "name": body["name"],
                    "artifact_location": str(artifacts),
                    "lifecycle_stage": "active",
                }
                experiments[body["name"]] = experiment
                return self._answer({"experiment_id": experiment["experiment_id"]})
            if path.endswith("runs/create"):
                run_id = f"{len(runs) + 1:032x}"
                info = {
                    "run_id": run_id,
                    "run_uuid": run_id,
                    "status": "RUNNING",
                    "experiment_id": body["experiment_id"],
                    "lifecycle_stage": "active",
                    "artifact_uri": str(artifacts / run_id),
                    "run_name": body.get("run_name"),
                }
                runs[run_id] = {"info": info, "data": {"params": [], "tags": []}}
                return self._answer({"run": runs[run_id]})
            return self._answer({})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield stub
    finally:
        if stub.hang is not None:
            stub.hang.set()
        server.shutdown()
        server.server_close()


def logged_steps(stub: SimpleNamespace) -> list[int]:
    """The steps of the metric batches the stub received."""
    bodies = [json.loads(body) for _, path, body, _ in stub.requests if path.endswith("log-batch")]
    return [b["metrics"][0]["step"] for b in bodies if b.get("metrics")]


def _logger(run_dir: Path, uri: str, *items: str) -> Any:
    from ganhub.loggers.trackers import MLflowLogger

    run_dir.mkdir(parents=True, exist_ok=True)
    config = resolve([*TINY_TOY, "loggers=[mlflow]", f"logger.mlflow.tracking_uri={uri}", *items])
    return MLflowLogger(run_dir, config)


def test_after_a_failure_the_queue_is_dropped_and_counted_not_retried(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A failed call costs one warning naming the root cause of the error; what is queued
    behind it is not tried call by call (each would retry for minutes against a gone server)."""
    tried: list[int] = []

    def broken() -> None:
        try:
            raise OSError("attempt to write a readonly database")
        except OSError as exc:
            raise RuntimeError("(raised as a result of Query-invoked autoflush; ...)") from exc

    worker = common._Worker("tracker")
    worker.submit(broken, "the metrics of step 10")
    for step in range(20, 70, 10):
        worker.submit(lambda step=step: tried.append(step), f"the metrics of step {step}")
    worker.close()
    assert tried == []
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "ganhub: warning: logger 'tracker' could not log the metrics of step 10 (OSError: "
        "attempt to write a readonly database); training goes on, and what it logs in the next "
        "60 s is dropped",
        "ganhub: warning: logger 'tracker': 6 of 6 records were not sent (the first failure is "
        "above)",
    ]


def test_close_gives_a_large_upload_time_while_its_server_takes_connections(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint on a slow link is one long record: close waits a second per megabyte
    for it while the server still takes connections, and not once it refuses them."""
    monkeypatch.setattr(common, "CLOSE_WAIT_S", 0.5, raising=False)
    monkeypatch.setattr(common, "UPLOAD_BYTES_PER_S", 1_000_000, raising=False)
    done: list[str] = []
    upload = 2_000_000  # bytes: 0.5 s + 2 s of allowance for a 1.2 s upload
    worker = common._Worker("tracker", reachable=lambda: True)
    worker.submit(lambda: (time.sleep(1.2), done.append("sent")), "checkpoint step_40", upload)
    worker.close()
    assert done == ["sent"] and capsys.readouterr().err == ""

    worker = common._Worker("tracker", reachable=lambda: False)
    worker.submit(lambda: time.sleep(1.2), "checkpoint step_40", upload)
    started = time.monotonic()
    worker.close()
    assert time.monotonic() - started < 1.0
    assert "1 of 1 records were not sent" in capsys.readouterr().err


@pytest.mark.usefixtures("workdir")
def test_a_silent_server_holds_close_for_a_bounded_time(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that stops answering mid-run: training never waited for it, and close gives
    up once nothing has gone out for CLOSE_WAIT_S seconds, saying how much was not sent."""
    pytest.importorskip("mlflow")
    monkeypatch.setattr(common, "CLOSE_WAIT_S", 1.0, raising=False)
    with mlflow_stub(tmp_path / "artifacts") as stub:
        logger = _logger(tmp_path / "run", stub.url)
        stub.hang = threading.Event()  # from here on every answer waits
        release = threading.Timer(8, stub.hang.set)  # without a bound, close would wait this
        release.start()
        try:
            started = time.monotonic()
            for step in (10, 20, 30):
                logger.log(step, {"loss/D": 0.5})
            assert time.monotonic() - started < 0.5  # the loop only enqueues
            logger.close()
            waited = time.monotonic() - started
        finally:
            release.cancel()
    assert waited < 5, f"close waited {waited:.1f} s"
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "ganhub: warning: logger 'mlflow': 4 of 4 records were not sent (no answer for 1 s "
        "when the run ended)"
    ]


@pytest.mark.usefixtures("workdir")
def test_a_slow_server_still_gets_every_record_at_close(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound is on silence, not on the whole queue: a server that answers slowly but
    steadily gets everything, however long the queue takes."""
    pytest.importorskip("mlflow")
    monkeypatch.setattr(common, "CLOSE_WAIT_S", 1.0, raising=False)
    with mlflow_stub(tmp_path / "artifacts") as stub:
        logger = _logger(tmp_path / "run", stub.url)
        stub.delay = 0.25  # 7 records: longer than CLOSE_WAIT_S in all, each well within it
        steps = list(range(10, 70, 10))
        for step in steps:
            logger.log(step, {"loss/D": 0.5})
        logger.close()
        assert logged_steps(stub) == steps
        ended = [json.loads(b) for _, p, b, _ in stub.requests if p.endswith("runs/update")]
    assert [e["status"] for e in ended] == ["FINISHED"]
    assert "warning" not in capfd.readouterr().err


@pytest.mark.usefixtures("workdir")
def test_a_broken_store_is_one_line_naming_the_root_cause(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The store breaks mid-run (its file replaced): no MLflow traceback on the console, one
    warning with SQLite's own reason, MLflow's records in <run>/mlflow.log."""
    pytest.importorskip("mlflow")
    from ganhub.loggers.trackers import MLflowLogger

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    handlers = logging.getLogger("mlflow").handlers[:]
    logger = MLflowLogger(run_dir, resolve([*TINY_TOY, "loggers=[mlflow]"]))
    shutil.move(run_dir / "mlflow.db", tmp_path / "moved.db")
    (run_dir / "mlflow.db").write_text("garbage")
    for step in (10, 20, 30):
        logger.log(step, {"loss/D": 0.5})
    logger.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ERROR" not in err
    warning, count = err.splitlines()
    assert "could not log the metrics of step 10" in warning
    assert "attempt to write a readonly database" in warning and "autoflush" not in warning
    assert count.startswith("ganhub: warning: logger 'mlflow': 4 of 4 records were not sent")
    assert count.endswith(f"MLflow's own messages are in {run_dir / 'mlflow.log'}")
    assert "Traceback" in (run_dir / "mlflow.log").read_text()
    assert logging.getLogger("mlflow").handlers == handlers  # given back at close
