"""A script that trains again in the same torchrun processes, after a rank failed while the
first run started, trains: the ranks meet in the keys of the run they are in. Before, the
meetings were counted per process: rank 0 had come to one more than rank 1, which had failed
before its first; in the next run rank 1 passed its first meeting at once, on the count rank 0
had left, and rank 0 then read rank 1's failure of the first run and stopped again."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_distributed import _torchrun

# rank 1 fails while it builds its models (before the ranks' first meeting); the script goes on
TWICE = """
import os
import ganhub
from ganhub.engine import run
from ganhub.errors import UsageError

rank = os.environ['RANK']
args = ['plugin=toy2d', 'preset=tiny', 'device=cpu', 'trainer.steps=2',
        'trainer.progress=false', 'loggers=[]']
prepare = run.prepare_system
def failing(*args):
    if rank == '1':
        raise UsageError('no data on this node')
    return prepare(*args)
run.prepare_system = failing
try:
    ganhub.train([*args, 'name=first'])
except Exception as exc:
    print(f'rank {rank} first: {exc}', flush=True)
run.prepare_system = prepare
summary = ganhub.train([*args, 'name=second'])
print(f'rank {rank} second: steps={summary["steps"]}', flush=True)
"""


@pytest.mark.slow
def test_a_script_trains_again_after_a_rank_failed_while_the_job_started(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GANHUB_DIST_TIMEOUT", "30")  # out of step, ranks would wait this long
    check = workdir / "check.py"
    check.write_text(TWICE)
    proc = _torchrun(str(check))
    out = proc.stdout + proc.stderr
    lines = out.splitlines()
    assert "rank 0 first: rank 0: rank 1 of this job failed: UsageError: no data on this node" in (
        lines
    ), out
    assert "rank 1 first: rank 1: no data on this node" in lines, out
    assert proc.returncode == 0, out
    assert "rank 0 second: steps=2" in lines and "rank 1 second: steps=2" in lines, out
    assert (workdir / "runs/second/checkpoints").is_dir()
    assert not (workdir / "runs/first").exists()  # nothing resumable: removed
