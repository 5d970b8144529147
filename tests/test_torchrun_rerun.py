"""A script that trains again in the same torchrun processes, after a rank failed while the
first run started, trains.

Before, the ranks' start-up meetings were counted per process: rank 0 had come to one more than
rank 1, which had failed before its first; in the next run rank 1 passed its first meeting at
once, on the count rank 0 had left, and rank 0 then read rank 1's failure of the first run.
And every default process group met in the same keys of torchrun's store: a rank that came to
the second group before rank 0 read the address of rank 0's first one, and gloo's
connectFullMesh was refused, or, by the order of the two addresses, not (here rank 0 comes
half a second late to each group, as on a busy machine, and rank 1 fails four times)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_distributed import _torchrun

# rank 1 fails while it builds its models (after the group exists, before the ranks' first
# meeting), FAILS times: the script goes on, and trains; rank 0 comes late to each group
FAILS = 4
TWICE = """
import os, time
import torch.distributed as dist
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
join = dist.init_process_group
def late(*args, **kwargs):
    if rank == '0':  # whether rank 1 reads rank 0's address of an earlier group: one in two
        time.sleep(0.5)
    join(*args, **kwargs)
dist.init_process_group = late
run.prepare_system = failing
for _ in range(FAILS):
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
    check.write_text(f"FAILS = {FAILS}\n{TWICE}")
    proc = _torchrun(str(check))
    out = proc.stdout + proc.stderr
    # both ranks print to one pipe: a line of one can run into the other's, so count in the text
    told = "rank 0 first: rank 0: rank 1 of this job failed: UsageError: no data on this node"
    assert out.count(told) == FAILS, out
    assert out.count("rank 1 first: rank 1: no data on this node") == FAILS, out
    assert "Connection refused" not in out, out  # rank 0's first address, read again
    assert proc.returncode == 0, out
    assert "rank 0 second: steps=2" in out and "rank 1 second: steps=2" in out, out
    assert (workdir / "runs/second/checkpoints").is_dir()
    assert not (workdir / "runs/first").exists()  # nothing resumable: removed
