"""`ganhub meta` logs the engine's diagnostics (`grad_norm/<phase>`, `diversity`, `D_*_acc`,
`D_win`) at every outer step, the mean over its visits' last steps, and its health monitor
counts steps in outer steps: it saw them at the last outer step only (a visit's step was a
logging step only at the end of the tasks' timeline), so a collapse never warned, and it
counted nothing before outer step 100."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ganhub_meta.reptile import MetaOptions, meta_config, meta_train

from ganhub.hookspecs import hookimpl
from ganhub.metrics.rundata import read_metrics
from ganhub.plugins import Hub, get_hub
from ganhub.tricks import Trick
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = ["plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "loggers=[jsonl]",
        "trainer.progress=false", "eval.metrics=[]", "name=m"]  # fmt: skip
DIAGNOSTICS = ("diversity", "grad_norm/D", "grad_norm/G", "D_real_acc", "D_fake_acc", "D_win")


@pytest.mark.parametrize("algorithm", ["reptile", "fomaml"])
def test_every_outer_step_logs_its_visits_diagnostics(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(workdir))  # the task Runs' scratch
    options = MetaOptions(classes=[0, 1], algorithm=algorithm, outer_steps=3, inner_steps=2,
                          tasks_per_step=2)  # fmt: skip
    meta_train(meta_config(TINY, options, get_hub()), options)
    rows = read_metrics(workdir / "runs" / "m")
    assert [r["step"] for r in rows] == [1, 2, 3]
    for row in rows:
        for key in DIAGNOSTICS:
            assert math.isfinite(row[key]), (row["step"], key)
        assert 0.0 <= row["D_real_acc"] <= 1.0 and row["diversity"] > 0
        assert "loss/D" in row and "loss/G" in row  # the visits' losses are logged still


def test_the_monitor_counts_outer_steps(tmp_path: Path) -> None:
    """Its first counted step (100 training steps) is the outer step whose visits reach it."""
    from ganhub_meta.carry import monitor_in_outer_steps

    hub = get_hub()
    options = MetaOptions(classes=[0, 1], outer_steps=40, inner_steps=30, algorithm="fomaml")
    run = make_run(meta_config([*TINY, f"out_dir={tmp_path}"], options, hub), hub)
    try:
        monitor_in_outer_steps(run, options)  # visits of 31 steps: 100 at outer step 4
        monitor = run.monitor
        assert (monitor.collapse.first_step, monitor.instability.first_step) == (4, 4)
        assert (monitor.collapse.floor_after, monitor.warmup_steps) == (4, 4)
    finally:
        run.close()


class Collapse(Trick):
    """Every fake of a batch is the batch's first one: the generator has collapsed to one
    mode (it still trains, through that sample)."""

    name = "collapse_test"
    description = "the generator's fakes collapse to one sample (tests)"

    def setup(self, system: Any) -> None:
        system.generator(use_ema=False).register_forward_hook(
            lambda module, args, out: out[:1].expand_as(out)
        )


def test_a_collapse_during_meta_training_warns(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(workdir))
    plugin = SimpleNamespace(register_tricks=hookimpl(lambda register: register(
        "collapse_test", Collapse)))  # fmt: skip
    hub = Hub.discover(extra=(("collapse_test", plugin),))
    # visits of 34 steps: the monitor counts from outer step 3 (the 100th training step)
    options = MetaOptions(classes=[0, 1], outer_steps=3, inner_steps=34)
    meta_train(meta_config([*TINY, "tricks=[collapse_test]"], options, hub), options, hub)
    rows = read_metrics(workdir / "runs" / "m")
    assert [r["diversity"] for r in rows] == [0.0, 0.0, 0.0]
    warned = [line for line in capsys.readouterr().err.splitlines() if "mode collapse" in line]
    assert len(warned) == 1 and "at outer step 3 (training step 102):" in warned[0], warned
    assert [r["collapse"] + r["unstable/collapse_d_loses"] for r in rows] == [0.0, 0.0, 1.0]
