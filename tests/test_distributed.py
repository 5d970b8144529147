"""The same command under torchrun: 2 CPU processes, gloo, gradients averaged per phase."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest


def _torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc_per_node=2 --standalone ARGS`, one thread per process, captured."""
    torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun comes with torch"
    return subprocess.run(
        [torchrun, "--nproc_per_node=2", "--standalone", *args],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_torchrun_two_processes_train_in_lockstep(workdir: Path) -> None:
    check = workdir / "check.py"
    check.write_text(
        "import os, sys, torch, torch.distributed as dist\n"
        "from ganhub.config.resolve import resolve\n"
        "from ganhub.wiring import make_run\n"
        "from ganhub.engine import loop\n"
        "run = make_run(resolve(sys.argv[1:]))\n"
        "assert dist.get_backend() == 'gloo' and dist.get_world_size() == 2\n"
        "close = run.close\n"
        "run.close = lambda: None  # keep the group for the checks below\n"
        "summary = loop.fit(run)\n"
        "flat = torch.cat([p.detach().flatten() for p in run.system.parameters()])\n"
        "gathered = [torch.zeros_like(flat) for _ in range(2)]\n"
        "dist.all_gather(gathered, flat)\n"
        "assert torch.equal(gathered[0], gathered[1]), 'ranks diverged'\n"
        "print(f'rank {dist.get_rank()} ok steps={summary[\"steps\"]} index={run.data.position.index}', flush=True)\n"
        "close()\n"
        "names = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
        "assert not [n for n in names if 'gloo' in n], names  # the group is gone, its threads ended\n"
    )
    args = [
        "plugin=toy2d", "trainer.steps=20", "trainer.batch_size=16", "trainer.log_every=5",
        "trainer.progress=false", "trainer.checkpoint_every=10", "tricks=[ema,r1]", "model.g_hidden=16",
        "model.d_hidden=16", "data.n_samples=1000", "loggers=[jsonl]", "name=ddp", "device=cpu",
    ]  # fmt: skip
    proc = _torchrun(str(check), *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "rank 0 ok steps=20" in out and "rank 1 ok steps=20" in out
    # each rank read its own half of every epoch: 1000 points / 2 ranks / batch 16 = 31 batches
    assert "index=20" in out
    run_dir = workdir / "runs/ddp"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".lock",  # rank 0's lock (released; one writer per run directory)
        "checkpoints",
        "config.yaml",
        "given.json",
        "metrics.jsonl",
        "requires.json",
        "samples",
    ]
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len([ln for ln in lines if '"loss/D"' in ln]) == 4  # rank 0 alone logged, every 5 steps

    # a stopped run names the launch that continues it: torchrun again, not one process
    proc = _torchrun("-m", "ganhub", "run", "resume=runs/ddp", "trainer.steps=30",
                     "trainer.max_seconds=0.01")  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "stopped at step" in out, out
    expected = (
        "continue with: torchrun --standalone --nproc_per_node=2 -m ganhub run resume=runs/ddp"
    )
    assert expected in out, out
    # the same command resumes under torchrun
    proc = _torchrun("-m", "ganhub", "run", "resume=runs/ddp", "trainer.steps=30")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (run_dir / "checkpoints/step_0000030").is_dir()


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_both_at_the_next_logging_step(workdir: Path) -> None:
    """SIGTERM reaching rank 1 alone: it used to leave the loop at once, to wait in a
    checkpoint's gather while rank 0 waited in the next step's all-reduce (both hung)."""
    check = workdir / "check.py"
    check.write_text(
        "import faulthandler, os, signal, sys\n"
        "import torch.distributed as dist\n"
        "from ganhub.config.resolve import resolve\n"
        "from ganhub.wiring import make_run\n"
        "from ganhub.engine import loop\n"
        "faulthandler.dump_traceback_later(90, exit=True)  # a hang fails, it does not linger\n"
        "run = make_run(resolve(sys.argv[1:]))\n"
        "step = loop.train_step\n"
        "def signalled(run, batches):\n"
        "    step(run, batches)\n"
        "    if run.step == 7 and dist.get_rank() == 1:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)  # this rank alone, between two logs\n"
        "loop.train_step = signalled\n"
        "s = loop.fit(run)\n"
        "fields = (s['rank'], s['steps'], s['signal'], len(s['samples']))\n"
        "print('rank %d steps=%d signal=%s samples=%d' % fields, flush=True)\n"
    )
    args = [
        "plugin=toy2d", "trainer.steps=40", "trainer.batch_size=16", "trainer.log_every=5",
        "trainer.progress=false", "model.g_hidden=8", "model.d_hidden=8", "data.n_samples=1000",
        "loggers=[jsonl]", "name=sig", "device=cpu",
    ]  # fmt: skip
    proc = _torchrun(str(check), *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # both agreed at step 10, the logging step after the signal, and skipped the final samples
    for rank in (0, 1):
        assert f"rank {rank} steps=10 signal={int(signal.SIGTERM)} samples=0" in out, out
    assert "SIGTERM received by another process of this job" in out  # rank 0 says why it stops
    assert sorted(p.name for p in (workdir / "runs/sig/checkpoints").glob("step_*")) == [
        "step_0000010"
    ]


@pytest.mark.slow
def test_ada_has_one_p_moving_with_every_process_images(workdir: Path) -> None:
    """Each process kept its own p, moving with its own images only (half the reference
    speed with two processes, and the processes' p drifting apart)."""
    check = workdir / "check.py"
    check.write_text(
        "import sys\n"
        "import torch.distributed as dist\n"
        "from ganhub.config.resolve import resolve\n"
        "from ganhub.wiring import make_run\n"
        "from ganhub.engine.loop import train_steps\n"
        "run = make_run(resolve(sys.argv[1:]))\n"
        "ada = next(t for t in run.tricks if t.name == 'ada')\n"
        "ps = []\n"
        "for _ in range(4):\n"
        "    train_steps(run, run.batches(), 1)\n"
        "    ps.append(round(float(ada.p), 6))\n"
        "print('rank %d p=%s' % (dist.get_rank(), ps), flush=True)\n"
        "run.close()\n"
    )
    args = [
        "plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "tricks=[ada]",
        "trick.ada.interval=1", "trick.ada.p_init=0.5", "trick.ada.kimg=0.2", "loggers=[]",
        "eval.metrics=[]", "name=ada", "device=cpu",
    ]  # fmt: skip
    proc = _torchrun(str(check), *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    found = dict(re.findall(r"rank (\d) p=(\[[^\]]*\])", out))  # lines may interleave
    assert set(found) == {"0", "1"} and found["0"] == found["1"], out
    ps = [0.5, *json.loads(found["0"])]  # each adjustment: +-(2 x 8 images) / 200
    steps = [round(abs(b - a), 6) for a, b in itertools.pairwise(ps)]
    assert steps == [0.08] * 4, steps


@pytest.mark.slow
def test_a_run_rank_0_refuses_is_one_line_on_every_rank(workdir: Path) -> None:
    """Rank 0 refuses a locked run directory before it sends its path; rank 1, waiting for
    it, used to end in a gloo traceback of 40 lines."""
    import ganhub
    from ganhub.engine.lock import RunLock

    from .conftest import TINY_TOY

    ganhub.train([*TINY_TOY, "trainer.steps=1", "name=lk", "device=cpu"])
    lock = RunLock(workdir / "runs/lk")
    lock.acquire()  # as a run still training holds it
    try:
        proc = _torchrun("-m", "ganhub", "run", "resume=runs/lk", "trainer.steps=3")
    finally:
        lock.release()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    refused = f"ganhub: error: run directory 'runs/lk' is being trained by process {os.getpid()}"
    assert refused in out, out
    # rank 1 says so in one line, unless torchrun ended it first; never a worker's traceback
    assert "[rank1]" not in out, out
    said = r"ganhub: error: rank 1: rank 0 of this job stopped \(.+\); its own message says why"
    assert all(re.fullmatch(said, line) for line in out.splitlines() if "rank 1:" in line), out


def test_a_collective_that_fails_as_another_rank_stops_is_one_line() -> None:
    from ganhub.engine.distributed import PeerStopped, _peers

    gloo = (
        "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:561] Connection "
        "closed by peer [127.0.0.1]:58528. This is typically caused by a remote worker crashing."
    )
    with pytest.raises(PeerStopped) as caught, _peers():
        raise RuntimeError(gloo)
    assert str(caught.value) == (
        "rank 0: another process of this job stopped (Connection closed by peer "
        "[127.0.0.1]:58528); its own message says why"
    )
    with pytest.raises(ValueError), _peers():  # not a collective's failure: as it was
        raise ValueError("x")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"WORLD_SIZE": "2"},
            "WORLD_SIZE=2 is set but RANK, MASTER_ADDR, MASTER_PORT not: "
            "start every process with torchrun",
        ),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE=two must be a whole number >= 1"),
        (
            {"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "localhost", "MASTER_PORT": "29500"},
            "RANK=2 must be below WORLD_SIZE=2",
        ),
    ],
)
def test_a_partial_torchrun_environment_is_one_line_before_the_run_folder(
    cli, workdir: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:  # type: ignore[no-untyped-def]
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, _, err = cli("run", "plugin=toy2d", "trainer.steps=2")
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not (workdir / "runs").exists()


def test_the_continue_line_relaunches_as_the_run_was_launched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ganhub.console import resume_command
    from ganhub.engine.distributed import DistInfo

    env = {"WORLD_SIZE": "16", "RANK": "3", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "8",
           "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    info = DistInfo.from_env()
    assert (info.world, info.per_node) == (16, 8)
    run = {"run_dir": "runs/my run"}
    assert resume_command(run) == "ganhub run 'resume=runs/my run'"
    assert resume_command({**run, "world": 4, "per_node": 4}) == (
        "torchrun --standalone --nproc_per_node=4 -m ganhub run 'resume=runs/my run'"
    )
    assert resume_command({**run, "world": 16, "per_node": 8}).startswith(
        "torchrun --nnodes=2 --nproc_per_node=8 <this job's rendezvous options> -m ganhub run"
    )


def test_a_refused_config_is_said_once_not_once_per_rank(workdir: Path) -> None:
    """Every rank refuses the same command line: each printed the same line."""
    proc = _torchrun("-m", "ganhub", "run", "plugin=toy2d", "trainer.steps=abc")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    said = [line for line in out.splitlines() if line.startswith("ganhub: ")]
    assert said == ["ganhub: error: trainer.steps='abc': must be a whole number"], out  # fmt: skip
