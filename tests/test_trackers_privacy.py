"""What the MLflow logger shows and keeps: no credentials from a tracking URI anywhere (saved
config, params, run record, printed lines), none of MLflow's own "View run" lines, and the
same store recognised however its URI is spelled."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

import ganhub
from ganhub.config.overrides import dump_yaml
from ganhub.config.resolve import resolve
from ganhub.loggers.trackers import MLFLOW_RUN_FILE, MLflowLogger

from .conftest import TINY_TOY
from .test_trackers_outage import logged_steps, mlflow_stub

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.*")


def test_a_saved_config_holds_no_credentials() -> None:
    """config.yaml (written from model_dump) and every dump: the URI without its password.
    A resume takes a tracking URI from config.yaml only when it is given again anyway."""
    uri = "http://alice:s3cret@mlflow.example.com:5000/x"
    config = resolve([*TINY_TOY, "loggers=[mlflow]", f"logger.mlflow.tracking_uri={uri}"])
    assert config.logger.mlflow.tracking_uri == uri  # type: ignore[attr-defined]  # the run's
    for dump in (config.model_dump(), config.model_dump(mode="json")):
        assert dump["logger"]["mlflow"]["tracking_uri"] == "http://mlflow.example.com:5000/x"
    assert "s3cret" not in dump_yaml(config.model_dump(mode="json"))


def test_messages_quote_urls_without_their_user_part() -> None:
    from ganhub.loggers.trackers.common import _first_line

    error = RuntimeError("API request to http://alice:s3cret@h:5000/api failed")
    assert _first_line(error) == "RuntimeError: API request to http://h:5000/api failed"


def test_a_resume_of_a_config_saved_with_a_password_does_not_print_it() -> None:
    """A config.yaml saved before passwords were stripped: the refusal quoted the URI whole."""
    from ganhub.config.enabled import refuse_saved_destinations
    from ganhub.errors import ConfigError

    saved = {"logger": {"mlflow": {"tracking_uri": "https://alice:s3cret@ml.example.com/x"}}}
    with pytest.raises(ConfigError) as info:
        refuse_saved_destinations(saved, {}, {"mlflow": MLflowLogger}, "runs/r/config.yaml")
    assert "s3cret" not in str(info.value) and "https://ml.example.com/x" in str(info.value)


@pytest.mark.parametrize("progress", [False, True])
def test_a_server_run_shows_and_sends_no_password(
    progress: bool, workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The password reaches the server as the request's credentials only: not in the params,
    the run directory or any printed line; MLflow's own "View run" lines never print, and a
    run with progress prints ganhub's one line saying where the run went."""
    pytest.importorskip("mlflow")
    with mlflow_stub(workdir / "artifacts") as stub:
        uri = stub.url.replace("http://", "http://alice:s3cret@")
        summary = ganhub.train([*TINY_TOY, "loggers=[jsonl,mlflow]", "name=private",
                                f"logger.mlflow.tracking_uri={uri}",
                                f"trainer.progress={str(progress).lower()}"])  # fmt: skip
        requests = stub.requests
        assert sorted(set(logged_steps(stub))) == [2, 4]
    run_dir = Path(summary["run_dir"])
    out, err = capfd.readouterr()
    sent = "".join(body for _, _, body, _ in requests)
    assert "s3cret" not in sent and f'"value": "{stub.url}"' in sent  # the param, public
    auth = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert all(headers.get("Authorization") == auth for *_, headers in requests)
    for path in run_dir.rglob("*"):
        assert not path.is_file() or b"s3cret" not in path.read_bytes(), path
    assert "s3cret" not in out + err and "View run" not in out + err
    shown = [line for line in out.splitlines() if "MLflow run at" in line]
    run_id = json.loads((run_dir / MLFLOW_RUN_FILE).read_text())["run_id"]
    expected = f"ganhub: MLflow run at {stub.url}/#/experiments/1/runs/{run_id}"
    assert shown == ([expected] if progress else [])


@pytest.mark.slow
def test_a_store_spelled_another_way_continues_the_same_run(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sqlite:///runs/mlflow.db` from the parent folder and `sqlite:///mlflow.db` from runs/
    are one store: a resume from either continues the run mlflow_run.json names."""
    pytest.importorskip("mlflow")
    run_dir = workdir / "runs" / "r1"
    run_dir.mkdir(parents=True)

    def logger(uri: str) -> MLflowLogger:
        config = resolve([*TINY_TOY, "loggers=[mlflow]", f"logger.mlflow.tracking_uri={uri}"])
        started = MLflowLogger(run_dir, config)
        started.close()
        return started

    first = logger("sqlite:///runs/mlflow.db")
    monkeypatch.chdir(workdir / "runs")
    assert logger("sqlite:///mlflow.db").run_id == first.run_id
    assert logger(f"sqlite:///{workdir / 'runs' / 'mlflow.db'}").run_id == first.run_id
    assert logger(f"sqlite:///{workdir / 'other.db'}").run_id != first.run_id
    # a server by scheme, host, port and path, whatever the case, default port or user part
    from ganhub.loggers.trackers.mlflow_logger import _store

    assert _store("HTTP://Alice:pw@MLflow.Example.com:80/") == "http://mlflow.example.com:80"
    assert _store("http://mlflow.example.com") == "http://mlflow.example.com:80"
    assert _store("https://h/x") != _store("http://h/x")
    assert os.path.isabs(_store("sqlite:///x.db").removeprefix("sqlite:///"))
