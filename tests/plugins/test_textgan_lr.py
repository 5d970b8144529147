"""textgan's schedules: the adversarial G learning rate (MLE at optim.G.lr, a pure adversarial
Gumbel phase at adversarial.g_lr, RelGAN's 1e-4) through a resume and next to an lr_schedule,
and the Gumbel temperature's anneal when a resume changes the run's length."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganhub.config.resolve import resolve
from ganhub.engine.loop import train_steps
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")

# objective.mle_weight=0: RelGAN's pure adversarial phase, whose rate drops to adversarial.g_lr
BASE = ["plugin=textgan", "preset=tiny", "trainer.progress=false", "loggers=[]",
        "trainer.batch_size=8", "eval.metrics=[]", "adversarial.pretrain_steps=3",
        "objective.mle_weight=0"]  # fmt: skip


def _g_rates(keys: list[str], steps: int) -> list[float]:
    """G's learning rate after each of `steps` steps of a run made from `keys`."""
    run = make_run(resolve(keys))
    try:
        batches, rates = run.batches(), []
        for _ in range(steps):
            train_steps(run, batches, 1)
            rates.append(float(run.optimizers["G"].param_groups[0]["lr"]))
        run.save()
        return rates
    finally:
        run.close()


def test_pure_adversarial_gumbel_defaults_to_relgan_rate_and_transfer_refuses_it() -> None:
    """The default keeps MLE in G's adversarial objective and so its MLE rate; without MLE
    (objective.mle_weight=0, preset=relgan) G gets RelGAN's gen_adv_lr."""
    assert resolve(["plugin=textgan"]).adversarial.g_lr is None
    generate = resolve(["plugin=textgan", "objective.mle_weight=0"])
    assert (generate.optim.G.lr, generate.adversarial.g_lr) == (1e-3, 1e-4)
    assert resolve(["plugin=textgan", "adversarial.g_lr=3e-4"]).adversarial.g_lr == 3e-4
    assert resolve(["plugin=textgan", "task=transfer"]).adversarial.g_lr is None
    with pytest.raises(ConfigError, match=r"adversarial\.g_lr is for task=generate"):
        resolve(["plugin=textgan", "task=transfer", "adversarial.g_lr=1e-4"])


def test_g_switches_rate_at_the_first_adversarial_step_and_a_resume_keeps_it(
    workdir: Path,
) -> None:
    rates = _g_rates([*BASE, "trainer.steps=6", "name=a"], 6)
    assert rates == pytest.approx([1e-3] * 3 + [1e-4] * 3)  # MLE 3 steps, then adversarial
    resumed = _g_rates([f"resume={workdir / 'runs' / 'a'}", "trainer.steps=8"], 2)
    assert resumed == pytest.approx([1e-4, 1e-4])  # restored as switched, not scaled again
    early = _g_rates([*BASE, "trainer.steps=6", "name=b"], 2)  # saved before the switch
    assert early == pytest.approx([1e-3, 1e-3])
    after = _g_rates([f"resume={workdir / 'runs' / 'b'}"], 4)
    assert after == pytest.approx([1e-3, 1e-4, 1e-4, 1e-4])


def test_an_lr_schedule_scales_the_adversarial_rate(workdir: Path) -> None:
    keys = [*BASE, "trainer.steps=6", "tricks=[lr_schedule]", "trick.lr_schedule.kind=linear",
            "name=s"]  # fmt: skip
    config = resolve(keys)
    schedule = config.trick.lr_schedule  # type: ignore[attr-defined]
    rates = _g_rates(keys, 6)
    trick = get_hub().tricks.get("lr_schedule")(schedule, config)
    factors = [trick.factor(step) for step in range(1, 7)]
    expected = [1e-3 * f for f in factors[:3]] + [1e-4 * f for f in factors[3:]]
    assert rates == pytest.approx(expected)  # the schedule goes on from the new base


def _betas(run_dir: Path, steps: int, at: list[int]) -> list[float]:
    """The inverse temperatures at steps `at` of `run_dir` resumed with trainer.steps=`steps`."""
    run = make_run(resolve([f"resume={run_dir}", f"trainer.steps={steps}"]))
    try:
        return [run.system.beta(step) for step in at]  # type: ignore[operator]
    finally:
        run.close()


def test_an_extended_run_anneals_on_from_the_temperature_it_reached(workdir: Path) -> None:
    """Extending a run recomputed the anneal from the new length: beta dropped back (a
    finished run at RelGAN's 100 restarted near 10, a far noisier relaxation). The anneal that
    follows the run's length (adversarial.anneal_steps=null); RelGAN's fixed horizon (the
    default) does not move with trainer.steps."""
    stopped = [*BASE, "adversarial.anneal_steps=null", "trainer.steps=10", "name=stopped"]
    _g_rates(stopped, 6)  # 3 MLE + 3 of 7 annealing
    reached = 100.0 ** (3 / 7)
    betas = _betas(workdir / "runs" / "stopped", 20, list(range(6, 21)))
    assert betas[0] == pytest.approx(reached) and betas[-1] == pytest.approx(100.0)
    assert betas == sorted(betas)  # anneals on, never back
    assert betas[7] == pytest.approx(reached * (100.0 / reached) ** 0.5)  # half-way, log scale
    _g_rates([f"resume={workdir / 'runs' / 'stopped'}", "trainer.steps=20"], 2)  # -> step 8
    assert _betas(workdir / "runs" / "stopped", 20, [8, 13]) == pytest.approx(betas[2:8:5])
    _g_rates([*BASE, "adversarial.anneal_steps=null", "trainer.steps=5", "name=done"], 5)
    assert _betas(workdir / "runs" / "done", 9, [5, 7, 9]) == pytest.approx([100.0] * 3)
    _g_rates([*BASE, "adversarial.anneal_steps=10", "trainer.steps=5", "name=fixed"], 5)
    fixed = [100.0 ** (k / 10) for k in (2, 4, 10)]
    assert _betas(workdir / "runs" / "fixed", 20, [5, 7, 13]) == pytest.approx(fixed)
