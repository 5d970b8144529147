"""`ganhub meta`'s task visits lie on one timeline of training steps and carry the tricks'
state (ADA's p): step-counted features no longer restart at every visit."""

from __future__ import annotations

from pathlib import Path

import pytest
from ganhub_meta.carry import CarriedTricks, first_step, task_steps
from ganhub_meta.reptile import MetaOptions, meta_config, task_config

from ganhub.engine.loop import train_steps
from ganhub.metrics.rundata import read_metrics
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ("meta", "plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "meta.classes=[0,1]",
        "loggers=[jsonl]", "trainer.progress=false", "eval.metrics=[]", "name=m")  # fmt: skip


def _rows(workdir: Path) -> list[dict[str, float]]:
    return [r for r in read_metrics(workdir / "runs" / "m") if "loss/D" in r]


def test_the_tasks_count_steps_on_the_meta_trainings_timeline() -> None:
    reptile = MetaOptions(classes=[0, 1], outer_steps=5, inner_steps=3)
    fomaml = MetaOptions(classes=[0, 1], outer_steps=5, inner_steps=3, algorithm="fomaml")
    assert [first_step(reptile, s) for s in range(3)] == [0, 3, 6]
    assert [first_step(fomaml, s) for s in range(3)] == [0, 4, 8]  # and the query step
    assert (task_steps(reptile), task_steps(fomaml)) == (15, 20)
    hub = get_hub()
    config = meta_config(["plugin=dcgan", "preset=tiny"], reptile, hub)
    assert config.trainer.steps == 5  # the meta run counts outer steps
    task = task_config(config, (1,), Path("unused"), hub, reptile)
    assert task.trainer.steps == 15  # an anneal over the run spans the meta-training


def test_lazy_r1_keeps_its_interval_across_visits(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """R1 every 4 steps ran at the first step of every 2-step visit: every 2 steps."""
    code, _, err = cli(*TINY, "meta.outer_steps=4", "meta.inner_steps=2", "model.d_norm=none",
                       "tricks=[r1]", "trick.r1.interval=4")  # fmt: skip
    assert code == 0, err
    ran = ["loss/Dr1" in row for row in _rows(workdir)]
    assert ran == [True, False, True, False]  # steps 0 and 4 of the timeline 0-7


def test_ada_adjusts_p_when_a_visit_is_shorter_than_its_interval(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """p stayed at trick.ada.p_init: 3-step visits from step 0 never reached step 4."""
    code, _, err = cli(*TINY, "meta.outer_steps=4", "meta.inner_steps=3", "tricks=[ada]",
                       "trick.ada.p_init=0.5", "trick.ada.kimg=0.01")  # fmt: skip
    assert code == 0, err
    p = [row["ada_p"] for row in _rows(workdir)]
    assert p[0] == 0.5 and any(v != 0.5 for v in p[1:]), p


def test_a_task_starts_from_the_tricks_state_the_last_visit_left(
    tmp_path: Path, one_thread: None
) -> None:
    """Each task's Run had its own p, p_init at its first visit."""
    hub = get_hub()
    options = MetaOptions(classes=[0, 1, 2], inner_steps=4)
    config = meta_config(["plugin=dcgan", "preset=tiny", "trainer.batch_size=8", "tricks=[ada]",
                          "trick.ada.kimg=0.01", f"out_dir={tmp_path}"], options, hub)  # fmt: skip
    meta = make_run(config, hub)
    runs = [make_run(task_config(config, (c,), tmp_path / "s", hub, options), hub) for c in (0, 1)]
    try:
        first, second, own = (next(t for t in r.tricks if t.name == "ada") for r in [*runs, meta])
        held = second.p  # a step replayed as a CUDA graph reads this very tensor
        carried = CarriedTricks(meta)
        carried.into(runs[0])  # nothing carried yet: p_init
        train_steps(runs[0], runs[0].batches(), 4)
        carried.back(runs[0])
        reached = float(first.p)
        assert reached != 0.0  # one adjustment of 8 images / 10 images per unit
        first.p.fill_(0.25)  # the task's own tensor changes on: the carried value does not
        carried.into(runs[1])
        assert second.p is held and float(second.p) == reached
        assert float(own.p) == reached  # what the meta run's checkpoints save
    finally:
        for run in [*runs, meta]:
            run.close()


def test_the_start_warnings_judge_trick_steps_against_the_tasks_timeline(  # type: ignore[no-untyped-def]
    workdir: Path, cli
) -> None:
    """They compared with the meta run's 2 outer steps: start_step=5 'never averages'."""
    code, _, err = cli(*TINY, "meta.outer_steps=2", "meta.inner_steps=10",
                       "tricks=[ema,instance_noise]", "trick.ema.start_step=5",
                       "trick.instance_noise.anneal_steps=25")  # fmt: skip
    assert code == 0, err
    assert "trick.ema.start_step" not in err  # step 5 of 20
    warned = [line for line in err.splitlines() if "anneal_steps=25" in line]
    assert len(warned) == 1 and "(the tasks' 20 training steps: meta.outer_steps x 10)" in warned[0]


def test_every_outer_step_logs_its_visits_losses(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A logging step (trainer.log_every) at a visit's last step flushed its losses inside the
    visit: that outer step logged none (every one at log_every=2 with 2 inner steps, every 5th
    at the defaults once visits counted on from outer step to outer step)."""
    code, _, err = cli(*TINY, "meta.outer_steps=3", "meta.inner_steps=2", "trainer.log_every=2")
    assert code == 0, err
    rows = read_metrics(workdir / "runs" / "m")
    assert [r["step"] for r in rows if "loss/D" in r and "loss/G" in r] == [1, 2, 3]


def test_a_loss_gone_nan_stops_meta_training_after_the_visit(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Visits shorter than trainer.log_every never checked their losses: the run went on to
    the end and was refused only when writing weights."""
    code, _, err = cli(*TINY, "meta.outer_steps=3", "meta.inner_steps=3", "optim.D.lr=1e30",
                       "optim.G.lr=1e30")  # fmt: skip
    assert code != 0 and err.count("\n") == 1
    assert err.startswith("ganhub: error: loss")
    # the step on the tasks' timeline, and the outer step (it named the first only)
    assert "became NaN/Inf at or before step 3 of the tasks' timeline (outer step 1 of 3);" in err
    assert not (workdir / "runs" / "m" / "checkpoints").exists() or not any(
        (workdir / "runs" / "m" / "checkpoints").iterdir()
    )
