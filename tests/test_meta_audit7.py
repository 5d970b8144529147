"""The seventh meta audit: the engine's NaN stop carries its step as a field (ganhub meta words
its own line from it), a short meta-training with ADA starts quietly, and
an adapted meta run starts ADA at trick.ada.p_init (docs/fewshot.md says why)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.errors import Diverged, TrainingError
from ganhub.metrics.rundata import read_metrics
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

META = ("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "meta.classes=[0,1]",
        "meta.outer_steps=2", "meta.inner_steps=4", "tricks=[ada]", "loggers=[jsonl]",
        "trainer.log_every=1", "trainer.progress=false", "eval.metrics=[]", "name=m")  # fmt: skip


def test_a_nan_loss_stop_carries_its_step_and_checkpoint_as_fields(tmp_path: Path) -> None:
    """ganhub meta named its outer step by editing the message's text ('at or before step N;'),
    with a prefix when the wording changed: the error now holds what it says."""
    hub = get_hub()
    config = resolve(["plugin=dcgan", "preset=tiny", f"out_dir={tmp_path}", "name=r"], hub=hub)
    run = make_run(config, hub)
    try:
        run.step, run.last_checkpoint = 7, tmp_path / "checkpoints" / "step_0000004"
        run.stats.add({"loss/D": torch.tensor(float("nan"))}, watch="D")
        with pytest.raises(Diverged) as raised:
            run.check_finite()
    finally:
        run.close()
    err = raised.value
    assert isinstance(err, TrainingError) and err.exit_code == 3
    assert (err.what, err.step, err.checkpoint) == ("loss D", 7, run.last_checkpoint)
    assert str(err).startswith("loss D became NaN/Inf at or before step 7; training stopped")
    copy = pickle.loads(pickle.dumps(err))  # as a failed torchrun process's error travels
    assert (str(copy), copy.step) == (str(err), 7)


def test_a_short_meta_training_with_ada_is_quiet(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """ADA's start warning judges real runs only (1,000 steps or more on the tasks' timeline:
    tests/test_ada_reach.py): 2 outer steps x 4 steps are a smoke run, where ganhub meta said
    that p could move by 0.00013 at most."""
    code, _, err = cli(*META)
    assert code == 0, err
    assert "ADA's p can move" not in err, err


def test_an_adapted_meta_run_starts_ada_at_p_init(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The meta checkpoint holds the p its visits carried; the adapted run trains on a class D
    never saw, and starts p afresh at trick.ada.p_init (as StyleGAN2-ADA's fine-tuning does)."""
    code, _, err = cli(*META, "trick.ada.kimg=0.001", "trick.ada.p_init=0.5")
    assert code == 0, err
    assert "ADA's p can move" not in err  # 64 images move p by 64 at kimg=0.001
    meta_p = [r["ada_p"] for r in read_metrics(workdir / "runs" / "m") if "ada_p" in r]
    assert meta_p[-1] in (0.0, 1.0)  # the meta-training moved it off 0.5, to a bound
    code, _, err = cli("adapt", "runs/m", "data.classes=[1]", "trainer.steps=2",
                       "trainer.log_every=1", "eval.metrics=[]", "name=a")  # fmt: skip
    assert code == 0, err
    rows = [r for r in read_metrics(workdir / "runs" / "a") if "ada_p" in r]
    assert [r["ada_p"] for r in rows] == [0.5, 0.5]  # interval 4: p not yet adjusted
