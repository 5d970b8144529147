"""`ganhub report` of a run that is training now: samples written ahead of metrics.jsonl."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from .test_report import png
from .test_report_status import make_run, status_of


def _grid_steps(text: str) -> list[int]:
    return [int(s) for s in re.findall(r"alt='samples at step (\d+)'", text)]


def test_a_run_training_now_shows_its_newest_samples(tmp_path: Path) -> None:
    """A report of a live run (log_every=10, sample_every=100) showed "100 steps logged", left
    the step 200 grid out and said "a resume went back to an earlier checkpoint and has not made
    them again": the records of a step reach metrics.jsonl after its samples, and no resume
    had happened. Samples the session wrote are shown; one an earlier session left is not."""
    fcntl = pytest.importorskip("fcntl")
    run = make_run(tmp_path, last=100)
    old = png(run / "samples" / "step_0000300.png")  # a session a resume went back past
    past = time.time() - 3600
    os.utime(old, (past, past))
    fd = os.open(run / ".lock", os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b'{"pid": 1}')  # the session took the lock: .lock is written now
        png(run / "samples" / "step_0000100.png")
        png(run / "samples" / "step_0000200.png")
        status, notes, text = status_of(run)
    finally:
        os.close(fd)
    assert status.startswith("Training now")
    assert _grid_steps(text) == [100, 200]
    (note,) = [n for n in notes if n.startswith("samples:")]
    assert "1 file of steps" in note and "(step 300)" in note  # the step 200 grid is not left out
    # stopped, the run's history ends at step 100: both later grids are a resumed-over session's
    status, notes, text = status_of(run)
    assert status.startswith("Stopped at step 100") and _grid_steps(text) == [100]
    assert any("(step 200, 300)" in n for n in notes)
