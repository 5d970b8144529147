"""A script that trains again in the same torchrun processes after a rank failed before the
ranks had a process group, trains.

(a) Rank 1 refuses its config (as a path only its node lacks would): it said so in torchrun's
store, where the ranks also said they came to the group, and nothing cleared those keys. In the
next `ganhub.train` rank 0 read rank 1's old failure at once, or, had rank 1 come first, passed
on its arrival and formed a group with rank 1's run after this one. Now every `ganhub.train`
is one try on every rank, and the ranks meet in the keys of theirs.
(b) Rank 1's `init_process_group` refuses at once (its backend), and rank 0's waits in vain
for it: torch had counted rank 0's group in its name counter, which only destroying a group
resets, so in the next run rank 0 named its default group "1" where rank 1 named its "0", and
both waited for the other in keys of their own until the timeout. Rank 0, which waited in
vain in (b), now names rank 1 and its error.
(0) Before (a), rank 1 refuses its config in `ganhub.cli.main`, before the engine is imported in
its process: only `interrupts` counted that failure, in the first try's keys, and the engine's
counter, imported later, numbered rank 1's next try 0 where rank 0's was 1.
(d) An error after rank 1's run closed fine, in the same call, was told in the next try's
keys (and counted a try more): rank 0's next run read it as its own try's failure.
(e) Every try and run left its keys in torchrun's store for the job's whole life; now each run's
first meeting clears those behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_distributed import _torchrun

SCRIPT = """
import os, sys
import torch.distributed as dist
import ganhub, ganhub.cli

rank = os.environ['RANK']
args = ['plugin=toy2d', 'preset=tiny', 'device=cpu', 'trainer.steps=2',
        'trainer.progress=false', 'loggers=[]']
bad = ['trainer.steps=many'] if rank == '1' else []
ganhub.cli.RANK0_GRACE_S = 0.0  # rank 1 goes on at once (rank 0 says its line in any case)
try:  # (0) rank 1 alone refuses its config in the command line, before the engine loads
    ganhub.cli.main(['run', *args, 'name=z', *bad])
except SystemExit as exc:
    engine = 'ganhub.engine.distributed' in sys.modules
    print(f'rank {rank} z: exit {exc.code} engine={engine}', flush=True)
try:  # (a) rank 1 alone refuses its config, before it comes to the process group
    ganhub.train([*args, 'name=a', *bad])
except Exception as exc:
    print(f'rank {rank} a: {exc}', flush=True)
join = dist.init_process_group
def refuse(*args, **kwargs):
    if rank == '1':
        raise RuntimeError('the backend refused')
    return join(*args, **kwargs)
dist.init_process_group = refuse
os.environ['GANHUB_DIST_TIMEOUT'] = '3'  # rank 0 waits this long in torch for rank 1's group
try:  # (b) rank 1 alone fails inside init_process_group
    ganhub.train([*args, 'name=b'])
except Exception as exc:
    print(f'rank {rank} b: {exc}', flush=True)
dist.init_process_group = join
os.environ['GANHUB_DIST_TIMEOUT'] = '60'
from ganhub.engine.run import Run
close = Run.close
def close_then_fail(run):
    close(run)
    if rank == '1':
        raise RuntimeError('after the run closed')
Run.close = close_then_fail
try:  # (c) rank 1 fails after its run closed fine: its own error, no later try's
    summary = ganhub.train([*args, 'name=c'])
    print(f'rank {rank} c: steps={summary["steps"]}', flush=True)
except Exception as exc:
    print(f'rank {rank} c: {exc}', flush=True)
Run.close = close
summary = ganhub.train([*args, 'name=d'])
print(f'rank {rank} d: steps={summary["steps"]}', flush=True)
if rank == '0':  # (e) the keys every try and run left in torchrun's store, but the last run's
    from ganhub.interrupts import job_key, job_store
    job = job_key('', '').removesuffix('//')
    left = {k.removeprefix(job).split('/')[1] for k in job_store().list_keys() if k.startswith(job)}
    print(f'rank 0 e: left {sorted(left)}', flush=True)
"""


@pytest.mark.slow
def test_a_script_trains_again_after_a_rank_failed_before_the_group_existed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GANHUB_DIST_TIMEOUT", "60")
    check = workdir / "check.py"
    check.write_text(SCRIPT)
    proc = _torchrun(str(check))
    out = proc.stdout + proc.stderr
    # both ranks print to one pipe: a line of one can run into the other's, so count in the text
    refused = "ConfigError: trainer.steps='many': must be a whole number"
    assert out.count("rank 1 z: exit 2 engine=False") == 1, out
    assert out.count(f"ganhub: error: rank 0: rank 1 of this job failed: {refused}") == 1, out
    assert out.count(f"rank 0 a: rank 0: rank 1 of this job failed: {refused}") == 1, out
    assert out.count("rank 1 b: the backend refused") == 1, out
    told = "rank 0 b: rank 0: rank 1 of this job failed: RuntimeError: the backend refused"
    assert out.count(told) == 1, out
    assert proc.returncode == 0, out
    assert out.count("rank 0 c: steps=2") == 1 and out.count("rank 1 c: after the run") == 1, out
    assert out.count("rank 0 d: steps=2") == 1 and out.count("rank 1 d: steps=2") == 1, out
    assert (workdir / "runs/c/checkpoints").is_dir() and (workdir / "runs/d/checkpoints").is_dir()
    # z and a formed no run (rank 1 refused before every rank came: no number); b's ranks all
    # came (its number stays), c was run 2: d, run 3, left its own keys, and the run count
    assert out.count("rank 0 e: left ['run3', 'runs']") == 1, out
