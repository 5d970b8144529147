"""`ganhub meta`'s first-order MAML logs the norm of the meta-gradient its outer step applies
as `grad_norm/<side>`, every outer step, and the health monitor reads it as a run's."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
import torch
from ganhub_meta.outer import FirstOrderMAML
from ganhub_meta.reptile import MetaOptions, meta_config, meta_train, task_config

from ganhub.engine.loop import train_steps
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = ["plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "loggers=[jsonl]"]


def test_the_logged_norm_is_that_of_the_mean_query_gradient(tmp_path: Path) -> None:
    hub = get_hub()
    options = MetaOptions(classes=[0, 1], algorithm="fomaml", anneal=False)
    config = meta_config([*TINY, f"out_dir={tmp_path}", "name=m"], options, hub)
    run = make_run(config, hub)
    update = FirstOrderMAML(options)
    task = make_run(task_config(config, (1,), tmp_path / "scratch", hub), hub)
    update.watch(task)
    batches = task.batches()
    train_steps(task, batches, 1)
    kept = [update.after_inner(task, batches)]
    sums = {side: [g.clone() for g in grads] for side, grads in update.gradients.sums.items()}
    counts = dict(update.gradients.counts)
    update.apply(run, {}, kept, step=0)
    norms = update.norms()
    assert sorted(norms) == ["D", "G"]
    for side, grads in sums.items():
        mean = torch.cat([(g / counts[side]).flatten() for g in grads])
        assert torch.allclose(norms[side], mean.norm(), rtol=1e-5), side
    task.close()
    run.close()


def test_every_outer_step_logs_it_and_the_monitor_reads_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(workdir))  # the task Runs' scratch
    options = MetaOptions(classes=[0, 1], algorithm="fomaml", outer_steps=2, inner_steps=1)
    config = meta_config([*TINY, "name=m"], options, get_hub())
    meta_train(config, options)
    lines = (workdir / "runs" / "m" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        for side in ("D", "G"):
            assert math.isfinite(record[f"grad_norm/{side}"]) and record[f"grad_norm/{side}"] > 0
        assert record["unstable/exploding"] == 0.0  # the health monitor saw the outer step
