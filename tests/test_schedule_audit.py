"""lr_schedule audit: a schedule that changes (almost) no rate of the run it is given is warned
of as the run starts; each shape trains at the rates of the literature's schedulers (torch's
LinearLR, CosineAnnealingLR); a run resumed mid-schedule trains at the rates it would have."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_TOY

pytestmark = pytest.mark.usefixtures("one_thread")

KEY = "trick.lr_schedule"


def _schedule(steps: int, *options: str) -> Any:
    cfg = resolve([*TINY_TOY, "tricks=[lr_schedule]", f"trainer.steps={steps}",
                   *(f"{KEY}.{o}" for o in options)])  # fmt: skip
    return get_hub().tricks.get("lr_schedule")(cfg.trick.lr_schedule, cfg)


def _trained(schedule: Any, steps: int) -> list[float]:
    """The factor each step trains at: step n at the factor after n - 1 steps."""
    return [schedule.factor(s) for s in range(steps)]


IDLE = [  # (steps, options, the start of its one warning)
    # int(0.95 * 10) + 1 = 10 full steps: the decay would begin after the run
    (10, ["start=0.95", "final=0"], f"{KEY}.start=0.95 holds the full rate through step 10 of"),
    (2, ["start=0.7", "final=0.1"], f"{KEY}.start=0.7 holds the full rate through step 2 of"),
    # a warm-up that ends at the run's last steps: the rate rises and never decays
    (10, ["start=0", "final=0", "warmup_steps=9"], f"{KEY}.warmup_steps=9 leaves no step"),
    (10, ["start=0", "final=0", "warmup_steps=10"], f"{KEY}.warmup_steps=10 leaves no step"),
    # a decay to 0.99 of the rate: the mean rate 0.45 % lower
    (10, ["start=0", "final=0.99"], f"{KEY}.start=0 and {KEY}.final=0.99 decay the rate"),
    # the last 10 of 10,000 steps decay: the mean rate 0.045 % lower
    (10_000, ["start=0.999", "final=0"], f"{KEY}.start=0.999 and {KEY}.final=0 decay the"),
]  # fmt: skip


@pytest.mark.parametrize(("steps", "options", "said"), IDLE)
def test_a_schedule_that_changes_almost_no_rate_is_warned_of(
    steps: int, options: list[str], said: str
) -> None:
    """These trained every step at (or within 1 % on average of) the full rate, silently."""
    schedule = _schedule(steps, *options)
    rates = _trained(schedule, steps)
    assert sum(1 - r for r in rates) / steps < 0.01 or max(rates[-2:]) == 1.0  # as said
    (line,) = schedule.warnings()
    assert line.startswith(said), line
    assert "give " in line and "short test run" in line, line


@pytest.mark.parametrize(
    ("steps", "options"),
    [
        (10, ["start=0.85", "final=0"]),  # one step of ten decays, to half the rate
        (4, ["start=0.7", "final=0.1"]),  # toy2d's schedule on a 4-step run
        (10, ["final=1", "warmup_steps=3"]),  # a warm-up alone decays nothing, as asked
        (100, ["start=0", "final=0.9"]),  # 5 % lower on average
    ],
)
def test_a_schedule_that_changes_the_rates_is_not_warned_of(steps: int, options: list[str]) -> None:
    assert _schedule(steps, *options).warnings() == []


def test_the_warning_shows_as_the_run_is_configured(cli: Any) -> None:
    code, _, err = cli("config", *TINY_TOY, "tricks=[lr_schedule]", "trainer.steps=10",
                         f"{KEY}.start=0.95")  # fmt: skip
    assert code == 0 and err.count("\n") == 1, err
    assert err.startswith(f"ganhub: warning: {KEY}.start=0.95 holds the full rate"), err


def _torch_rates(scheduler: Any, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(
    ("steps", "kind", "start", "final", "warmup"),
    [(20, "linear", 0.5, 0.1, 0), (16, "cosine", 0.25, 0.0, 3), (12, "cosine", 0.0, 0.2, 0),
     (15, "linear", 0.0, 0.0, 4)],
)  # fmt: skip
def test_each_shape_trains_at_the_rates_of_torchs_schedulers(
    steps: int, kind: str, start: float, final: float, warmup: int
) -> None:
    """Warm-up: LinearLR from 1/warmup to 1 over its steps; held at 1 through step
    int(start * steps) + 1; then CosineAnnealingLR(eta_min=final) or LinearLR(1 -> final) over
    the remaining steps, each stepped after every optimizer step, as torch's docs do."""
    schedule = _schedule(steps, f"kind={kind}", f"start={start}", f"final={final}",
                         f"warmup_steps={warmup}")  # fmt: skip
    begin = max(int(start * steps), warmup)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    expected = []
    if warmup:
        ramp = torch.optim.lr_scheduler.LinearLR(opt, 1 / warmup, 1.0, total_iters=warmup - 1)
        expected += _torch_rates(ramp, opt, warmup)
    expected += [1.0] * (begin - warmup)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    decay = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - begin, eta_min=final)
        if kind == "cosine"
        else torch.optim.lr_scheduler.LinearLR(opt, 1.0, final, total_iters=steps - begin)
    )
    expected += _torch_rates(decay, opt, steps - begin)
    assert _trained(schedule, steps) == pytest.approx(expected, abs=1e-9)


SCHEDULED = [*TINY_TOY, "tricks=[lr_schedule]", "trainer.steps=6", f"{KEY}.kind=cosine",
             f"{KEY}.start=0.25", f"{KEY}.final=0.1", f"{KEY}.warmup_steps=3",
             "optim.G.lr=1e-3", "optim.D.lr=2e-3", "trainer.checkpoint_every=2",
             "trainer.keep_checkpoints=10"]  # fmt: skip


def _rates_used(run: Any) -> dict[str, dict[int, float]]:
    """Each optimizer's rate at each step it took, recorded as it steps."""
    used: dict[str, dict[int, float]] = {"G": {}, "D": {}}
    for side, rates in used.items():
        run.optimizers[side].register_step_pre_hook(
            lambda opt, args, kwargs, rates=rates: rates.__setitem__(
                run.step + 1, float(opt.param_groups[0]["lr"])
            )
        )
    return used


def test_a_run_resumed_mid_schedule_trains_at_the_rates_it_would_have(workdir: Path) -> None:
    """Stopped in its warm-up (after step 2 of 3) or as its decay begins (after step 4 of 6),
    the resumed run trains each later step at the rate of the run that was never stopped."""
    whole = make_run(resolve([*SCHEDULED, "name=whole"]))
    planned = _rates_used(whole)
    fit(whole)
    factors = _trained(whole.tricks[0], 6)
    assert planned["G"] == pytest.approx({s + 1: 1e-3 * f for s, f in enumerate(factors)})
    for stop in (2, 4):
        name = f"stopped{stop}"
        shutil.copytree("runs/whole", f"runs/{name}")
        for later in Path(f"runs/{name}/checkpoints").glob("step_*"):
            if int(later.name.removeprefix("step_")) > stop:
                shutil.rmtree(later)
        resumed = make_run(resolve([f"resume=runs/{name}"]))
        used = _rates_used(resumed)
        fit(resumed)
        for side in "GD":
            assert used[side] == pytest.approx(
                {s: r for s, r in planned[side].items() if s > stop}
            ), (stop, side)
