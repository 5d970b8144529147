"""Every textgan phase that steps an optimizer logs its gradient norm (`grad_norm/<phase>`),
which the training health monitor reads (D winning outright, exploding gradients).

textgan's phases (MLE or reconstruction, D, and the Gumbel-softmax or policy-gradient G) are
engine phases: the loop's `run_phase` does their backward and optimizer step and measures the
norm on logging steps. What it missed: a phase not due on a logging step, such as a lazy
regulariser every k steps (k dividing log_every: never) or the MLE phase when
adversarial.pretrain_steps ends between two logging steps (its last window logged loss/mle
and no grad_norm/mle)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import ganhub

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["plugin=textgan", "preset=tiny", "eval.metrics=[]", "loggers=[jsonl]",
        "trainer.progress=false", "trainer.log_every=2"]  # fmt: skip


def _records(tmp_path: Path, *keys: str) -> list[dict[str, float]]:
    """The training records (no evaluation) of a tiny run with `keys`."""
    summary = ganhub.train([*TINY, f"out_dir={tmp_path}", "name=run", *keys])
    lines = (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if any(k.startswith("loss/") for k in r)]


def _missing(records: list[dict[str, float]]) -> list[str]:
    """`step: phase` for each logged phase loss without a finite, positive gradient norm."""
    out = []
    for record in records:
        for key in (k for k in record if k.startswith("loss/")):
            norm = record.get(f"grad_norm/{key[5:]}")
            if not (isinstance(norm, float) and math.isfinite(norm) and norm > 0):
                out.append(f"{record['step']}: {key[5:]} ({norm})")
    return out


@pytest.mark.parametrize("estimator", ["gumbel", "rollout"])
def test_each_phase_logs_its_gradient_norm(tmp_path: Path, estimator: str) -> None:
    """MLE, D and the adversarial G (Gumbel-softmax; REINFORCE over rollouts) each log one."""
    records = _records(tmp_path, f"adversarial.estimator={estimator}", "adversarial.rollouts=1")
    assert {k for r in records for k in r if k.startswith("grad_norm/")} == {
        "grad_norm/mle", "grad_norm/D", "grad_norm/G"
    }  # fmt: skip
    assert _missing(records) == []


def test_phases_not_due_on_a_logging_step_log_their_gradient_norm(tmp_path: Path) -> None:
    """MLE ends at step 3 (between the logging steps 2 and 4) and a lazy R1 phase runs every
    2 steps (at even steps; logging steps are odd): each logs the norm of its last run."""
    records = _records(tmp_path, "trainer.steps=6", "adversarial.pretrain_steps=3",
                       "tricks=[r1]", "trick.r1.interval=2")  # fmt: skip
    assert {"loss/mle", "loss/Dr1"} <= {k for r in records for k in r}
    assert _missing(records) == []
