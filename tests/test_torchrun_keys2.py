"""What a failed try leaves in torchrun's store, and how the job's runs are numbered; checked in
one process against a real `torch.distributed.TCPStore` (a process plays one rank, then
another), and once under torchrun.

* A try that failed after the job's last run started kept its keys for the job's whole life
  (the try's arrivals, `world` + 1 keys, and the runs before it): only a later run's first
  meeting cleared them. Now the last rank to leave a failed try clears them.
* Rank 0 numbered a run as it arrived at the group and kept the number when a rank had refused
  before it came: the runs that formed were numbered 1, 3. Now the number goes back.
* A rank that failed between arriving at the group and agreeing on the run's number (in
  `init_process_group`) told it in the try's keys while rank 0, past the agreement, read the
  run's: rank 0 waited its whole timeout and blamed a slow rank.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from ganhub import interrupts
from ganhub.engine import distributed, startup_meetings, store_cleanup
from ganhub.engine.distributed import DistInfo, PeerFailed
from ganhub.errors import ConfigError
from ganhub.interrupts import job_key, terminate_unwinds, try_key

from .test_distributed import _torchrun
from .test_try_store import store  # noqa: F401  # the fixture: rank 1 of 2, the job's store

CPU = torch.device("cpu")


@pytest.fixture
def job(
    store: dist.TCPStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dist.TCPStore]:
    """`store`, this process's start-up meetings as a fresh process's."""
    for name, value in [("_starting", None), ("_met", 0), ("_told", None), ("_formed", False)]:
        monkeypatch.setattr(startup_meetings, name, value, raising=False)
    yield store


def _left(kv: dist.TCPStore) -> list[str]:
    """The job's keys in `kv`, without the job's prefix."""
    prefix = job_key("", "").removesuffix("//") + "/"
    return sorted(k.removeprefix(prefix) for k in kv.list_keys() if k.startswith(prefix))


def _as_rank(monkeypatch: pytest.MonkeyPatch, rank: int, tried: int) -> None:
    """This process plays `rank`, in try `tried` (0: the first)."""
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setattr(interrupts, "_try", tried)


def test_a_try_refused_before_the_run_formed_leaves_no_key_and_no_number(
    job: dist.TCPStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError), terminate_unwinds():  # rank 1 refuses its config
        raise ConfigError("trainer.steps='many': must be a whole number")
    _as_rank(monkeypatch, 0, 0)  # rank 0 comes to the group, hears it, and leaves the try
    started = time.monotonic()
    failed = "rank 1 of this job failed: ConfigError"
    with pytest.raises(PeerFailed, match=failed), terminate_unwinds():
        distributed.init(DistInfo(0, 2, timeout_s=30), CPU)
    assert time.monotonic() - started < 2
    assert _left(job) == ["runs/count"]  # the try's keys went with its last rank
    assert int(job.get(job_key("runs", "count"))) == 0  # no run formed: the next is run 1


@pytest.mark.parametrize("listed", [True, False])
def test_the_last_rank_to_leave_a_failed_run_clears_the_keys_behind_it(
    job: dist.TCPStore, listed: bool
) -> None:
    # run 1 trained; try 1 agreed on run 2, which failed before its first meeting was over
    for name in ["run1/met1/count", "run1/met2/count", "run1/failed/count", "try1/arrived/0",
                 "try1/arrived/1", "try1/arrived/count", "try1/failed/count", "run2/met1/count",
                 "run2/failed/1", "run2/failed/count", "run2/parted/0", "runs/count"]:  # fmt: skip
        job.set(job_key("", "").removesuffix("//") + "/" + name, "1")
    store_cleanup.run_ended(1, 2)
    with_list = job if listed else _Unlisted(job)
    assert store_cleanup.leave_try(with_list, 2, 1, 2) == 0  # rank 1 left: rank 0 may read on
    assert store_cleanup.leave_try(with_list, 2, 1, 2) == 8  # rank 0, the last: run 1, try 1
    assert _left(job) == ["run2/failed/1", "run2/failed/count", "run2/met1/count",
                            "run2/parted/0", "runs/count"]  # fmt: skip


class _Unlisted(dist.Store):
    """A store that cannot list its keys (torch before `list_keys`), over a real one."""

    def __init__(self, inner: dist.Store) -> None:
        super().__init__()
        self.inner = inner

    def add(self, key: str, value: int) -> int:
        return self.inner.add(key, value)

    def delete_key(self, key: str) -> bool:
        return self.inner.delete_key(key)


def test_a_rank_that_fails_after_it_arrived_is_heard_at_rank_0s_first_meeting(
    job: dist.TCPStore,
) -> None:
    job.set(job_key("arrived", 0), "3")  # rank 0 came, with run 3's number
    job.add(job_key("arrived", "count"), 1)
    # rank 1's group waits for rank 0's address in vain (as when its backend refuses, or NCCL
    # connects only at the first collective while rank 0 is past its group)
    with pytest.raises(RuntimeError), terminate_unwinds():
        distributed.init(DistInfo(1, 2, timeout_s=1), CPU)
    rank_0 = DistInfo(0, 2, timeout_s=3)  # past its group: its first meeting, in run 3
    startup_meetings.start(rank_0, lambda number: number, 3)
    started = time.monotonic()
    with pytest.raises(PeerFailed, match=r"^rank 0: rank 1 of this job failed: "):
        startup_meetings.meet()
    assert time.monotonic() - started < 1  # not its whole timeout, nor a slow rank blamed


def test_a_refused_rank_waits_for_no_grace_once_its_try_was_cleared(
    job: dist.TCPStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interrupts, "_try", 1)  # a later try: a script's next `cli.main`
    with pytest.raises(ConfigError), terminate_unwinds():  # rank 1 refuses its config
        raise ConfigError("trainer.steps='many': must be a whole number")
    job.set(try_key("parted", 0, 1), "1")  # rank 0 parts, then leaves the try last
    assert store_cleanup.leave_try(job, 2, 1, None) > 0  # its keys, rank 0's words too, go
    started = time.monotonic()
    interrupts.wait_for_rank_0(5.0)  # `cli.main`, after the error's hooks
    assert time.monotonic() - started < 2 * interrupts.RANK0_LINE_S + 1.0


SCRIPT = """
import os
import ganhub
from ganhub.engine import run
from ganhub.errors import UsageError
from ganhub.interrupts import job_key, job_store

rank = os.environ['RANK']
args = ['plugin=toy2d', 'preset=tiny', 'device=cpu', 'trainer.steps=1',
        'trainer.progress=false', 'loggers=[]']
prepare = run.prepare_system
def failing(*args):
    if rank == '1':
        raise UsageError('no data on this node')
    return prepare(*args)
for name, bad in [('a', ['trainer.steps=many'] if rank == '1' else []), ('b', 'after')]:
    run.prepare_system = failing if bad == 'after' else prepare
    try:
        ganhub.train([*args, f'name={name}', *(bad if bad != 'after' else [])])
    except Exception:
        print(f'rank {rank} {name}: failed', flush=True)
store, job = job_store(), job_key('', '').removesuffix('//')
if rank == '1':
    store.set('test/done', '1')
else:  # once rank 1 is done too: what the job's tries and runs left
    store.wait(['test/done'])
    left = sorted({k.removeprefix(job).split('/')[1] for k in store.list_keys() if job in k})
    print(f'rank 0 left {left} runs={int(store.get(job_key("runs", "count")))}', flush=True)
"""


@pytest.mark.slow
def test_a_script_whose_trainings_fail_leaves_one_runs_keys(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GANHUB_DIST_TIMEOUT", "60")
    check = workdir / "check.py"
    check.write_text(SCRIPT)
    proc = _torchrun(str(check))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("rank 0 a: failed") == 1 and out.count("rank 1 b: failed") == 1, out
    # a, refused on rank 1 before the group, formed no run; b, run 1, failed on rank 1 after
    # it formed: its keys stay (the last run's), and the count of runs
    assert out.count("rank 0 left ['run1', 'runs'] runs=1") == 1, out
