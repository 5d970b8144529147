"""Under torchrun, a rank that fails after it joined the job but before training starts (here:
while it builds its models) ends the other rank at once: the ranks meet in torchrun's store
before each start-up collective. Before, the other rank waited in its collective until the
failing process ended (gloo: here a thread keeps it alive), or for NCCL's whole timeout. Both
ranks leave the process group on the way out: no gloo thread runs on to the process's exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_distributed import _torchrun
from .test_distributed_audit6 import NO_DATA, TOY

# rank 1 fails while it builds its models and outlives its error (a logger's thread, an exit
# handler); each rank says which gloo threads it still runs once its command has ended
LINGER = """
import os, sys, threading, time
from pathlib import Path
from ganhub.cli import main
from ganhub.engine import run
from ganhub.errors import UsageError

def gloo_threads():
    tasks = os.listdir('/proc/self/task')
    names = [open(f'/proc/self/task/{t}/comm').read().strip() for t in tasks]
    return [n for n in names if 'gloo' in n]

def linger():
    threading.main_thread().join()  # its command has ended
    print(f'rank 1 gloo threads: {gloo_threads()}', flush=True)
    for _ in range(600):  # 60 s
        if Path('ended').exists():
            print('rank 1 outlived the other rank', flush=True)
            return
        time.sleep(0.1)

prepare = run.prepare_system
def failing(*args):
    if os.environ['RANK'] == '1':
        threading.Thread(target=linger).start()  # not a daemon: the process waits for it
        raise UsageError(%r)
    return prepare(*args)
run.prepare_system = failing
try:
    main(['run', *sys.argv[1:]])
finally:
    if os.environ['RANK'] == '0':
        print(f'rank 0 gloo threads: {gloo_threads()}', flush=True)
        Path('ended').touch()
        time.sleep(1)
"""


@pytest.mark.slow
def test_a_rank_that_fails_while_it_builds_its_models_ends_the_other_at_once(
    workdir: Path,
) -> None:
    check = workdir / "check.py"
    check.write_text(LINGER % NO_DATA)
    proc = _torchrun(str(check), *TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out  # both ranks print to one pipe: find lines in the text
    said = f"ganhub: error: rank 0: rank 1 of this job failed: UsageError: {NO_DATA}"
    assert said in out, out
    assert "rank 1 outlived the other rank" in out, out  # rank 0 did not wait for it
    assert "rank 0 gloo threads: []" in out, out  # the group was left on the way out
    assert "rank 1 gloo threads: []" in out, out
    assert "terminate called" not in out, out
    assert not (workdir / "runs/f").exists()  # nothing resumable: removed as before
