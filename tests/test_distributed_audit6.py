"""`ganhub.train(...)` under torchrun tells the other ranks when one fails before it joins the
job, as `ganhub run` does: they waited for it for the whole GANHUB_DIST_TIMEOUT (30 minutes by
default) on another node, or torchrun ended them without a word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_distributed import _torchrun

TOY = ["plugin=toy2d", "preset=tiny", "device=cpu", "trainer.steps=4", "trainer.progress=false",
       "loggers=[jsonl]", "name=f"]  # fmt: skip


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
