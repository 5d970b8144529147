"""`ganhub export` when the disk fails it: one line naming the file, nothing left behind.

A full disk, a file size limit or a quota must not end the process by a C++ abort (torch's
own TorchScript writer) nor print a traceback (a text file whose write fails as it is
flushed), and a sample artifact that could not be written fails the export instead of being
noted as a sample the run could not draw.
"""

from __future__ import annotations

import errno
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ganhub

from .conftest import TINY_TOY


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    summary = ganhub.train([*TINY_TOY, f"out_dir={root}", "name=toy"])
    return Path(summary["run_dir"])


def _limited(max_bytes: int) -> Callable[[], None]:
    """A subprocess's file size limit: a longer write fails with EFBIG (Python ignores the
    SIGXFSZ that comes with it), as a full disk fails with ENOSPC."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def _export(run_dir: Path, out: Path, *args: str, max_bytes: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ganhub", "export", str(run_dir), "--out", str(out), *args],
        capture_output=True, text=True, timeout=300, preexec_fn=_limited(max_bytes),
    )  # fmt: skip


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Warning" not in line and line.strip()]


@pytest.mark.slow
def test_a_torchscript_graph_that_cannot_be_written_is_one_line(
    toy_run: Path, tmp_path: Path
) -> None:
    # the toy's weights (about 3 KB) fit, its TorchScript graph (about 9 KB) does not
    done = _export(toy_run, tmp_path / "x", "--format", "torchscript", max_bytes=6000)
    assert done.returncode == 2, done.stderr[-2000:]  # not 134: torch's writer aborted
    assert _lines(done.stderr) == [f"ganhub: error: {tmp_path / 'x' / 'generator.pt'}: "
                                   "File too large"]  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # no scratch folder with a half graph


@pytest.mark.slow
def test_samples_that_cannot_be_written_fail_the_export(toy_run: Path, tmp_path: Path) -> None:
    # the weights fit, the samples' image (about 20 KB) does not: not "no samples were drawn"
    done = _export(toy_run, tmp_path / "x", max_bytes=10000)
    assert done.returncode == 2, done.stderr[-2000:]
    assert _lines(done.stderr) == [
        f"ganhub: error: {tmp_path / 'x' / 'samples' / 'samples.png'}: File too large"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_as_it_is_flushed_is_one_line(
    toy_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    import ganhub.export_card

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name: a close

    monkeypatch.setattr(ganhub.export_card, "write_card", full)
    code, out, err = cli("export", str(toy_run), "--out", str(tmp_path / "x"))
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"ganhub: error: {tmp_path / 'x'}: No space left on device"]
    assert list(tmp_path.iterdir()) == []
    # into new nested folders: those it made are removed again (a typo'd --out leaves none)
    code, _, err = cli("export", str(toy_run), "--out", str(tmp_path / "a" / "b" / "x"))
    assert code == 2 and list(tmp_path.iterdir()) == [], err


def test_an_empty_out_folder_is_filled_not_replaced(
    toy_run: Path, workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--out .` from an empty folder removed that folder and renamed the export into its
    place: the shell was left in a deleted folder (`ls` showed nothing). An empty folder is
    filled: the same folder (inode) holds the export."""
    here = workdir / "empty"
    here.mkdir()
    inode = here.stat().st_ino
    monkeypatch.chdir(here)
    code, _, err = cli("export", str(toy_run), "--out", ".")
    assert code == 0, err
    assert here.stat().st_ino == inode
    assert (here / "export.json").is_file() and not [p for p in here.iterdir() if p.name[0] == "."]
