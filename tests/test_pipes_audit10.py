"""ganhub's commands when their output goes to a pipe whose reader left, a full disk or nowhere.

`ganhub run ... 2>&1 | head -3` removed the run's folder and exited 1 (a warning on the closed
stderr failed the run before its first checkpoint); `ganhub run ... > /dev/full` printed a
traceback and removed the run (and runs/); `ganhub report RUN | head -1` and the other commands
exited 1 for a reader that left, and `> /dev/full` gave a traceback.

Each command runs in a subprocess whose pipe's reader has already gone (deterministic, unlike
`| head`, whose reader may leave after the last write).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_TOY

TOY = [*TINY_TOY, "trainer.progress=true"]  # the tiny toy run, with its output on
TINY_TEXT = ["plugin=textgan", "preset=tiny", "trainer.steps=2", "trainer.progress=false"]
FULL_LINE = "ganhub: error: the output cannot be written: No space left on device"


def _ganhub(
    cwd: Path, *args: str, stdout: int | None = None, stderr: int | None = None
) -> tuple[int, str]:
    """Run `python -m ganhub ARGS` in `cwd` (stdout, stderr: file descriptors, default a pipe
    whose reader left); returns the status and what stderr got when it is not given."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ganhub", *args],
            cwd=cwd,
            stdout=write if stdout is None else stdout,
            stderr=subprocess.PIPE if stderr is None else stderr,
            timeout=300,
        )
    finally:
        os.close(write)
    err = proc.stderr.decode(errors="replace") if proc.stderr is not None else ""
    return proc.returncode, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny trained toy2d run (runs/toy) and textgan run (runs/text)."""
    where = tmp_path_factory.mktemp("pipes")
    for args in ([*TINY_TOY, "name=toy"], [*TINY_TEXT, "name=text"]):
        done = subprocess.run(
            [sys.executable, "-m", "ganhub", "run", *args], cwd=where, capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()
    return where


def test_a_run_whose_stdout_and_stderr_reader_left_trains_and_keeps_its_folder(
    tmp_path: Path,
) -> None:
    """`ganhub run ... 2>&1 | head -3`: the warning about the closed stdout met the closed
    stderr, the run failed (exit 1, no word) and its folder was removed."""
    read, write = os.pipe()
    os.close(read)
    try:
        code, _ = _ganhub(tmp_path, "run", *TOY, "name=piped", stdout=write, stderr=write)
    finally:
        os.close(write)
    assert code == 0
    assert (tmp_path / "runs" / "piped" / "checkpoints" / "step_0000004").is_dir()


def test_a_run_into_a_full_disk_trains_and_warns_once(tmp_path: Path) -> None:
    """`ganhub run ... > /dev/full`: a traceback, and the run (and runs/) removed."""
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        code, err = _ganhub(tmp_path, "run", *TOY, "name=full", stdout=full)
    finally:
        os.close(full)
    assert code == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err
    lines = [line for line in err.splitlines() if "cannot be written" in line]
    assert lines == [
        "ganhub: warning: the output cannot be written (No space left on device); training "
        "goes on without printing, and the run directory holds what it logs"
    ]
    assert (tmp_path / "runs" / "full" / "checkpoints" / "step_0000004").is_dir()


def test_a_quiet_run_whose_reader_left_exits_0(tmp_path: Path) -> None:
    """trainer.progress=false: its one summary line met the closed pipe: a silent exit 1."""
    code, err = _ganhub(tmp_path, "run", *TINY_TOY, "name=quiet")
    assert (code, err) == (0, "")
    assert (tmp_path / "runs" / "quiet" / "checkpoints" / "step_0000004").is_dir()


@pytest.mark.parametrize(
    "args",
    [
        ["report", "runs/toy"],
        ["eval", "runs/toy"],
        ["config", "plugin=toy2d"],
        ["plugins"],
        ["textgan", "generate", "runs/text"],
        ["--help"],
        ["run", "plugin=toy2d", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_command_whose_reader_left_stops_quietly(trained: Path, args: list[str]) -> None:
    """`ganhub report RUN | head -1`: a reader that left is no error (they exited 1)."""
    code, err = _ganhub(trained, *args)
    assert code == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert "error" not in err


@pytest.mark.parametrize(
    "args",
    [["config", "plugin=toy2d"], ["--help"], ["textgan", "generate", "runs/text"]],
    ids=" ".join,
)
def test_a_command_into_a_full_disk_says_one_line(trained: Path, args: list[str]) -> None:
    """`ganhub config plugin=toy2d > /dev/full`: a traceback ending in OSError."""
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        code, err = _ganhub(trained, *args, stdout=full)
    finally:
        os.close(full)
    assert (code, err.splitlines()) == (1, [FULL_LINE])
