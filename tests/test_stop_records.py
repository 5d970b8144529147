"""A run that stops before finishing logs why, and the steps since its last logging step.

Before, a stop between logging steps (Ctrl-C at step 1248 with log_every=100) lost the means
of steps 1201-1248 in every logger, and `ganhub report` could not say whether Ctrl-C, SIGTERM
or trainer.max_seconds stopped the run.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine import loop
from ganhub.engine.loop import fit
from ganhub.wiring import make_run

from .conftest import TINY_TOY
from .test_report_status import status_of

KEYS = ["trainer.steps=20", "trainer.log_every=5", "trainer.checkpoint_every=0",
        "trainer.sample_every=0", "trainer.eval_every=0"]  # fmt: skip
VOLATILE = ("time", "perf/")  # wall-clock values differ between any two runs


def records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith(VOLATILE)}


@contextmanager
def interrupt_at(step: int, signum: int) -> Iterator[None]:
    """Inside, `signum` is delivered to this process right after training step `step`."""
    original = loop.train_step

    def step_then_signal(run: Any, batches: Any) -> None:
        original(run, batches)
        if run.step == step:
            os.kill(os.getpid(), signum)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "train_step", step_then_signal)
        yield


def test_a_signal_between_logging_steps_logs_the_tail_and_the_signal_and_resumes_exactly(
    workdir: Path,
) -> None:
    fit(make_run(resolve([*TINY_TOY, *KEYS, "name=whole"])))
    with interrupt_at(7, signal.SIGINT):
        summary = fit(make_run(resolve([*TINY_TOY, *KEYS, "name=cut"])))
    assert summary["signal"] == signal.SIGINT and summary["steps"] == 7
    cut = records(workdir / "runs/cut")
    assert [r["step"] for r in cut] == [5, 7]
    tail = cut[-1]
    assert tail["stop/signal"] == float(signal.SIGINT)
    losses = [k for k in cut[0] if k.startswith("loss/")]
    assert losses and all(k in tail for k in losses)  # steps 6-7 were not lost
    assert status_of(workdir / "runs/cut")[0].startswith(
        "Stopped by SIGINT (Ctrl-C) at step 7 of 20 before finishing; ganhub run resume="
    )

    fit(make_run(resolve([f"resume={workdir / 'runs/cut'}"])))
    whole, resumed = records(workdir / "runs/whole"), records(workdir / "runs/cut")
    assert [r["step"] for r in resumed] == [5, 7] + [r["step"] for r in whole[1:]]
    # the tail's sums stayed pending in the checkpoint: step 10 averages steps 6-10 as before
    for a, b in zip(whole[1:], resumed[2:], strict=True):
        a, b = comparable(a), comparable(b)
        assert a.keys() == b.keys() and all(b[k] == pytest.approx(a[k], rel=1e-5) for k in a)
    assert status_of(workdir / "runs/cut")[0] == "Finished: trained to step 20 of 20."


def test_sigterm_and_max_seconds_are_named(workdir: Path) -> None:
    with interrupt_at(5, signal.SIGTERM):
        fit(make_run(resolve([*TINY_TOY, *KEYS, "name=term"])))
    last = records(workdir / "runs/term")[-1]
    assert last["step"] == 5 and last["stop/signal"] == float(signal.SIGTERM)
    assert not any(k.startswith("loss/") for k in last)  # step 5 was logged: no tail twice
    assert status_of(workdir / "runs/term")[0].startswith("Stopped by SIGTERM at step 5 of 20")

    keys = ["trainer.steps=10000000", "trainer.log_every=1000000", "trainer.max_seconds=0.5"]
    summary = fit(make_run(resolve([*TINY_TOY, *keys, "name=timed"])))
    # the stop's record, then the final evaluation's (a time limit skips no outputs)
    stop = next(r for r in records(workdir / "runs/timed") if "stop/max_seconds" in r)
    assert stop["step"] == summary["steps"] and stop["stop/max_seconds"] == 0.5
    assert any(k.startswith("loss/") for k in stop)
    status, _, page = status_of(workdir / "runs/timed")
    assert status.startswith(f"Stopped by trainer.max_seconds=0.5 at step {summary['steps']} of")
    assert "stop/max_seconds" not in page  # the status line says it, not "Other logged values"


def test_a_finished_run_logs_no_stop_record(workdir: Path) -> None:
    fit(make_run(resolve([*TINY_TOY, *KEYS, "trainer.steps=7", "name=done"])))
    assert not any(k.startswith("stop/") for r in records(workdir / "runs/done") for k in r)
