"""Every write a command makes while its stdout or stderr is lost: a reader that left, a full
disk, a closed descriptor (`>&-`, `2>&-`).

A resumed run whose first line is a note (`2>&1 | head` with the reader gone) stopped with
status 0 before training a step; a W&B offline run into a closed pipe failed and lost its
folder; with `>&- 2>&-` a run's lock and metrics.jsonl took descriptors 1 and 2, so what a
library wrote there landed in them, and with `2>&-` a note went to stdout; `ganhub export`
with a full stderr failed before printing its folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_TOY


def _ganhub(cwd: Path, *args: str, **streams: object) -> subprocess.CompletedProcess[bytes]:
    """`python -m ganhub ARGS` in `cwd`; stdout and stderr a pipe whose reader left unless
    `streams` says otherwise (subprocess.run's keywords)."""
    read, write = os.pipe()
    os.close(read)
    try:
        kwargs: dict[str, object] = {"stdout": write, "stderr": write, **streams}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [sys.executable, "-m", "ganhub", *args], cwd=cwd, timeout=300, **kwargs
        )
    finally:
        os.close(write)


def _steps(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def test_a_resumed_run_whose_first_line_is_a_note_trains_into_a_closed_pipe(
    tmp_path: Path,
) -> None:
    """The note on a cut-off metrics line met the closed pipe: status 0, no step trained."""
    run = tmp_path / "runs" / "toy"
    assert _ganhub(tmp_path, "run", *TINY_TOY, "name=toy", stdout=None, stderr=None).returncode == 0
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 9')  # a line cut off mid-write: `open` drops it with a note
    done = _ganhub(tmp_path, "run", f"resume={run}", "trainer.steps=6")
    assert done.returncode == 0
    assert (run / "checkpoints" / "step_0000006").is_dir()
    assert _steps(run)[-1] == 6


@pytest.mark.parametrize("progress", ["true", "false"])
def test_a_wandb_offline_run_into_a_closed_pipe_trains(tmp_path: Path, progress: str) -> None:
    """W&B's offline line is the first a run prints: it failed the run and removed it."""
    pytest.importorskip("wandb")
    args = [*TINY_TOY, "loggers=[jsonl,wandb]", f"trainer.progress={progress}", "name=wb"]
    done = _ganhub(tmp_path, "run", *args, env={**os.environ, "WANDB_SILENT": "true"})
    assert done.returncode == 0
    assert (tmp_path / "runs" / "wb" / "checkpoints" / "step_0000004").is_dir()


@pytest.mark.parametrize("head", [1, 400])
def test_a_run_piped_into_head_finishes(tmp_path: Path, head: int) -> None:
    """`ganhub run ... 2>&1 | head -c N`: the reader leaves at the first byte or mid-run."""
    args = " ".join([*TINY_TOY, "trainer.progress=true", "name=h"])
    line = f"{sys.executable} -m ganhub run {args} 2>&1 | head -c {head} >/dev/null"
    subprocess.run(["sh", "-c", line], cwd=tmp_path, check=True, timeout=300)
    run = tmp_path / "runs" / "h"
    assert (run / "checkpoints" / "step_0000004").is_dir()
    assert _steps(run)[-1] == 4


# a run whose hook writes to descriptors 1 and 2 as a C library or a child process would
WRITES_TO_1_AND_2 = """
import os, sys
from ganhub.cli import main
from ganhub.hookspecs import hookimpl
from ganhub.plugins import get_hub

class Writes:
    @hookimpl
    def after_step(self, run, step, metrics):
        os.write(1, b"one\\n")
        os.write(2, b"two\\n")

get_hub().pm.register(Writes())
main(sys.argv[1:])
"""


def test_a_run_with_stdout_and_stderr_closed_keeps_its_files_clean(tmp_path: Path) -> None:
    """`ganhub run ... >&- 2>&-`: the run's lock took descriptor 1 and metrics.jsonl 2."""

    def close_1_and_2() -> None:
        os.close(1)
        os.close(2)

    args = [*TINY_TOY, "trainer.progress=true", "name=closed"]
    done = subprocess.run(
        [sys.executable, "-c", WRITES_TO_1_AND_2, "run", *args],
        cwd=tmp_path,
        preexec_fn=close_1_and_2,
        timeout=300,
    )
    assert done.returncode == 0
    run = tmp_path / "runs" / "closed"
    assert _steps(run)[-1] == 4  # every line a record: nothing written into it
    assert all("two" not in p.read_text(errors="replace") for p in run.glob("*.*") if p.is_file())


def test_a_note_with_stderr_closed_stays_off_stdout(tmp_path: Path) -> None:
    """`2>&-`: Python has no sys.stderr, and a note printed there went to stdout."""
    run = tmp_path / "runs" / "toy"
    assert _ganhub(tmp_path, "run", *TINY_TOY, "name=toy", stdout=None, stderr=None).returncode == 0
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 9')
    done = subprocess.run(
        [sys.executable, "-m", "ganhub", "run", f"resume={run}", "trainer.steps=6"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        preexec_fn=lambda: os.close(2),
        timeout=300,
    )
    assert done.returncode == 0
    assert [line.split()[:3] for line in done.stdout.decode().splitlines()] == [
        ["ganhub:", "done", "at"]
    ]


def test_an_export_whose_stderr_is_full_prints_its_folder(tmp_path: Path) -> None:
    """An export of an export notes where it went on stderr: a full stderr failed it (1)."""
    assert _ganhub(tmp_path, "run", *TINY_TOY, "name=toy", stdout=None, stderr=None).returncode == 0
    first = _ganhub(tmp_path, "export", "runs/toy", "--out", "ex", stdout=None, stderr=None)
    assert first.returncode == 0
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        done = _ganhub(tmp_path, "export", "ex", stdout=subprocess.PIPE, stderr=full)
    finally:
        os.close(full)
    assert done.returncode == 0
    folder = Path(done.stdout.decode().strip())
    assert (folder / "generator.safetensors").is_file()


def test_a_metric_rename_warning_on_a_closed_pipe_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A logger's rename warning raised BrokenPipeError when stderr's reader had left."""
    from ganhub.loggers.names import MetricNames

    read, write = os.pipe()
    os.close(read)
    stream = open(write, "w")  # noqa: SIM115
    monkeypatch.setattr(sys, "stderr", stream)
    names = MetricNames("jsonl", lambda name: "kept" if name == "step" else None)
    assert names("step") == "metric/step"
    assert names("step") == "metric/step"  # the stream is silenced: no error at the next
    stream.close()
