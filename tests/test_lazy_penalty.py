"""Lazy R1/R2 regularise what the step's D phases judged: every discriminator (cyclegan's
two), and under trainer.grad_accum each micro-batch once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY


def _penalised(keys: list[str]) -> tuple[Any, list[list[Any]]]:
    """Train a run from `keys`, recording the pairs each lazy penalty call received."""
    run = make_run(resolve(keys))
    (r1,) = [t for t in run.tricks if t.name == "r1"]
    calls: list[list[Any]] = []
    penalty = r1.penalty

    def recording(pairs: list[Any], ctx: Any) -> torch.Tensor:
        calls.append(list(pairs))
        return penalty(pairs, ctx)

    r1.penalty = recording
    fit(run)
    return run, calls


def test_lazy_r1_penalises_every_discriminator(workdir: Path) -> None:
    """Each D phase replaced the pairs the last one kept: only cyclegan's D_B was penalised,
    while the lazy lr/betas correction slowed D_A too."""
    run, calls = _penalised([
        "plugin=cyclegan", "preset=tiny", "model.norm=instance", "trainer.steps=2",
        "tricks=[r1]", "trick.r1.interval=2", "eval.metrics=[]", "trainer.progress=false",
        "loggers=[]",
    ])  # fmt: skip
    assert len(calls) == 1  # step 2 of 2, interval 2
    judged = {id(pair.discriminator) for pair in calls[0]}
    assert judged == {id(d) for d in run.system.discriminators()} and len(judged) == 2


def test_lazy_r1_under_grad_accum_penalises_each_micro_batch_once(workdir: Path) -> None:
    """The last micro-batch's pairs were penalised once per micro-batch; the others never."""
    keys = [*TINY_TOY, "tricks=[r1]", "trick.r1.interval=2", "trainer.steps=2",
            "trainer.grad_accum=2"]  # fmt: skip
    run, calls = _penalised(keys)
    assert len(calls) == 2  # the lazy phase of step 2, once per micro-batch
    first, second = (call[0].real for call in calls)
    assert len(first) == len(second) == run.config.trainer.batch_size // 2
    assert not torch.equal(first, second)  # two halves of the batch, not one twice


def test_stylegan_every_step_r1_differentiates_the_d_loss_forward(workdir: Path) -> None:
    """StyleGAN's D phase kept no graph to its reals: r1 at interval=1 ran D a second time,
    on another ADA draw than the loss saw. Now D runs on real and fake in the D phase and on
    fake in the G phase: three forwards a step."""
    from .plugins.test_stylegan import TINY

    run = make_run(resolve([*TINY, "trick.r1.interval=1", "trainer.steps=2"]))
    forwards: list[int] = []
    run.system.D.register_forward_hook(lambda *_: forwards.append(1))
    fit(run)
    assert len(forwards) == 3 * 2
