"""Fault injection: `ganhub run` killed with SIGKILL at random moments and inside checkpoint
writes, resumed with `resume=` (the resumed processes killed too) until it finishes, ends with
weights bit-identical to an uninterrupted run of the same config.

The harness is `benchmarks/fault_injection.py` (which runs more cycles and prints a table); here a
few seeded cycles on toy2d and one on dcgan (preset=tiny). Each process starts Python and torch
(~3 s on a shared 2-core CPU), so the runs that no kill is planned for run in this process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import TextIO

import pytest
import torch

pytestmark = pytest.mark.slow


def _harness() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fault_injection.py"
    spec = importlib.util.spec_from_file_location("ganhub_fault_injection", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


faults = _harness()


def in_process(argv: list[str], cwd: Path, log: TextIO) -> int:
    """`ganhub ARGV` run in this process, as the harness's processes run it (in `cwd`, one
    thread, its output in `log`): its exit code, a traceback in `log` for an exception."""
    from ganhub.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the processes' OMP_NUM_THREADS=1
    try:
        with (
            contextlib.chdir(cwd),
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            try:
                main(argv)
            except SystemExit as exc:
                return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except Exception:
                traceback.print_exc(file=log)
                return 1
            return 0
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy2d(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The uninterrupted toy2d run every cycle is compared with, and the folder it ran in."""
    workdir = tmp_path_factory.mktemp("toy2d")
    return workdir, faults.reference(faults.DOMAINS["toy2d"], workdir)


def _check(cycle, kills: int) -> None:  # type: ignore[no-untyped-def]
    summary = (
        f"killed {' '.join(cycle.events) or 'never'}, resumed from {cycle.resume_points}, "
        f"restarts {cycle.restarts}, problems {cycle.problems}"
    )
    assert not cycle.problems, summary
    assert sum(cycle.kills.values()) >= kills, summary
    assert all(same for _, same in cycle.resume_points), summary  # every checkpoint resumed from
    assert cycle.exact and cycle.lost_steps == 0, summary
    assert cycle.fallbacks == 0, summary  # no resume met a damaged checkpoint
    assert cycle.torn_lines == 0, summary  # metrics.jsonl lines are whole


# the kinds of kill, in order (the plan's name seeds the moments): see benchmarks/fault_injection.py
PLANS = {
    "write-random": ("write", "random"),
    "random-write": ("random", "write"),
    "write-write": ("write", "write"),
}


@pytest.mark.parametrize("seed", list(PLANS))
def test_toy2d_killed_and_resumed_ends_bit_exact(toy2d, seed: str) -> None:  # type: ignore[no-untyped-def]
    workdir, ref = toy2d
    args, name = faults.DOMAINS["toy2d"], f"toy2d-{seed}"
    cycle = faults.run_cycle(args, workdir, ref, seed, plan=PLANS[seed], name=name, last=in_process)
    _check(cycle, kills=1)


def test_killed_before_any_checkpoint_starts_again(toy2d) -> None:  # type: ignore[no-untyped-def]
    """A kill at a random moment of the first process's life (startup included), then one
    inside a checkpoint write: a run with nothing saved is started again, then resumed."""
    workdir, ref = toy2d
    args, plan = faults.DOMAINS["toy2d"], ("early", "write")
    cycle = faults.run_cycle(args, workdir, ref, 7, plan=plan, name="toy2d-early", last=in_process)
    _check(cycle, kills=1)


def test_dcgan_killed_and_resumed_ends_bit_exact(tmp_path: Path) -> None:
    args = faults.DOMAINS["dcgan"]
    ref = faults.reference(args, tmp_path)
    cycle = faults.run_cycle(
        args, tmp_path, ref, 0, plan=("write", "random"), name="dcgan", last=in_process
    )
    _check(cycle, kills=1)


# A crash at one exact point of `checkpoint.save`: when a new step directory is renamed into
# place (os._exit: no cleanup, as kill -9).
CRASH_AT_RENAME = """
import os, re, sys
import ganhub.engine.checkpoint as checkpoint
rename = os.replace
def replace(src, dst):
    if re.fullmatch(r"[.]step_[0-9]+[.]tmp", os.path.basename(str(src))):
        os._exit(137)
    return rename(src, dst)
checkpoint.os.replace = replace
from ganhub.cli import main
main(sys.argv[1:])
"""


def test_a_crash_while_re_saving_a_step_leaves_a_checkpoint(tmp_path: Path) -> None:
    """Resuming a finished run saves its last step again; a crash in that save must leave a
    checkpoint to resume from, even when only one is kept. The intact step is kept as it is
    (nothing is renamed, so the crash point is never reached), never removed to be rewritten."""
    args = [*faults.DOMAINS["toy2d"], "trainer.keep_checkpoints=1", "name=resaved"]
    args = [a for a in args if not a.startswith("trainer.steps=")] + ["trainer.steps=20"]
    env = faults.child_env()

    def ganhub(*argv: str) -> tuple[int, str]:  # not killed: in this process
        with (tmp_path / "ganhub.log").open("w+") as log:
            code = in_process(list(argv), tmp_path, log)
            log.seek(0)
            return code, log.read()

    assert ganhub("run", *args)[0] == 0
    again = subprocess.run(  # the crash needs a process of its own
        [sys.executable, "-c", CRASH_AT_RENAME, "run", "resume=runs/resaved"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr  # the same step, intact: not written again
    assert (tmp_path / "runs/resaved/checkpoints/step_0000020/model.safetensors").is_file()
    code, text = ganhub("run", "resume=runs/resaved")
    assert code == 0, text
