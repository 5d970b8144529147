"""The mlflow and wandb loggers: options, missing packages, and real runs read back with the
trackers' own clients (a local MLflow store, an offline W&B run; no network, no account)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError
from ganhub.loggers import Logger
from ganhub.loggers.trackers import MLFLOW_RUN_FILE, WANDB_RUN_FILE, MLflowLogger, WandbLogger
from ganhub.plugins import get_hub

from .conftest import TINY_TOY

DOCS = Path(__file__).resolve().parents[1] / "docs"
# MLflow's SQLite store uses an SQLAlchemy loader option SQLAlchemy now deprecates
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.*")

# 40 steps: metrics every 10, a sample grid and a checkpoint every 20
RUN = [
    *[item for item in TINY_TOY if not item.startswith(("trainer.steps", "trainer.log_every"))],
    *["trainer.steps=40", "trainer.log_every=10", "trainer.sample_every=20"],
    *["trainer.checkpoint_every=20", "eval.n_samples=256"],
]


def _config(*items: str) -> Any:
    return resolve([*TINY_TOY, *items])


# -- options ------------------------------------------------------------------------------------


def test_tracker_options_are_listed_by_run_help(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("run", "plugin=toy2d", "loggers=[jsonl,mlflow,wandb]", "--help")
    assert code == 0
    for key in ("logger.mlflow.tracking_uri", "logger.mlflow.experiment", "logger.wandb.project"):
        assert key in out
    assert "logger.wandb.mode" in out and "offline|online|disabled?" in out


def test_options_of_enabled_loggers_validate_and_are_saved() -> None:
    config = _config("loggers=[jsonl,mlflow]", "logger.mlflow.experiment=gans")
    assert config.logger.mlflow.experiment == "gans"  # type: ignore[attr-defined]
    assert config.model_dump()["logger"] == {
        "mlflow": {"tracking_uri": None, "experiment": "gans", "log_checkpoint": True}
    }
    # loggers without options add nothing: a default run's config holds an empty section
    assert _config().model_dump()["logger"] == {}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["loggers=[wandb]", "logger.wandb.mode=sometimes"], "logger.wandb.mode='sometimes': "),
        (["loggers=[mlflow]", "logger.mlflow.trackin_uri=x"], "did you mean 'logger.mlflow.tracking_uri'"),
        (["loggers=[mlflow]", "logger.mlflow.tracking_uri=ftp://x"], "logger.mlflow.tracking_uri='ftp://x': give a tracking server"),
        (["loggers=[wandb]", "logger.wandb.project=a/b"], "logger.wandb.project='a/b': W&B names"),
        (["logger.wandb.mode=online"], "logger 'wandb' is not enabled (loggers=[jsonl])"),
        (["logger=[mlflow]"], "to choose loggers write loggers=[mlflow]"),
        (["loggers=[mlfow]"], "unknown logger 'mlfow' (did you mean 'mlflow'?)"),
    ],
)  # fmt: skip
def test_bad_logger_options_are_one_line_errors_naming_the_key(
    items: list[str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _config(*items)
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_a_third_party_logger_declares_options_the_same_way() -> None:
    from pydantic import Field

    from ganhub.config.schema import Section
    from ganhub.hookspecs import hookimpl
    from ganhub.plugins import Hub

    class Options(Section):
        url: str = Field("http://localhost", description="where metrics go")

    class Remote(Logger):
        name = "remote"
        Config = Options

    class Plugin:
        @hookimpl
        def register_loggers(self, register: Any) -> None:
            register("remote", Remote)

    hub = Hub.discover()
    hub.add("remote-plugin", Plugin())
    config = resolve([*TINY_TOY, "loggers=[remote]", "logger.remote.url=http://x"], hub=hub)
    assert Remote(Path("."), config).options.url == "http://x"


# -- missing packages ------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["mlflow", "wandb"])
def test_a_missing_tracker_package_fails_before_training_with_the_pip_line(
    package: str, cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, package, None)  # `import mlflow` now fails, as if absent
    code, _, err = cli("run", *TINY_TOY, f"loggers=[jsonl,{package}]")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'pip install "ganhub[trackers]"' in lines[0], err
    assert f"logger '{package}' needs the {package} package" in lines[0]
    assert not (workdir / "runs").exists()  # nothing was trained or written
    # a RunConfig made elsewhere reaches the logger itself: the same one line, no traceback
    config = resolve([*TINY_TOY, f"loggers=[{package}]"], training=False)
    logger_cls = {"mlflow": MLflowLogger, "wandb": WandbLogger}[package]
    with pytest.raises(UsageError, match=r'pip install "ganhub\[trackers\]"'):
        logger_cls(workdir, config)


def test_registering_the_trackers_imports_neither_library() -> None:
    code = (
        "import sys; from ganhub.cli import build_cli; from ganhub.plugins import get_hub;"
        "build_cli(); get_hub().loggers.get('mlflow'); get_hub().loggers.get('wandb');"
        "print(','.join(m for m in ('mlflow', 'wandb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_run_id_files_and_tracking_uris_are_untrusted_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganhub.loggers.trackers.common import _read_id_file
    from ganhub.loggers.trackers.mlflow_logger import _public

    assert _read_id_file(tmp_path / "absent.json") is None
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # opening it would block the run
    (tmp_path / "big.json").write_text(" " * 10_000 + "{}")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    for name in ("fifo.json", "big.json", "list.json", "dangling.json"):
        assert _read_id_file(tmp_path / name) is None
    assert capsys.readouterr().err.count("is not a run record") == 4
    # a URI's credentials never reach messages or the run directory
    assert (
        _public("https://me:secret@mlflow.example.com:5000/x")
        == "https://mlflow.example.com:5000/x"
    )
    assert _public("sqlite:///runs/mlflow.db") == "sqlite:///runs/mlflow.db"


def test_a_failed_run_is_reported_to_its_loggers() -> None:
    from types import SimpleNamespace

    from ganhub.loggers import builtin

    class Recorder(Logger):
        seen: list[BaseException] = []  # noqa: RUF012

        def on_error(self, error: BaseException) -> None:
            self.seen.append(error)

    error = RuntimeError("boom")
    run = SimpleNamespace(loggers=[Recorder(Path("."), _config())])
    builtin.on_train_error(run=run, error=error)  # type: ignore[arg-type]
    assert Recorder.seen == [error]


def _blocks(name: str, language: str) -> list[str]:
    """The fenced code blocks of one language in a docs page."""
    parts = (DOCS / name).read_text().split("```" + language + "\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


@pytest.mark.slow  # imports both trackers' command lines
def test_the_tracker_page_commands_exist_as_written() -> None:
    """Every shell line of docs/trackers.md: ganhub lines resolve, and each mlflow and wandb
    sub-command exists and takes the options the page gives it (their own --help says so)."""
    import shlex

    from click.testing import CliRunner

    lines = [line.split("  #")[0] for block in _blocks("trackers.md", "bash")
             for line in block.splitlines() if line.strip()]  # fmt: skip
    tools = {}
    for line in lines:
        words = shlex.split(line)
        while "=" in words[0]:  # VAR=value in front of a command
            words.pop(0)
        tool, args = words[0], words[1:]
        if tool == "ganhub":
            assert args[0] == "run"
            resolve(args[1:])
        elif tool in ("mlflow", "wandb"):
            if tool not in tools:
                from mlflow.cli import cli as mlflow_cli
                from wandb.cli.cli import cli as wandb_cli

                tools = {"mlflow": mlflow_cli, "wandb": wandb_cli}
            sub = [w for w in args[:1] if w.isalpha()]
            out = CliRunner().invoke(tools[tool], [*sub, "--help"])
            assert out.exit_code == 0, f"{line}: {out.output}"
            for option in (w for w in args if w.startswith("--")):
                assert option in out.output, f"{line}: {tool} {sub[0]} has no {option}"
        else:
            assert (tool, args[0]) in {("pip", "install"), ("tensorboard", "--logdir")}, line


def test_every_tracker_is_documented() -> None:
    text = (DOCS / "trackers.md").read_text()
    config_page = (DOCS / "config.md").read_text()
    for entry in get_hub().loggers:
        assert f"`{entry.name}`" in config_page, f"docs/config.md does not name logger {entry.name}"
    for key in ("tracking_uri", "experiment", "project", "mode", "log_checkpoint"):
        assert f".{key}" in text, f"docs/trackers.md does not describe {key}"


# -- MLflow ------------------------------------------------------------------------------------


def _mlflow(run_dir: Path) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{run_dir.resolve() / 'mlflow.db'}")


def _artifacts(client: Any, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


@pytest.mark.slow
def test_mlflow_records_params_metrics_samples_and_checkpoint_and_resumes(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = ganhub.train([*RUN, "loggers=[jsonl,mlflow]", "name=moons"])
    run_dir = Path(summary["run_dir"])
    client = _mlflow(run_dir)
    experiment = client.get_experiment_by_name("toy2d")  # default: the plugin's name
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "moons" and run.info.status == "FINISHED"
    assert json.loads((run_dir / MLFLOW_RUN_FILE).read_text())["run_id"] == run.info.run_id
    params = run.data.params
    assert params["plugin"] == "toy2d" and params["trainer.steps"] == "40"
    assert params["loggers"] == "[jsonl,mlflow]"
    history = client.get_metric_history(run.info.run_id, "loss/D")
    assert [m.step for m in history] == [10, 20, 30, 40]
    assert any(key.startswith("eval/") for key in run.data.metrics)  # the final evaluation
    artifacts = _artifacts(client, run.info.run_id)
    assert {"config.yaml", "samples/step_0000020.png", "samples/step_0000040.png"} <= artifacts
    assert "checkpoints/step_0000040/model.safetensors" in artifacts
    assert "checkpoints/step_0000040/state.json" in artifacts
    # artifacts stay inside the run directory, next to the store
    assert experiment.artifact_location == (run_dir / "mlartifacts").resolve().as_uri()
    (snippet,) = _blocks("trackers.md", "python")  # the page's example reads this store
    exec(compile(snippet, "trackers.md", "exec"), {})
    assert "(40, " in capsys.readouterr().out

    ganhub.train([f"resume={run_dir}", "trainer.steps=60"])
    (again,) = client.search_runs([experiment.experiment_id])  # the same MLflow run, continued
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/D")]
    assert steps == [10, 20, 30, 40, 50, 60]
    assert again.data.params["trainer.steps"] == "40"  # MLflow keeps a param's first value
    assert "checkpoints/step_0000060/model.safetensors" in _artifacts(client, run.info.run_id)


@pytest.mark.slow
def test_mlflow_treats_the_run_directory_as_untrusted(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config("loggers=[mlflow]", "logger.mlflow.experiment=direct")
    run_dir = workdir / "direct"
    run_dir.mkdir()
    logger = MLflowLogger(run_dir, config)
    logger.log(3, {"loss/D": 0.5})
    logger.on_error(RuntimeError("diverged"))
    logger.close()
    client = _mlflow(run_dir)
    first = client.get_run(logger.run_id)
    assert first.info.status == "FAILED" and first.data.metrics == {"loss/D": 0.5}

    # an id file that is not what ganhub wrote: a warning, then a new MLflow run
    (run_dir / MLFLOW_RUN_FILE).write_text('{"run_id": "../../somewhere"}')
    second = MLflowLogger(run_dir, config)
    second.close()
    assert second.run_id != logger.run_id
    assert "holds no valid MLflow run id" in capsys.readouterr().err
    assert json.loads((run_dir / MLFLOW_RUN_FILE).read_text())["run_id"] == second.run_id

    # a copy elsewhere (moved, or edited to point anywhere) never writes outside itself
    moved = workdir / "moved"
    shutil.copytree(run_dir, moved)
    with pytest.raises(UsageError, match="stores artifacts outside this run directory") as info:
        MLflowLogger(moved, config)
    assert "\n" not in str(info.value)


# -- Weights & Biases (offline) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def wandb_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """W&B's own folders in a scratch directory, for the whole module: W&B reads its
    variables once per process, so every test here sees the same ones."""
    home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as mp:
        # no WANDB_MODE either: offline is ganhub's own default
        for var in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_DIR", "WANDB_MODE"):
            mp.delenv(var, raising=False)
        for var, sub in [("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"),
                         ("WANDB_DATA_DIR", "data")]:  # fmt: skip
            mp.setenv(var, str(home / sub))
        mp.setenv("NETRC", str(home / "netrc"))  # no credentials anywhere
        # anything that still tried to go out would meet a closed local port
        mp.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
        mp.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        mp.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        mp.setenv("WANDB_ERROR_REPORTING", "unset")  # so the test can see the logger set it
        mp.delenv("WANDB_ERROR_REPORTING")
        yield home
        if "wandb" in sys.modules:
            sys.modules["wandb"].teardown()  # stop W&B's service process


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse (and record) every connection or name lookup beyond this machine."""
    attempts: list[Any] = []

    def local(host: Any) -> bool:
        if host in ("localhost", "", None):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            attempts.append(address)
            raise OSError(f"no network in this test: {address}")
        return real_connect(self, address)

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not local(host):
            attempts.append(host)
            raise OSError(f"no network in this test: {host}")
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return attempts


def test_wandb_mode_option_then_variable_then_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganhub.loggers.trackers.wandb_logger import WandbOptions, _wandb_mode

    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert _wandb_mode(WandbOptions()) == "offline"
    monkeypatch.setenv("WANDB_MODE", "dryrun")  # W&B's older name for offline
    assert _wandb_mode(WandbOptions()) == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert _wandb_mode(WandbOptions()) == "disabled"
    assert _wandb_mode(WandbOptions(mode="online")) == "online"


def _wandb_records(offline: Path) -> list[dict[str, Any]]:
    """The records of an offline run, read by W&B's own reader (`wandb leet inspect`)."""
    out = subprocess.run(
        ["wandb", "leet", "inspect", "--json", str(offline)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


@pytest.mark.slow
def test_wandb_offline_run_holds_config_history_images_and_checkpoint(
    workdir: Path, wandb_home: Path, no_network: list[Any], capfd: pytest.CaptureFixture[str]
) -> None:
    summary = ganhub.train([*RUN, "loggers=[jsonl,wandb]", "name=offline"])
    printed = "".join(capfd.readouterr())
    assert "wandb:" not in printed  # trainer.progress=false: W&B is silent, its artifact too
    run_dir = Path(summary["run_dir"])
    (offline,) = (run_dir / "wandb").glob("offline-run-*")  # offline: W&B's local run folder
    run_id = json.loads((run_dir / WANDB_RUN_FILE).read_text())["id"]
    assert offline.name.endswith(f"-{run_id}")
    records = _wandb_records(offline)

    def of(kind: str) -> list[dict[str, Any]]:
        return [r[kind] for r in records if r.get("type") == kind]

    (run,) = of("run")
    assert run["project"] == "toy2d" and run["display_name"] == "offline"
    assert run["run_id"] == run_id and run["telemetry"]["feature"]["offline"]
    config = run["config"]["update"]
    assert config["plugin"] == "toy2d" and config["trainer"]["steps"] == 40

    rows = [r["item"] for r in of("history")]
    assert [row["step"] for row in rows if "loss/D" in row] == [10, 20, 30, 40]
    images = [row for row in rows if row.get("samples._type") == "image-file"]
    assert [row["step"] for row in images] == [20, 40]
    assert all((offline / "files" / row["samples.path"]).is_file() for row in images)

    saved = {f["path"] for r in of("files") for f in r["files"]}
    assert "ganhub-config.yaml" in saved  # config.yaml there is W&B's own, written on sync
    copy = offline / "files" / "ganhub-config.yaml"
    assert copy.is_file() and not copy.is_symlink()  # survives the run directory moving

    (artifact,) = of("artifact")
    assert artifact["type"] == "model" and artifact["name"] == f"checkpoint-{run_id}"
    assert {"latest", "step_0000040"} <= set(artifact["aliases"])
    contents = {e["path"]: e["local_path"] for e in artifact["manifest"]["contents"]}
    assert {"model.safetensors", "state.json", "state.safetensors"} <= set(contents)
    assert all(Path(local).is_absolute() for local in contents.values())  # sync from anywhere
    assert [e["exit_code"] for e in of("exit")] == [0]

    assert no_network == []
    assert os.environ.get("WANDB_ERROR_REPORTING") == "false"  # W&B's own reports, off too
    # the command the docs give to upload it later accepts the folder (--dry-run: no upload)
    sync = subprocess.run(
        ["wandb", "sync", "--dry-run", str(offline)], capture_output=True, text=True, timeout=120
    )
    assert sync.returncode == 0 and "Would sync 1 run" in sync.stdout + sync.stderr


@pytest.mark.slow
def test_wandb_never_prompts_and_disabled_writes_nothing(
    workdir: Path, wandb_home: Path, no_network: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    online = _config("loggers=[wandb]", "logger.wandb.mode=online")
    with pytest.raises(UsageError, match="needs W&B credentials: run `wandb login`"):
        WandbLogger(workdir, online)  # no key anywhere: an error, not a prompt

    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(UsageError, match="WANDB_MODE='sometimes' is not a W&B mode"):
        WandbLogger(workdir, _config("loggers=[wandb]"))

    disabled = WandbLogger(workdir, _config("loggers=[wandb]", "logger.wandb.mode=disabled"))
    disabled.log(1, {"loss/D": 1.0})
    disabled.close()
    assert not (workdir / "wandb").exists() and not (workdir / WANDB_RUN_FILE).exists()
    assert no_network == []


def test_an_unreachable_tracking_server_is_one_line_at_once(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's client retries a refused port with backoff for about 4 minutes before it
    fails; one TCP connect says so first. A listening server passes the probe, and a host
    reached through a proxy is left to the client."""
    pytest.importorskip("mlflow")
    from ganhub.loggers.trackers.common import _unreachable

    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):  # W&B's tests set some
        for name in (var, var.lower()):
            monkeypatch.delenv(name, raising=False)

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        assert _unreachable(url) is None
    assert _unreachable("sqlite:///x.db") is None and _unreachable("file:///tmp") is None
    # a port held bound but not listening refuses connections, and no other process (another
    # test worker) can take it meanwhile, as it could a port merely closed
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        assert _unreachable(url) == "Connection refused"
        with monkeypatch.context() as proxied:
            proxied.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
            assert _unreachable(url) is None  # the proxy decides, not a direct connect
        with pytest.raises(UsageError) as error:
            ganhub.train([*TINY_TOY, "loggers=[mlflow]", f"logger.mlflow.tracking_uri={url}"])
    assert str(error.value) == (
        f"logger 'mlflow' ({url}): cannot reach the tracking server (Connection refused); "
        "start it, or fix logger.mlflow.tracking_uri (or MLFLOW_TRACKING_URI)"
    )
    assert not list(Path("runs").glob("*/checkpoints/step_*"))
