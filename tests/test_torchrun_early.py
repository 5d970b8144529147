"""A torchrun rank that fails before it joins the job (a device, a path or an environment
variable only its node refuses), and ranks that wait too long for each other.

A rank that failed before `distributed.init` told no one: the others sat in torch's rendezvous
(C++, deaf to torchrun's SIGTERM) until torchrun killed them 30 s later (SIGKILL, no line), or,
on another node, for torch's whole 30 (gloo) or 10 (NCCL) minutes. Now it says why in
torchrun's store and the others end at once, naming it. How long ranks wait for each other is
GANHUB_DIST_TIMEOUT, which a rank that waited that long names in its line."""

from __future__ import annotations

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
from ganhub.engine.distributed import DistInfo, PeerFailed
from ganhub.errors import ConfigError, TrainingError, UsageError
from ganhub.interrupts import job_key, terminate_unwinds

from .test_distributed import _torchrun

TOY = ["plugin=toy2d", "preset=tiny", "device=cpu", "trainer.steps=20", "trainer.progress=false",
       "loggers=[jsonl]", "name=f"]  # fmt: skip
NO_DEVICE = "ConfigError: device=cuda:99: "  # CUDA is not available, or only N devices are


def _script(folder: Path, patch: str) -> str:
    """A `ganhub run` entry point with `patch` applied first (in every process)."""
    path = folder / "check.py"
    path.write_text(f"import os, sys, time\nfrom ganhub.cli import main\nargs = sys.argv[1:]\n"
                    f"{patch}\nmain(['run', *args])\n")  # fmt: skip
    return str(path)


# rank 1 alone asks for a device its node does not have: refused before it joins the job
ONE_BAD_DEVICE = "if os.environ['RANK'] == '1':\n    args.append('device=cuda:99')\n"


def _said(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("ganhub: ")]


@pytest.mark.slow
def test_a_rank_that_fails_before_it_joins_is_named_by_the_others_at_once(workdir: Path) -> None:
    proc = _torchrun(_script(workdir, ONE_BAD_DEVICE), *TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    # rank 0 said nothing, and torchrun killed it (SIGKILL) 30 s after rank 1 ended, which
    # itself had waited 30 s for rank 0 to refuse the same config; now rank 0 ends itself
    assert "SIGKILL" not in out and re.search(r"rank +: 0 .*\n +exitcode +: 1 ", out), out
    rank0 = [line for line in _said(out) if "rank 0" in line]
    assert len(rank0) == 1 and rank0[0].startswith(
        "ganhub: error: rank 0: rank 1 of this job failed: " + NO_DEVICE
    ), out
    assert not (workdir / "runs").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_node_that_fails_before_it_joins_ends_the_other_node_s_ranks(workdir: Path) -> None:
    """Two torchrun agents (two nodes): the other node's torchrun never stops its rank, which
    waited in torch's rendezvous for 30 minutes."""
    check = _script(
        workdir, "if os.environ['GROUP_RANK'] == '1':\n    args.append('device=cuda:99')"
    )
    port, torchrun = _free_port(), os.path.join(os.path.dirname(sys.executable), "torchrun")
    command = [torchrun, "--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d",
               f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=early", check, *TOY]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = []
    try:
        for node in nodes:
            outs.append(node.communicate(timeout=120)[0])
    finally:
        for node in nodes:  # a rank left waiting would wait for 30 minutes
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
    out = "\n".join(outs)
    assert all(node.returncode != 0 for node in nodes), out
    error = "ganhub: error: rank 0: rank 1 of this job failed: " + NO_DEVICE
    rank0 = [line for line in _said(out) if "rank 0" in line]
    assert len(rank0) == 1 and rank0[0].startswith(error), out


@pytest.mark.slow
def test_a_rank_that_waits_past_the_timeout_says_which_option_sets_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 0 evaluates alone for longer than GANHUB_DIST_TIMEOUT: rank 1, waiting at the
    next collective, says so in one line naming it (torch's timeout was not settable)."""
    check = _script(workdir, (
        "from ganhub.engine.run import Run\n"
        "evaluate = Run.evaluate\n"
        "def slow(run):\n"
        "    if os.environ['RANK'] == '0':\n"
        "        time.sleep(20)  # ends when torchrun stops this rank\n"
        "    return evaluate(run)\n"
        "Run.evaluate = slow\n"
    ))  # fmt: skip
    monkeypatch.setenv("GANHUB_DIST_TIMEOUT", "3")
    proc = _torchrun(check, *TOY, "trainer.eval_every=4")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    waited = (
        "waited 3 s at a collective for another rank of this job, the longest torch waits: a "
        "rank was busy alone for longer (rank 0 alone evaluates"
    )
    said = _said(out)
    assert any(line.startswith(f"ganhub: error: rank 1: {waited}") for line in said), out
    assert any(line.endswith("; GANHUB_DIST_TIMEOUT=SECONDS sets how long ranks wait") for
               line in said), out  # fmt: skip


# -- the timeout's variable, and the wait for every rank to come -------------------------------


def _torchrun_env(monkeypatch: pytest.MonkeyPatch, **more: str) -> None:
    env = {"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    for key, value in {**env, **more}.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf", "nan"])
def test_a_bad_timeout_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    _torchrun_env(monkeypatch, GANHUB_DIST_TIMEOUT=value)
    with pytest.raises(UsageError) as caught:
        DistInfo.from_env()
    assert str(caught.value) == (
        f"GANHUB_DIST_TIMEOUT={value} must be a number of seconds > 0 (e.g. 3600)"
    )


def test_the_timeout_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _torchrun_env(monkeypatch, GANHUB_DIST_TIMEOUT=" 7200 ")
    assert DistInfo.from_env().timeout_s == 7200.0
    monkeypatch.delenv("GANHUB_DIST_TIMEOUT")
    assert DistInfo.from_env().timeout_s is None  # torch's own default


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """torchrun's key-value store, as its agent serves it to rank 1 of 2; its error file."""
    import torch.distributed as dist

    port = _free_port()
    server = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    _torchrun_env(monkeypatch, MASTER_PORT=str(port), TORCHELASTIC_USE_AGENT_STORE="True",
                  TORCHELASTIC_RUN_ID="job", TORCHELASTIC_RESTART_COUNT="0",
                  TORCHELASTIC_ERROR_FILE=str(tmp_path / "error.json"))  # fmt: skip
    monkeypatch.setattr(interrupts, "_joined", False)
    monkeypatch.setattr(interrupts, "_last_words", [interrupts._failed_early])
    monkeypatch.setattr(interrupts, "_try", 0)  # the job's own keys, whatever ran before
    monkeypatch.setattr(interrupts, "_said", False)
    return server


def test_a_rank_that_fails_before_it_joins_says_so_in_the_store(store: Any) -> None:
    with pytest.raises(ConfigError) as caught, terminate_unwinds():
        raise ConfigError("device=cuda:1: CUDA is not available here; use device=cpu or auto")
    assert str(caught.value).startswith("rank 1: device=cuda:1: CUDA")  # which rank said it
    line = store.get(job_key("failed", 1)).decode()
    assert line == "ConfigError: device=cuda:1: CUDA is not available here; use device=cpu or auto"
    error_file = Path(os.environ["TORCHELASTIC_ERROR_FILE"])
    assert f'"rank 1: {line}"' in error_file.read_text()
    # once joined, the engine's own hook speaks (rank 0, say, speaks for the job)
    store.delete_key(job_key("failed", 1))
    interrupts.joined_job()
    with pytest.raises(TrainingError), terminate_unwinds():
        raise TrainingError("x")
    assert not store.check([job_key("failed", 1)])


def test_a_rank_waits_for_every_rank_to_come_or_one_to_fail(store: Any) -> None:
    store.add(job_key("arrived", "count"), 2)  # ranks 1 and 2 came
    started = time.monotonic()
    distributed._arrive(DistInfo(0, 3, timeout_s=60), "gloo")  # the last to come: no wait
    assert time.monotonic() - started < 1
    interrupts.tell_job(2, ConfigError("data.path='/data' does not exist"))
    with pytest.raises(PeerFailed) as caught:
        distributed._arrive(DistInfo(0, 5, timeout_s=60), "gloo")  # ranks 3 and 4 never do
    assert str(caught.value) == (
        "rank 0: rank 2 of this job failed: ConfigError: data.path='/data' does not exist"
    )


def test_a_rank_that_never_comes_is_named_after_the_timeout(store: Any) -> None:
    with pytest.raises(TrainingError) as caught:
        distributed._arrive(DistInfo(1, 3, timeout_s=0.3), "gloo")
    assert str(caught.value) == (
        "rank 1: waited 0.3 s for ranks 0, 2 of this job to start: they are slow to start "
        "(imports, data, a busy node) or hang; GANHUB_DIST_TIMEOUT=SECONDS sets how long ranks "
        "wait"
    )
