"""toy2d's step equals benchmarks/plain_loops/toy2d.py's, which benchmarks/overhead.py times
against it: the same G, D and EMA generator after the same batches and noise, R1, EMA and
learning-rate schedule written out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganhub.engine.run import Run
from tests.plugins.plain_loops.helpers import assert_same_weights, overhead, train_both

pytestmark = pytest.mark.usefixtures("one_thread")

# small MLPs and batches; 10 steps of a 10-step run, so the schedule's decay (after step 7)
# changes the learning rates of the last steps
SMALL = ["trainer.batch_size=64", "trainer.steps=10", "data.n_samples=1000",
         "model.g_hidden=32", "model.d_hidden=32"]  # fmt: skip


def assert_same_run(run: Run, plain: Any) -> None:
    """G, D and the EMA generator of both sides are equal."""
    s = run.system
    assert_same_weights([("G", s.G, plain.G), ("D", s.D, plain.D), ("G_ema", s.G_ema, plain.G_ema)])


def test_steps_equal_the_plain_toy2d_loop(workdir: Path) -> None:
    """toy2d's defaults: R1 (gamma 0.01) every step, EMA 0.99 with warm-up, the learning rate
    decayed to a tenth after 70 % of the steps."""
    run, plain = train_both("toy2d", SMALL, steps=10)
    assert run.optimizers["D"].param_groups[0]["lr"] == pytest.approx(1e-4)  # the schedule ran
    assert_same_run(run, plain)


def test_lazy_r1_half_life_ema_and_cosine_schedule(workdir: Path) -> None:
    """Lazy R1 every 3 steps (its own D step, D's lr and betas corrected), a half-life EMA
    with ramp-up and a cosine schedule with warm-up."""
    run, plain = train_both("toy2d", [*SMALL, "trick.r1.gamma=10", "trick.r1.interval=3",
                                      "trick.ema.half_life_kimg=0.5", "trick.ema.rampup=0.5",
                                      "trick.lr_schedule.kind=cosine",
                                      "trick.lr_schedule.warmup_steps=2"], steps=10)  # fmt: skip
    assert_same_run(run, plain)


def top_level_ops(step: Any) -> int:
    """The operators `step()` dispatches from Python (not those they run inside)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(1 for event in prof.events() if event.cpu_parent is None)


def test_a_step_dispatches_few_ops_beyond_the_plain_loop(workdir: Path) -> None:
    """toy2d's step is dispatch-bound (about 4 ms for 256 points): what ganhub adds to the
    plain loop's 140 operators, the stats it logs (D(x), D(G(z)), D's win rate, the losses),
    costs 9 operators a step, not the 25 it took with no-op dtype casts, expanded 0-dim
    targets and a five-operator win rate."""
    from ganhub.engine.loop import train_step

    bench = overhead()
    run, plain = train_both("toy2d", SMALL, steps=2)
    batches = bench.fixed_batches(run, 3)
    stream = iter(batches)
    ours = top_level_ops(lambda: train_step(run, stream))
    theirs = top_level_ops(lambda: plain.step(batches[0]))
    assert ours - theirs <= 12, (ours, theirs)
