"""A torchrun job one of whose ranks fails: torchrun stops the others (SIGTERM) as soon as it
exits, often before their next collective fails. Rank 0 then said only `ganhub: terminated`,
and the failing rank's line did not say which rank it was; now the failing rank names itself
and tells the others through torchrun's own store, and a rank torchrun stops says which rank
failed and why (torchrun's failure report shows the error too, not a link)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ganhub import interrupts
from ganhub.engine import distributed
from ganhub.engine.distributed import DistInfo, PeerFailed, PeerStopped, _peers
from ganhub.errors import TrainingError, UsageError
from ganhub.interrupts import Terminated, terminate_unwinds

from .test_distributed import _torchrun

BAD = "cannot read image 'faces/0412.png': image file is truncated"
TOY = ["plugin=toy2d", "preset=tiny", "device=cpu", "trainer.steps=20", "trainer.progress=false",
       "loggers=[jsonl]", "name=f"]  # fmt: skip
GLOO = "[/gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:58528. This..."


def _script(folder: Path, patch: str) -> str:
    """A `ganhub run` entry point with `patch` applied first (in every process)."""
    path = folder / "check.py"
    path.write_text(f"import os, sys, time\nfrom ganhub.cli import main\n{patch}\n"
                    "main(['run', *sys.argv[1:]])\n")  # fmt: skip
    return str(path)


@pytest.mark.slow
def test_rank_0_stopped_by_torchrun_says_which_rank_failed_and_why(workdir: Path) -> None:
    """Rank 0 is busy alone (a slow file system, a tracker reaching its server) while rank 1
    fails in its first step: torchrun stops rank 0 before any collective could fail."""
    check = _script(workdir, (
        "from ganhub.engine import loop\n"
        "from ganhub.engine.run import Run\n"
        "from ganhub.errors import UsageError\n"
        "write, step = Run.write_config, loop.train_step\n"
        "def slow(run):\n"
        "    time.sleep(120)  # ends when torchrun stops this rank\n"
        "    write(run)\n"
        "def failing(run, batches):\n"
        "    if os.environ['RANK'] == '1':  # the image only rank 1's share holds\n"
        f"        raise UsageError({BAD!r})\n"
        "    step(run, batches)\n"
        "Run.write_config, loop.train_step = slow, failing\n"
    ))  # fmt: skip
    started = time.monotonic()
    proc = _torchrun(check, *TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and time.monotonic() - started < 100, out
    said = [line for line in out.splitlines() if line.startswith("ganhub: ")]
    assert said == [
        f"ganhub: error: rank 1: {BAD}",  # was the error alone: which rank?
        "ganhub: terminated: torchrun stopped rank 0 because rank 1 of this job failed: "
        f"UsageError: {BAD}",  # was "ganhub: terminated"
    ], out
    # torchrun's own report names the error where it said "To enable traceback see: <link>"
    assert f"traceback : rank 1: UsageError: {BAD}\n" in out, out
    assert "[rank1]" not in out and "[rank0]" not in out, out  # no worker's traceback
    assert not (workdir / "runs/f").exists()  # nothing resumable: removed as before


@pytest.mark.slow
def test_a_rank_that_fails_while_setting_up_is_named_by_rank_0(workdir: Path) -> None:
    """Before the run directory exists (nowhere to leave a file) rank 0 said only that
    'another process of this job stopped' (or, stopped first by torchrun, 'terminated')."""
    check = _script(workdir, (
        "from ganhub.engine import run\n"
        "from ganhub.errors import UsageError\n"
        "prepare = run.prepare_system\n"
        "def failing(*args):\n"
        "    if os.environ['RANK'] == '1':  # a node without the data\n"
        "        raise UsageError(\"data.path='/data/faces' does not exist\")\n"
        "    return prepare(*args)\n"
        "run.prepare_system = failing\n"
    ))  # fmt: skip
    proc = _torchrun(check, *TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    error = "UsageError: data.path='/data/faces' does not exist"
    assert "ganhub: error: rank 1: data.path='/data/faces' does not exist\n" in out, out
    rank0 = [line for line in out.splitlines() if "rank 0" in line and "ganhub" in line]
    assert len(rank0) == 1, out
    said = (
        rf"ganhub: (error: rank 0: rank 1 of this job failed|terminated: torchrun stopped rank "
        rf"0 because rank 1 of this job failed): {re.escape(error)}"
    )
    assert re.fullmatch(said, rank0[0]), out


@pytest.mark.slow
def test_a_collective_that_times_out_says_so_not_that_a_process_stopped(workdir: Path) -> None:
    """Rank 0 evaluates alone for longer than a collective waits (torch's 30 minutes, here 2
    seconds): rank 1 said 'another process of this job stopped (Timed out waiting ...); its
    own message says why', and rank 0 that rank 1 had stopped; neither said why."""
    check = _script(workdir, (
        "import datetime\n"
        "import torch.distributed as dist\n"
        "from ganhub.engine.run import Run\n"
        "init, evaluate = dist.init_process_group, Run.evaluate\n"
        "def short(*args, **kwargs):\n"
        "    return init(*args, **kwargs, timeout=datetime.timedelta(seconds=2))\n"
        "def slow(run):\n"
        "    if os.environ['RANK'] == '0':\n"
        "        time.sleep(6)\n"
        "    return evaluate(run)\n"
        "dist.init_process_group, Run.evaluate = short, slow\n"
    ))  # fmt: skip
    proc = _torchrun(check, *TOY, "trainer.eval_every=4", "trainer.checkpoint_every=2")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    waited = "waited 2 s at a collective for another rank of this job, the longest torch waits"
    assert f"ganhub: error: rank 1: {waited}" in out, out
    record = json.loads((workdir / "runs/f/failed.json").read_text())
    assert record["rank"] == 1 and record["error"].startswith(
        f"rank 1: CollectiveTimeout: {waited}: a rank was busy alone for longer (rank 0 alone "
        "evaluates"
    ), record
    assert "of this job stopped" not in out, out


def test_a_gloo_timeout_is_this_rank_s_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "_shared", None)
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    gloo = (
        "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] "
        "Timed out waiting 1800000ms for recv operation to complete"
    )
    with pytest.raises(distributed.CollectiveTimeout) as caught, _peers():
        raise RuntimeError(gloo)
    assert str(caught.value) == (  # rank 0 waited: another rank was slow, not rank 0's work
        "waited 30 min at a collective for another rank of this job, the longest torch waits: "
        "another rank was slower by that much (its data, say), or hangs; "
        "GANHUB_DIST_TIMEOUT=SECONDS sets how long ranks wait"
    )
    assert isinstance(caught.value, TrainingError) and not isinstance(caught.value, PeerStopped)


# -- torchrun's store: what a failing rank says there, and what the others read -----------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Any:
    """torchrun's key-value store, as its agent serves it to the ranks it starts."""
    import torch.distributed as dist

    port = _free_port()
    server = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    env = {"TORCHELASTIC_USE_AGENT_STORE": "True", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port), "TORCHELASTIC_RUN_ID": "job",
           "TORCHELASTIC_RESTART_COUNT": "0"}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(distributed, "_shared", None)
    monkeypatch.setattr(distributed, "_joined", DistInfo(0, 4))  # as `init` on rank 0
    return server


def test_a_failing_rank_tells_the_others_through_torchrun_s_store(store: object) -> None:
    distributed.leave_failure(TrainingError("loss became NaN\nat step 7"), DistInfo(2, 4))
    distributed.leave_failure(PeerStopped("rank 3: another process stopped"), DistInfo(3, 4))
    distributed.leave_failure(UsageError("rank 0 speaks for the job"), DistInfo(0, 4))
    assert distributed.failed_ranks(DistInfo(0, 4)) == [(2, "TrainingError: loss became NaN")]
    assert distributed.failed_ranks(DistInfo(2, 4)) == []  # its own is not another's
    with pytest.raises(PeerFailed) as failed, _peers():  # before any run directory exists
        raise RuntimeError(GLOO)
    assert str(failed.value) == "rank 0: rank 2 of this job failed: TrainingError: loss became NaN"


def test_what_another_rank_said_in_the_store_is_one_short_line(store: Any) -> None:
    store.set(distributed._store_key(1), "A\x1b[31m\nB " + "y" * 5000)
    store.set(distributed._store_key(2), b"\x80 not utf-8")
    found = dict(distributed.failed_ranks(DistInfo(0, 3)))
    assert found[1].startswith("A\\x1b[31m B yyy") and len(found[1]) == 300
    assert found[2] == "\ufffd not utf-8"  # shown, not decoded as something else


def test_an_unreachable_store_is_nothing_to_read_and_never_hangs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {"TORCHELASTIC_USE_AGENT_STORE": "True", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(distributed, "_shared", None)
    started = time.monotonic()
    distributed.leave_failure(TrainingError("x"), DistInfo(1, 2))
    assert distributed.failed_ranks(DistInfo(0, 2)) == []
    # a hang waits out torch's store timeout (300 s by default); a few tries of
    # STORE_TIMEOUT_S each take longer than 4 of them on a loaded machine (CI ran 2 workers)
    assert time.monotonic() - started < 10 * distributed.STORE_TIMEOUT_S + 10


# -- the error that ends a rank's command ---------------------------------------------------------


@pytest.fixture
def joined(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Rank 1 of 2 joined a torchrun job (no store); torchrun's error file for it."""
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(tmp_path / "error.json"))
    monkeypatch.setattr(interrupts, "_last_words", [])
    monkeypatch.setattr(distributed, "_shared", None)
    monkeypatch.setattr(distributed, "_joined", DistInfo(1, 2))
    interrupts.before_exit(distributed._last_words)
    interrupts.before_exit(distributed._last_words)  # once is enough
    return tmp_path / "error.json"


def test_a_rank_other_than_0_names_itself_in_its_error(joined: Path) -> None:
    with pytest.raises(UsageError) as caught, terminate_unwinds():
        raise UsageError(BAD)
    assert str(caught.value) == f"rank 1: {BAD}"  # once, though the hook is registered twice
    report = json.loads(joined.read_text())["message"]
    assert report["extraInfo"]["py_callstack"] == f"rank 1: UsageError: {BAD}"
    stopped = PeerStopped("rank 1: rank 0 of this job stopped (x); its own message says why")
    with pytest.raises(PeerStopped) as caught, terminate_unwinds():
        raise stopped
    assert str(caught.value).startswith("rank 1: rank 0 of this job stopped")
    with pytest.raises(KeyboardInterrupt), terminate_unwinds():
        raise KeyboardInterrupt


def test_rank_0_speaks_for_the_job_as_one_process_does(
    joined: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(distributed, "_joined", DistInfo(0, 2))
    with pytest.raises(UsageError) as caught, terminate_unwinds():
        raise UsageError("run directory 'runs/lk' is being trained by process 7")
    assert str(caught.value) == "run directory 'runs/lk' is being trained by process 7"
    assert distributed._last_words(Terminated()) is None  # no rank failed: 'terminated'


def test_a_hook_that_fails_never_replaces_the_command_s_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(interrupts, "_last_words", [])
    seen: list[BaseException] = []
    interrupts.before_exit(lambda error: 1 / 0)  # type: ignore[arg-type, return-value]
    interrupts.before_exit(lambda error: seen.append(error))  # type: ignore[func-returns-value]
    with pytest.raises(ValueError, match="mine"), terminate_unwinds():
        raise ValueError("mine")
    assert [str(e) for e in seen] == ["mine"]


def test_sigterm_says_a_hook_s_line_instead_of_the_usual_one(tmp_path: Path) -> None:
    code = (
        "import os, signal, sys, time\n"
        "from ganhub.interrupts import before_exit, terminate_unwinds\n"
        "before_exit(lambda e: 'ganhub: terminated: rank 1 failed' if sys.argv[1] else None)\n"
        "with terminate_unwinds(lambda: print('ganhub: terminated', file=sys.stderr)):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(5)\n"
    )
    for arg, line in (("x", "ganhub: terminated: rank 1 failed"), ("", "ganhub: terminated")):
        proc = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)  # fmt: skip
        assert proc.returncode == -signal.SIGTERM and proc.stderr == f"{line}\n", proc.stderr


def test_a_rank_torchrun_stops_names_the_rank_whose_file_it_finds(
    joined: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where there is no store (another launcher), the run directory still tells."""
    monkeypatch.setattr(distributed, "_joined", DistInfo(0, 4))
    monkeypatch.setattr(distributed, "_shared", (tmp_path, 4))
    distributed.leave_failure(TrainingError("shard 3 is unreadable"), DistInfo(3, 4))
    assert distributed._last_words(Terminated()) == (
        "ganhub: terminated: torchrun stopped rank 0 because rank 3 of this job failed: "
        "TrainingError: shard 3 is unreadable"
    )
    assert os.environ["TORCHELASTIC_ERROR_FILE"] and not joined.exists()  # not its own error


def test_a_run_torchrun_stopped_records_the_rank_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 0 stopped by SIGTERM (`Terminated`) with a checkpoint kept: failed.json said
    'Terminated'; it names the rank whose failure made torchrun stop the job."""
    from types import SimpleNamespace

    from ganhub.engine.failure import record_failure
    from ganhub.engine.rundir import RunDirectory, leave_rank_failure

    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    directory = RunDirectory.create(tmp_path, "r")
    monkeypatch.setattr(distributed, "_shared", (directory.path, 2))
    leave_rank_failure(directory.path, 1, TrainingError("loss became NaN"))
    checkpoint = directory.path / "checkpoints/step_0000004"
    run = SimpleNamespace(
        dist=DistInfo(0, 2), config=SimpleNamespace(trainer=SimpleNamespace(steps=20)),
        loggers=[], directory=directory, run_dir=directory.path, step=5, first_step=0,
        touched=True, files_before={}, last_checkpoint=checkpoint, first_checkpoint=None,
    )  # fmt: skip
    record_failure(run, Terminated())  # type: ignore[arg-type]
    record = json.loads((directory.path / "failed.json").read_text())
    assert record == {"step": 5, "rank": 1, "error": "rank 1: TrainingError: loss became NaN",
                      "steps": 20}  # fmt: skip
