"""torchrun ranks that fail while the job starts, told to the other ranks at once.

`ganhub.train(...)` did not tell the other ranks when one failed before it joined the job (as
`ganhub run` does): they waited for it for the whole GANHUB_DIST_TIMEOUT (30 minutes by
default) on another node, or torchrun ended them without a word. And a rank that failed after
it joined but before training started (building its models, reading its data, resuming) left
the others in a collective until its process ended (gloo) or for NCCL's whole timeout: now the
ranks meet in Python before each collective until training starts, and end as soon as one says
it failed (tests/test_torchrun_meet.py runs it under torchrun)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ganhub import interrupts
from ganhub.engine import distributed, startup_meetings
from ganhub.engine.distributed import CollectiveTimeout, DistInfo, PeerFailed, PeerStopped
from ganhub.errors import ConfigError, UsageError
from ganhub.interrupts import job_key, tell_job

from .test_distributed import _torchrun
from .test_distributed_audit5 import _free_port

TOY = ["plugin=toy2d", "preset=tiny", "device=cpu", "trainer.steps=4", "trainer.progress=false",
       "loggers=[jsonl]", "name=f"]  # fmt: skip
NO_DATA = "data.path='/data/faces' does not exist"


@pytest.mark.slow
def test_the_python_api_tells_the_other_ranks_when_one_fails_before_it_joins(
    workdir: Path,
) -> None:
    """Rank 0 waits for rank 1, which refuses its device: torchrun ended rank 0 (SIGTERM,
    no line); on another node it waited for the whole timeout."""
    check = workdir / "check.py"
    check.write_text(
        "import os, sys, time, ganhub\n"
        "from ganhub.interrupts import job_key, job_store\n"
        "args = sys.argv[1:]\n"
        "if os.environ['RANK'] == '1':  # once rank 0 waits for it\n"
        "    store = job_store()\n"
        "    while not store.check([job_key('arrived', 0)]):\n"
        "        time.sleep(0.05)\n"
        "    args.append('device=cuda:99')\n"
        "ganhub.train(args)\n"
    )
    proc = _torchrun(str(check), *TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "ConfigError: rank 1: device=cuda:99: " in out, out  # which rank refused it
    named = (
        r"(PeerFailed: rank 0: |ganhub: terminated: torchrun stopped rank 0 because )rank 1 of "
        r"this job failed: ConfigError: device=cuda:99: "
    )
    assert re.search(named, out), out


# -- the meeting itself, against torchrun's store ----------------------------------------------


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Any:
    """torchrun's key-value store, as its agent serves it to rank 1 of 2."""
    import torch.distributed as dist

    port = _free_port()
    server = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    env = {"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
           "TORCHELASTIC_USE_AGENT_STORE": "True", "TORCHELASTIC_RUN_ID": "job",
           "TORCHELASTIC_RESTART_COUNT": "0"}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(interrupts, "_try", 0)  # the job's own keys, whatever ran before
    monkeypatch.setattr(interrupts, "_said", False)
    return server


def _starting(monkeypatch: pytest.MonkeyPatch, rank: int, store: Any, met: int = 0) -> DistInfo:
    info = DistInfo(rank, 2, timeout_s=0.3)
    monkeypatch.setattr(startup_meetings, "_starting", (info, store))
    monkeypatch.setattr(startup_meetings, "_met", met)  # the meetings so far
    return info


def test_ranks_meet_before_each_collective_until_training_starts(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _starting(monkeypatch, 1, store)
    store.add(job_key("met1", "count"), 1)  # rank 0 came first: no wait
    startup_meetings.meet()
    with pytest.raises(CollectiveTimeout, match=r"waited 0\.3 s at a collective"):
        startup_meetings.meet()  # rank 0 never comes to the second
    store.add(job_key("met3", "count"), 1)
    startup_meetings.meet(last=True)  # training starts: collectives run on untold
    assert startup_meetings._starting is None
    startup_meetings.meet()
    assert startup_meetings._met == 3


def test_a_rank_that_failed_while_the_job_started_ends_the_others(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _starting(monkeypatch, 1, store)
    # rank 0 speaks for the job: the others say only that it stopped
    startup_meetings.tell(DistInfo(0, 2), UsageError(NO_DATA))
    assert not store.check([job_key("failed", 0)])
    with pytest.raises(PeerStopped) as stopped:
        startup_meetings.meet()
    assert str(stopped.value) == (
        "rank 1: rank 0 of this job stopped (it failed while the job started); its own "
        "message says why"
    )
    _starting(monkeypatch, 0, store, met=1)  # rank 0 waits for rank 1 at the next
    tell_job(1, UsageError(NO_DATA))
    with pytest.raises(
        PeerFailed, match=re.escape(f"rank 1 of this job failed: UsageError: {NO_DATA}")
    ):
        startup_meetings.meet()
    # once training started, rank 0 tells no one (a collective fails when it stops)
    store.delete_key(job_key("stopped", 0))
    monkeypatch.setattr(startup_meetings, "_starting", None)
    startup_meetings.tell(DistInfo(0, 2), UsageError(NO_DATA))
    assert not store.check([job_key("stopped", 0)])


def test_a_rank_that_failed_while_the_job_started_lets_rank_0_speak_first(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It exited at once, and torchrun, seeing it exit, now and then stopped rank 0 between
    its error and its line: rank 0 said nothing at all."""
    monkeypatch.setattr(startup_meetings, "PART_WAIT_S", 0.5)
    monkeypatch.setattr(startup_meetings, "_told", None)
    info = _starting(monkeypatch, 1, store)
    startup_meetings.tell(info, UsageError(NO_DATA))
    started = time.monotonic()
    startup_meetings.part(info)  # rank 0 never speaks: at most PART_WAIT_S
    assert 0.5 <= time.monotonic() - started < 3
    startup_meetings.tell(info, UsageError(NO_DATA))
    startup_meetings.part(DistInfo(0, 2))  # rank 0, about to say its line
    started = time.monotonic()
    startup_meetings.part(info)
    assert time.monotonic() - started < 0.4


# rank 1 of 2: joins the process group, then waits for rank 0 in a collective
PEER = """
import sys, datetime, torch.distributed as dist
print('imported', flush=True)  # torch: seconds on a busy machine, rank 0 waits from here
dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{sys.argv[1]}', rank=1,
                        world_size=2, timeout=datetime.timedelta(seconds=60))
dist.barrier()
"""


@pytest.mark.slow  # a second process: importing torch
def test_a_run_that_fails_while_it_is_built_leaves_the_process_group(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 0 in this process, refused after it joined the group (a missing init_from run):
    a script that catches make_run's error used to keep the group, its connections and gloo
    threads (`ganhub.train` left it only in its exit hook)."""
    import torch.distributed as dist

    from ganhub.config.resolve import resolve
    from ganhub.wiring import make_run

    port = _free_port()
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port), "GANHUB_DIST_TIMEOUT": "60"}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)  # no torchrun store
    # what joining a job sets in this process
    monkeypatch.setattr(distributed, "_joined", None)
    monkeypatch.setattr(interrupts, "_joined", False)
    monkeypatch.setattr(interrupts, "_last_words", list(interrupts._last_words))
    peer = subprocess.Popen(
        [sys.executable, "-c", PEER, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert peer.stdout is not None and peer.stdout.readline() == b"imported\n"
        with pytest.raises(ConfigError, match="init_from=nowhere: no such run directory"):
            make_run(resolve([*TOY, "init_from=nowhere"]))
        assert not dist.is_initialized()
        tasks = os.listdir("/proc/self/task")
        names = [Path(f"/proc/self/task/{t}/comm").read_text().strip() for t in tasks]
        assert not [n for n in names if "gloo" in n], names
        _, said = peer.communicate(timeout=30)
        assert b"Connection closed by peer" in said  # its collective failed at once: rank 0 left
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        peer.kill()
        peer.wait()
