"""Runs that only a CUDA device can make (skipped elsewhere; benchmarks/gpu_speed.sh runs them
on a lent GPU): precision=16 with its gradient scaler."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.wiring import make_run

from .conftest import TINY_TOY

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize(
    "overrides",
    [
        [*TINY_TOY, "tricks=[n_critic]"],
        ["plugin=stylegan", "preset=tiny", "trainer.progress=false"],
        ["plugin=cyclegan", "preset=tiny", "trainer.progress=false"],
    ],
    ids=["n_critic", "stylegan", "cyclegan"],
)
def test_fp16_runs_where_an_optimizer_steps_twice_a_step_on_a_gpu(
    overrides: list[str], workdir: Path
) -> None:
    """precision=16 crashed in these ("step() has already been called since the last
    update()"): the grad scaler is updated after every optimizer step (its exactness is
    tested on the CPU, tests/test_loop.py)."""
    run = make_run(resolve([*overrides, "device=cuda", "precision=16", "loggers=[]"]))
    before = [p.detach().clone() for p in run.system.parameters()]
    train_steps(run, run.batches(), 4)
    losses = run.stats.flush()
    assert losses and all(math.isfinite(v) for k, v in losses.items() if k.startswith("loss/"))
    assert any(not torch.equal(p, b) for p, b in zip(run.system.parameters(), before))
    run.close()
