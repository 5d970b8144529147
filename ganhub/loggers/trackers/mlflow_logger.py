"""The MLflow logger (`loggers=[mlflow]`): a SQLite store inside the run directory by default."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pydantic import Field, field_serializer, field_validator

from ganhub.closed_output import say
from ganhub.config.schema import Section
from ganhub.errors import UsageError, one_line
from ganhub.loggers import Logger
from ganhub.loggers.names import MetricNames

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig

from ganhub.loggers.trackers.common import (
    INSTALL,
    _cause,
    _environ,
    _importable,
    _LogFile,
    _newest_checkpoint,
    _plain_text,
    _read_id_file,
    _status,
    _unreachable,
    _warn,
    _Worker,
    _write_id_file,
)

MLFLOW_RUN_FILE = "mlflow_run.json"
MLFLOW_LOG_FILE = "mlflow.log"  # MLflow's own warnings and errors while the run lasts
# The loggers MLflow gives a console handler when it is imported
_MLFLOW_LOGGERS = ("mlflow", "sqlalchemy.engine", "alembic", "huey")
_MLFLOW_RUN_ID = re.compile(r"^[0-9a-f]{32}$")  # MLflow run ids are uuid4 hex
# MLflow's limits: 100 params per batch and 6000 characters per param value (MLflow >= 2.7)
_PARAMS_PER_BATCH = 100
_PARAM_CHARS = 6000
# and its metric names: letters, digits, _ - . space : /, a path that normalises to itself,
# at most 250 characters; at most 1000 metrics per batch
_METRIC_REFUSED = re.compile(r"[^\w.\- :/]")
_METRIC_CHARS = 250
_METRICS_PER_BATCH = 1000
# The schemes MLflow serves through SQLAlchemy (and migrates with alembic)
_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
_SCHEMES = ("http", "https", "databricks", *_DATABASES)  # the stores MLflow opens for ganhub


def _param_text(value: Any) -> str:
    """A config value as `key=value` takes it (true, null, [a,b])."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif value is None:
        text = "null"
    elif isinstance(value, list | tuple):
        text = "[" + ",".join(_param_text(v) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= _PARAM_CHARS else text[: _PARAM_CHARS - 3] + "..."


def _metric_name(name: str) -> str:
    """A metric name MLflow takes (it refuses a whole batch for one name it does not): other
    characters become _, empty, . and .. path parts go, and it is cut to 250 characters."""
    text = _METRIC_REFUSED.sub("_", name)[:_METRIC_CHARS]
    return "/".join(p for p in text.split("/") if p not in ("", ".", "..")) or "_"


def _flatten(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        elif not isinstance(value, dict):
            yield f"{prefix}{key}", _param_text(value)


class MLflowOptions(Section):
    """Options of the mlflow logger (`logger.mlflow.KEY=VALUE`)."""

    tracking_uri: str | None = Field(
        None,
        max_length=2000,
        description="tracking server (http://HOST:5000) or database (sqlite:///PATH); default: "
        "$MLFLOW_TRACKING_URI, else sqlite:///<run>/mlflow.db inside the run directory",
    )
    experiment: str | None = Field(
        None, max_length=500, description="experiment name (default: the plugin name)"
    )
    log_checkpoint: bool = Field(
        True, description="upload the newest checkpoint as an artifact when the run ends"
    )

    @field_validator("tracking_uri", "experiment")
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        return _plain_text(v, what="text")

    @field_validator("tracking_uri")
    @classmethod
    def _a_store_mlflow_opens(cls, v: str | None) -> str | None:
        # anything else reached MLflow, whose error spoke of file stores or model registries
        if v is not None and urlparse(v).scheme.split("+")[0] not in _SCHEMES:
            raise ValueError(
                "give a tracking server (http://HOST:5000, https://..., databricks) or a "
                "database (sqlite:///PATH, postgresql://..., mysql://..., mssql://...)"
            )
        return v

    @field_validator("tracking_uri")
    @classmethod
    def _sqlite_by_absolute_path(cls, v: str | None) -> str | None:
        # config.yaml keeps the database where it was typed: a resume from another folder
        # (or the one-line advice it gets) must name the same file, not one beside it
        if v is None or urlparse(v).scheme.lower().split("+")[0] != "sqlite" or "///" not in v:
            return v
        head, rest = v.split("///", 1)
        database, sep, query = rest.partition("?")
        if not database or database == ":memory:" or database.startswith("file:"):
            return v
        return f"{head}///{Path(database).absolute()}{sep}{query}"

    @field_serializer("tracking_uri")
    def _without_credentials(self, v: str | None) -> str | None:
        # What is saved (config.yaml) and logged (MLflow params) never holds a password: a
        # resume takes a tracking URI from config.yaml only when it is given again anyway
        # (`destination_keys`), and MLFLOW_TRACKING_USERNAME/PASSWORD keep it out of URIs
        return None if v is None else _public(v)


# -- MLflow ------------------------------------------------------------------------------------


def _mlflow_uri(options: MLflowOptions) -> str | None:
    """The tracking URI the user chose (option, then MLflow's own variable); None: the run's."""
    return options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or None


def _store_errors() -> tuple[type[Exception], ...]:
    """What a tracking store raises for problems of the store itself, not of ganhub."""
    from mlflow.exceptions import MlflowException

    errors: list[type[Exception]] = [MlflowException, OSError]
    if _importable("sqlalchemy"):
        from sqlalchemy.exc import SQLAlchemyError

        errors.append(SQLAlchemyError)
    return tuple(errors)


def _public(uri: str) -> str:
    """A URI without the user name and password it may carry: it is shown in messages and
    written into the run directory, which travels between people."""
    parsed = urlparse(uri)
    if "@" not in parsed.netloc:
        return uri
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()


def _store(uri: str) -> str:
    """The store a tracking URI names, spelled one way, without credentials: a SQLite file by
    its absolute path (`sqlite:///runs/mlflow.db` from the parent folder is `sqlite:///mlflow.db`
    from runs/), a server by its scheme, host, port and path."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower().split("+")[0]
    if not scheme:  # `databricks` (MLFLOW_TRACKING_URI is not validated): the text is all
        return uri
    if scheme == "sqlite" and "///" in uri:
        database = uri.split("///", 1)[1].split("?", 1)[0]
        if database and database != ":memory:" and not database.startswith("file:"):
            return f"sqlite:///{Path(database).resolve()}"
    try:
        port = parsed.port
    except ValueError:  # a port that is no number: the text is all there is
        return _public(uri)
    host = (parsed.hostname or "").lower()
    port = port or {"http": 80, "https": 443}.get(scheme)
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{parsed.path.rstrip('/')}"


def _same_store(recorded: str, uri: str) -> bool:
    """Whether the store a run record names (untrusted text) is the one `uri` names."""
    try:
        return _store(recorded) == _store(uri)
    except (ValueError, OSError, RuntimeError):  # not a URI (a bad IPv6 host, a NUL, a loop)
        return False


def _store_lock(uri: str) -> contextlib.AbstractContextManager[None]:
    """Hold a SQLite store while opening it (`.mlflow.db.lock` beside `mlflow.db`); other
    stores are made and migrated by their server, not by each run."""
    from ganhub.metrics.store import building

    store = _store(uri)
    database = Path(store.split("///", 1)[1]) if store.startswith("sqlite:///") else None
    if database is None or not database.is_absolute() or not database.parent.is_dir():
        return contextlib.nullcontext()  # `:memory:`, a `file:` URI; no folder: MLflow says
    return building(database)


def _size(path: Path) -> int:
    """The bytes an upload of `path` (a file or a folder) sends, 0 when unknown."""
    try:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        return sum(f.stat().st_size for f in files)
    except OSError:
        return 0


def _is_database(uri: str) -> bool:
    return urlparse(uri).scheme.split("+")[0] in _DATABASES


def _inside(uri: str, root: Path) -> bool:
    """Whether an artifact location (a file URI or a path) lies inside `root`."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file") or parsed.netloc not in ("", "localhost"):
        return False
    path = Path(unquote(parsed.path) if parsed.scheme else uri)
    return path.resolve().is_relative_to(root.resolve())


class MLflowLogger(Logger):
    """MLflow tracking: params, metrics, samples and the final checkpoint (pip install "ganhub[trackers]")."""

    name = "mlflow"
    Config = MLflowOptions
    destination_keys = ("tracking_uri",)

    @classmethod
    def problems(cls, options: Any, config: RunConfig) -> list[str]:
        """A missing mlflow package, or the SQLAlchemy a database store needs."""
        if not _importable("mlflow"):
            return [f"logger 'mlflow' needs the mlflow package: {INSTALL}"]
        uri = _mlflow_uri(options)
        if uri is None or _is_database(uri):
            missing = [m for m in ("sqlalchemy", "alembic") if not _importable(m)]
            if missing:
                where = uri or "sqlite:///<run>/mlflow.db"
                return [
                    f"logger 'mlflow' keeps its runs in a database ({where}), which needs "
                    f"{' and '.join(missing)}: pip install {' '.join(missing)}, or point "
                    "logger.mlflow.tracking_uri at a tracking server"
                ]
        return []

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        super().__init__(run_dir, config)
        problems = self.problems(self.options, config)
        if problems:  # a RunConfig built without resolving it: same message, same moment
            raise UsageError(problems[0])
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        self._metric, self._param = Metric, Param
        self.error: BaseException | None = None
        self.closed = False
        # metric name -> the name MLflow takes, said once when it is not the metric's own
        self.names = MetricNames(
            "mlflow",
            lambda name: None,
            _metric_name,
            "MLflow's metric names take letters, digits, spaces and _ - . : /",
        )
        chosen = _mlflow_uri(self.options)
        # The run's own store is SQLite, not MLflow's ./mlruns file store: current MLflow
        # refuses new file stores (they are in maintenance mode), and a single file keeps
        # the run directory self-contained. Artifacts go next to it, in <run>/mlartifacts.
        self.own_store = chosen is None
        self.uri = chosen or f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
        self.shown = _public(self.uri)
        experiment = self.options.experiment or config.plugin
        if (reason := _unreachable(self.uri)) is not None:
            raise UsageError(
                f"logger 'mlflow' ({self.shown}): cannot reach the tracking server ({reason}); "
                "start it, or fix logger.mlflow.tracking_uri (or MLFLOW_TRACKING_URI)"
            )
        # MLflow's log records stay off the console until close (INFO about creating its
        # tables, a traceback per failed call): its warnings and errors go to <run>/mlflow.log
        self.log_file = _LogFile(run_dir / MLFLOW_LOG_FILE, _MLFLOW_LOGGERS)
        try:
            # MLflow creates a new database's tables as it opens it: two runs opening one
            # new store at once (two terminals, tune's workers) would both create them,
            # fail, and leave the store half made, unless one waits (a run's own: no other)
            with contextlib.nullcontext() if self.own_store else _store_lock(self.uri):
                self.client = MlflowClient(tracking_uri=self.uri)
                experiment_id = self._experiment(experiment)
            self.run_id, resumed = self._start_run(experiment_id)
            self._log_config(resumed)
        except _store_errors() as exc:  # a bad URI, an unreachable server, a locked database
            self.log_file.close()
            raise UsageError(f"logger 'mlflow' ({self.shown}): {_cause(exc)}") from None
        except BaseException:
            self.log_file.close()
            raise
        if config.trainer.progress and urlparse(self.uri).scheme in ("http", "https"):
            # MLflow's own "View run" lines are off (they would show a password in the URI)
            url = f"{self.shown.rstrip('/')}/#/experiments/{experiment_id}/runs/{self.run_id}"
            say(f"ganhub: MLflow run at {url}", err=False)
        # at close, a server that still takes connections gets time to receive a large file
        remote = urlparse(self.uri).scheme in ("http", "https")
        self.worker = _Worker("mlflow", self._reachable if remote else None)

    def _reachable(self) -> bool:
        return _unreachable(self.uri, timeout=2.0) is None

    def _experiment(self, name: str) -> str:
        """The id of experiment `name`, created (its artifacts in the run) when new."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                location = self._artifact_location()
                return str(self.client.create_experiment(name, artifact_location=location))
            except MlflowException:  # another run created it meanwhile (a shared server)
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage != "active":
            raise UsageError(
                f"logger 'mlflow': experiment '{name}' is deleted in {self.shown}; restore it "
                "(mlflow experiments restore) or choose another with logger.mlflow.experiment=NAME"
            )
        # The run's own database is input like any file in the run directory: its artifact
        # location must be this run's folder, not wherever an edited (or moved) copy points.
        if self.own_store and not _inside(found.artifact_location, self.run_dir):
            raise UsageError(
                f"logger 'mlflow': {self.run_dir / 'mlflow.db'} stores artifacts outside this run "
                f"directory ({one_line(found.artifact_location, 200)}; was the run moved?); rename "
                "mlflow.db to start a new MLflow store there, or set logger.mlflow.tracking_uri"
            )
        return str(found.experiment_id)

    def _artifact_location(self) -> str | None:
        """Where a new experiment keeps artifacts: next to a local SQLite database
        (`mlartifacts/`, as `mlflow server` does), else where the tracking server says."""
        if self.own_store:
            return (self.run_dir / "mlartifacts").resolve().as_uri()
        if urlparse(self.uri).scheme == "sqlite" and "///" in self.uri:
            database = self.uri.split("///", 1)[1].split("?", 1)[0]
            if database and database != ":memory:":
                return (Path(database).parent / "mlartifacts").resolve().as_uri()
        return None

    def _start_run(self, experiment_id: str) -> tuple[str, bool]:
        """(run id, resumed): the run recorded in the run directory if it is still there and
        still this experiment's, else a new run named after the run directory."""
        previous = self._previous_run(experiment_id)
        if previous is not None:
            self.client.update_run(previous, status="RUNNING")
            return previous, True
        run = self.client.create_run(
            experiment_id,
            run_name=self.run_dir.name,
            tags={
                "ganhub.plugin": self.config.plugin,
                "ganhub.run_dir": str(self.run_dir.resolve()),
            },
        )
        # the store by its absolute path (or server address): a resume from another folder
        # spells a relative sqlite:/// URI differently
        record = {
            "run_id": run.info.run_id,
            "tracking_uri": None if self.own_store else _store(self.uri),
        }
        _write_id_file(self.run_dir / MLFLOW_RUN_FILE, record)
        return run.info.run_id, False

    def _previous_run(self, experiment_id: str) -> str | None:
        from mlflow.exceptions import MlflowException

        path = self.run_dir / MLFLOW_RUN_FILE
        record = _read_id_file(path)
        if record is None:
            return None
        run_id = record.get("run_id")
        if not isinstance(run_id, str) or not _MLFLOW_RUN_ID.match(run_id):
            _warn(f"{path} holds no valid MLflow run id; starting a new MLflow run")
            return None
        recorded = record.get("tracking_uri")
        if recorded is None:  # the run's own store, wherever the run directory is now
            recorded = f"sqlite:///{(self.run_dir / 'mlflow.db').resolve()}"
        if not isinstance(recorded, str) or not _same_store(recorded, self.uri):
            # recorded in another store: this one starts its own run, said out loud (a
            # relative sqlite:/// URI typed in another folder names another file)
            earlier = one_line(_public(recorded), 200) if isinstance(recorded, str) else "?"
            _warn(
                f"this run's MLflow run {run_id} is in {earlier}, not in {self.shown}; "
                f"starting a new MLflow run there (give logger.mlflow.tracking_uri={earlier} "
                "to continue the earlier one)"
            )
            return None
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            _warn(f"MLflow run {run_id} ({path}) is not in {self.shown}; starting a new run")
            return None
        if run.info.experiment_id != experiment_id or run.info.lifecycle_stage != "active":
            return None  # another experiment was chosen, or the run was deleted
        if self.own_store and not _inside(run.info.artifact_uri, self.run_dir):
            _warn(f"MLflow run {run_id} stores artifacts outside {self.run_dir}; starting anew")
            return None
        return run_id

    def _log_config(self, resumed: bool) -> None:
        """The resolved config as params (MLflow keeps the first value of each: a resumed
        run adds new keys only) and config.yaml as an artifact (replaced on resume)."""
        data = self.config.model_dump(mode="json")
        data.pop("resume", None)
        params = dict(_flatten(data))
        if resumed:
            known = self.client.get_run(self.run_id).data.params
            params = {k: v for k, v in params.items() if k not in known}
        items = [self._param(k, v) for k, v in params.items()]
        for i in range(0, len(items), _PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + _PARAMS_PER_BATCH])
        config_file = self.run_dir / "config.yaml"
        if config_file.is_file():
            self.client.log_artifact(self.run_id, str(config_file))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Queue one batch of metrics for `step` (sent 1000 at a time, MLflow's limit)."""
        stamp = int(time.time() * 1000)
        named = self.names.rename(metrics)
        batch = [self._metric(k, float(v), stamp, step) for k, v in named.items()]

        def send() -> None:
            for i in range(0, len(batch), _METRICS_PER_BATCH):
                self.client.log_batch(self.run_id, metrics=batch[i : i + _METRICS_PER_BATCH])

        self.worker.submit(send, f"the metrics of step {step}")

    def log_artifacts(self, step: int, paths: list[Path]) -> None:
        """Queue each artifact, under its folder in the run (samples/step_0000500.png)."""
        for path in paths:
            upload = functools.partial(
                self.client.log_artifact, self.run_id, str(path), self._artifact_dir(path)
            )
            self.worker.submit(upload, f"{path.name} of step {step}", _size(path))

    def _artifact_dir(self, path: Path) -> str:
        try:
            return path.resolve().parent.relative_to(self.run_dir.resolve()).as_posix()
        except ValueError:
            return "samples"

    def on_error(self, error: BaseException) -> None:
        """Remember the error: the MLflow run ends FAILED (KILLED after Ctrl-C)."""
        self.error = error

    def close(self) -> None:
        """Log the newest checkpoint, end the MLflow run, and wait for the queue to drain."""
        if self.closed:
            return
        self.closed = True
        try:
            newest = _newest_checkpoint(self.run_dir) if self.options.log_checkpoint else None
        except OSError:  # the run directory itself may be what failed
            newest = None
        if newest is not None:
            self.worker.submit(
                lambda: self.client.log_artifacts(
                    self.run_id, str(newest), f"checkpoints/{newest.name}"
                ),
                f"checkpoint {newest.name}",
                _size(newest),
                last=True,
            )
        status = _status(self.error)
        self.worker.submit(functools.partial(self._end, status), "the end of the run", last=True)
        try:
            self.worker.close(details=self._details)
        finally:
            self.log_file.close()

    def _end(self, status: str) -> None:
        # MLflow prints "View run at URL" lines (the URL with its password) as it ends a run
        # on a server, whatever trainer.progress says: its own switch turns them off
        with _environ(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true"):
            self.client.set_terminated(self.run_id, status)

    def _details(self) -> str:
        return (
            f"; MLflow's own messages are in {self.log_file.path}"
            if self.log_file.written()
            else ""
        )
