"""An offline W&B run writes under its run directory only: W&B's service puts its debug logs
under the cache directory it started with (~/.cache/wandb/logs by default)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ganhub.config.resolve import resolve

from .conftest import TINY_TOY


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home and cache of their own, no W&B variables pointing anywhere, and a W&B service
    that starts in this test (W&B starts one per process and keeps it)."""
    wandb = pytest.importorskip("wandb")
    wandb.teardown()
    home = tmp_path / "home"
    home.mkdir()
    for var in ("WANDB_API_KEY", "WANDB_DIR", "WANDB_MODE", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("NETRC", str(home / "netrc"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing may go out
    for var in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    yield home
    sys.modules["wandb"].teardown()  # stop the service this test started


@pytest.mark.slow
def test_an_offline_run_keeps_wandb_logs_in_its_run_directory(
    workdir: Path, fresh_home: Path
) -> None:
    from ganhub.loggers.trackers import WandbLogger

    run_dir = workdir / "run"
    run_dir.mkdir()
    logger = WandbLogger(run_dir, resolve([*TINY_TOY, "loggers=[wandb]"]))
    assert "WANDB_CACHE_DIR" not in os.environ  # set while W&B started its service only
    logger.log(2, {"loss/D": 0.5})
    logger.close()
    sys.modules["wandb"].teardown()  # the service's logs are complete once it has stopped
    outside = [p for p in (fresh_home / ".cache").rglob("*") if "wandb" in p.parts]
    assert outside == []
    logs = {p.name.split("-")[0] for p in (run_dir / "wandb" / "logs").glob("*-debug-*.log")}
    assert "core" in logs


def _logged_run(run_dir: Path) -> None:
    from ganhub.loggers.trackers import WandbLogger

    run_dir.mkdir()
    logger = WandbLogger(run_dir, resolve([*TINY_TOY, "loggers=[wandb]"]))
    logger.log(2, {"loss/D": 0.5})
    logger.close()


@pytest.mark.slow
def test_each_run_in_one_process_keeps_its_own_service_logs(
    workdir: Path, fresh_home: Path
) -> None:
    """tune's trials, a script's runs: the second run's service logs went to the first run."""
    _logged_run(workdir / "first")
    _logged_run(workdir / "second")
    for name in ("first", "second"):
        logs = list((workdir / name / "wandb" / "logs").glob("core-debug-*.log"))
        assert len(logs) == 1, (name, logs)


@pytest.mark.slow
def test_a_run_the_caller_has_open_keeps_logging(workdir: Path, fresh_home: Path) -> None:
    """ganhub stops W&B's service between its runs only when no other run is open."""
    wandb = sys.modules["wandb"]
    mine = wandb.init(mode="offline", dir=str(workdir), reinit="create_new")
    _logged_run(workdir / "run")
    mine.log({"after": 1.0})  # a stopped service would refuse this
    mine.finish()
    assert (workdir / "run" / "wandb_run.json").is_file()
