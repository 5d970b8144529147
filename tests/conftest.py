"""Shared fixtures: a working directory per test, the CLI in-process, tiny configs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ganhub.metrics.store import CACHE_ENV

torch.set_num_threads(
    max(1, (os.cpu_count() or 2) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
)

# The plain GAN (toy2d's default trick set is off): engine tests add the tricks they test.
TINY_TOY = [
    "plugin=toy2d",
    "tricks=[]",
    "trainer.steps=4",
    "trainer.batch_size=32",
    "trainer.log_every=2",
    "trainer.progress=false",
    "model.g_hidden=16",
    "model.d_hidden=16",
    "data.n_samples=1000",
    "loggers=[jsonl]",
]

TINY_DCGAN = [
    "plugin=dcgan",
    "preset=tiny",
    "trainer.steps=2",
    "trainer.batch_size=8",
    "trainer.log_every=1",
    "trainer.progress=false",
    "loggers=[jsonl]",
]


@pytest.fixture(scope="session")
def ganhub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ganhub cache of this test session (feature networks, real-data statistics), empty
    when the session starts: the digit classifier trains once per session, in the first test
    that needs it, and every later test (and the processes tests start) reads it. Parallel
    workers (pytest-xdist) share it: the cache builds each entry under a lock, so the worker
    that needs an entry second waits for the first to build it instead of building it again."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "ganhub-cache"  # this session's root
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("ganhub-cache")


@pytest.fixture(autouse=True)
def _scratch_directory(tmp_path: Path, ganhub_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own empty directory: tests that built runs without asking for
    `workdir` left their run directories in the checkout's runs/ (a dozen after a suite).
    It reads and fills the session's cache, not ~/.cache/ganhub: the digit classifier was
    trained there and again in tests/test_eval.py's cache (a minute each on a fresh machine),
    and a cache left by the last suite hid what a fresh one trains. A test that needs a cache
    of its own sets GANHUB_CACHE itself."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_ENV, str(ganhub_cache))


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models: a second intra-op thread only adds barriers (slow on a busy CPU). A test
    module asks for it with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in its own empty directory (runs/ lands there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Call the `ganhub` CLI in-process: returns (exit_code, stdout, stderr)."""
    from ganhub.cli import main

    def call(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call
