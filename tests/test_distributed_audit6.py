"""torchrun ranks that fail while the job starts, told to the other ranks at once.

`ganhub.train(...)` did not tell the other ranks when one failed before it joined the job (as
`ganhub run` does): they waited for it for the whole GANHUB_DIST_TIMEOUT (30 minutes by
default) on another node, or torchrun ended them without a word. And a rank that failed after
it joined but before training started (building its models, reading its data, resuming) left
the others in a collective until its process ended (gloo) or for NCCL's whole timeout: now the
ranks meet in Python before each collective until training starts, and end as soon as one says
it failed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ganhub.engine import distributed
from ganhub.engine.distributed import CollectiveTimeout, DistInfo, PeerFailed, PeerStopped
from ganhub.errors import UsageError
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


# the failing rank's process outlives its error (a logger's thread, an exit handler): the
# other rank, waiting in a collective, ended only with it
LINGER = """
import os, sys, threading, time
from pathlib import Path
from ganhub.cli import main
from ganhub.engine import run
from ganhub.errors import UsageError
FAILS = {fails}
def linger():
    for _ in range(600):  # 60 s
        if Path('ended').exists():
            print(f'rank {{FAILS}} outlived the other rank', flush=True)
            return
        time.sleep(0.1)
def failing(*args):
    if os.environ['RANK'] == str(FAILS):
        threading.Thread(target=linger).start()  # not a daemon: the process waits for it
        raise UsageError({error!r})
    return {where}(*args)
{patch}
try:
    main(['run', *sys.argv[1:]])
finally:
    if os.environ['RANK'] != str(FAILS):
        Path('ended').touch()
        time.sleep(1)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fails", "where", "patch", "said"),
    [
        # between joining and the first collective: building the models
        (1, "prepare", "prepare = run.prepare_system\nrun.prepare_system = failing",
         f"ganhub: error: rank 0: rank 1 of this job failed: UsageError: {NO_DATA}"),
        # rank 0, after it sent the run directory, before the first step
        (0, "write", "write = run.Run.write_config\nrun.Run.write_config = failing",
         "ganhub: error: rank 1: rank 0 of this job stopped (it failed while the job started); "
         "its own message says why"),
    ],
)  # fmt: skip
def test_a_rank_that_fails_before_training_starts_ends_the_others_at_once(
    workdir: Path, fails: int, where: str, patch: str, said: str
) -> None:
    check = workdir / "check.py"
    check.write_text(LINGER.format(fails=fails, error=NO_DATA, where=where, patch=patch))
    proc = _torchrun(str(check), *TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert said in out.splitlines(), out
    assert f"rank {fails} outlived the other rank" in out, out  # the other did not wait for it
    assert not (workdir / "runs/f").exists()  # nothing resumable: removed as before


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
    return server


def _starting(monkeypatch: pytest.MonkeyPatch, rank: int, store: Any, met: int = 0) -> DistInfo:
    info = DistInfo(rank, 2, timeout_s=0.3)
    monkeypatch.setattr(distributed, "_starting", (info, store))
    monkeypatch.setattr(distributed, "_met", met)  # the meetings so far
    return info


def test_ranks_meet_before_each_collective_until_training_starts(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _starting(monkeypatch, 1, store)
    store.add(job_key("met1", "count"), 1)  # rank 0 came first: no wait
    distributed._meet()
    with pytest.raises(CollectiveTimeout, match=r"waited 0\.3 s at a collective"):
        distributed._meet()  # rank 0 never comes to the second
    store.add(job_key("met3", "count"), 1)
    distributed._meet(last=True)  # training starts: collectives run on untold
    assert distributed._starting is None
    distributed._meet()
    assert distributed._met == 3


def test_a_rank_that_failed_while_the_job_started_ends_the_others(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _starting(monkeypatch, 1, store)
    # rank 0 speaks for the job: the others say only that it stopped
    distributed._tell(DistInfo(0, 2), UsageError(NO_DATA))
    assert not store.check([job_key("failed", 0)])
    with pytest.raises(PeerStopped) as stopped:
        distributed._meet()
    assert str(stopped.value) == (
        "rank 1: rank 0 of this job stopped (it failed while the job started); its own "
        "message says why"
    )
    _starting(monkeypatch, 0, store, met=1)  # rank 0 waits for rank 1 at the next
    tell_job(1, UsageError(NO_DATA))
    with pytest.raises(
        PeerFailed, match=re.escape(f"rank 1 of this job failed: UsageError: {NO_DATA}")
    ):
        distributed._meet()
    # once training started, rank 0 tells no one (a collective fails when it stops)
    store.delete_key(job_key("stopped", 0))
    monkeypatch.setattr(distributed, "_starting", None)
    distributed._tell(DistInfo(0, 2), UsageError(NO_DATA))
    assert not store.check([job_key("stopped", 0)])
