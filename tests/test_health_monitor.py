"""The training health monitor: D winning outright, exploding gradients, collapse while D loses.

Fed the logged stats a run writes at its logging steps (the figures are from toy2d runs that
docs/training.md#training-health-warnings names), so these tests need no training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ganhub.engine.health import HealthMonitor, InstabilityMonitor

HEALTHY = {"D_win": 0.7, "diversity": 0.95, "loss/G": 0.8, "grad_norm/D": 0.5, "grad_norm/G": 0.4}


def feed(monitor, rows, start=100, every=100):
    """Each row's stats (over HEALTHY) at the logging steps start, start+every, ...; the flags
    each step logged and every warning."""
    flags, warnings = [], []
    for i, row in enumerate(rows):
        metrics = {**HEALTHY, **row}
        warnings += monitor.check(start + i * every, metrics)
        flags.append(
            {k.removeprefix("unstable/"): v for k, v in metrics.items() if "unstable" in k}
        )
    return flags, warnings


def monitor(lines=None, **kw):
    return InstabilityMonitor(warn=(lines.append if lines is not None else lambda _: None), **kw)


def test_healthy_stats_never_flag_and_every_logging_step_has_the_flags():
    flags, warnings = feed(monitor(), [{} for _ in range(20)])
    assert warnings == []
    assert flags[0] == {"d_wins": 0.0, "exploding": 0.0, "collapse_d_loses": 0.0}
    assert all(not any(f.values()) for f in flags)


def test_d_winning_outright_while_g_loss_climbs_and_its_gradient_vanishes_warns_once():
    lines: list[str] = []
    # toy2d, minimax loss, optim.D.lr=1e-2 optim.G.lr=1e-5 tricks=[] (G's loss rising to 0)
    rows = [{"D_win": 1.0, "loss/G": -(10.0**-i), "grad_norm/G": 10.0**-i} for i in range(6)]
    rows += [{"D_win": 0.95}, {"D_win": 0.7}]  # stays on above the recovery level, then ends
    flags, warnings = feed(monitor(lines), rows)
    assert [f["d_wins"] for f in flags] == [0, 0, 0, 1, 1, 1, 1, 0]
    assert warnings == lines and len(lines) == 1
    assert "D wins outright at step 400: D wins 100.0%, G's loss rose at 3 logging" in lines[0]
    assert "(-1 -> -0.001) and its gradient norm fell (1 -> 0.001)" in lines[0]
    assert "r1" in lines[0]


@pytest.mark.parametrize(
    "loss_g, norm_g",
    [
        # dcgan's default run: D wins 99-100 %, G's loss 4.2, 4.6, 3.5, 3.7, 3.8, 3.7 ...
        ((4.216, 4.641, 3.506, 3.744, 3.796, 3.7), (39, 35, 17, 22, 28, 21)),
        # ... and later rises 3 times in a row while G's gradient grows
        ((2.55, 2.88, 3.0, 3.11, 3.07), (15, 14, 16, 21, 19)),
    ],
)
def test_d_winning_while_g_still_learns_is_no_alarm(loss_g, norm_g):
    rows = [{"D_win": 1.0, "loss/G": g, "grad_norm/G": n} for g, n in zip(loss_g, norm_g)]
    assert feed(monitor(), rows)[1] == []


def test_exploding_gradient_norm_against_its_baseline():
    lines: list[str] = []
    norms = [0.5, 0.4, 0.6, 2.0, 60.0, 30.0, 3.0, 80.0]
    flags, _ = feed(monitor(lines), [{"grad_norm/D": n} for n in norms])
    # baseline: the largest of 0.5, 0.4, 0.6; on at 100x, off under 10x; again
    assert [f["exploding"] for f in flags] == [0, 0, 0, 0, 1, 1, 0, 1]
    assert len(lines) == 2
    assert "exploding gradients at step 500: grad_norm/D 60, 100 times its 0.6" in lines[0]
    assert "optim.D.lr" in lines[0] and "clip_grad" in lines[0]


def test_a_d_that_wins_outright_from_the_start_still_has_a_gradient_baseline():
    """textgan's D wins outright from its first step (one-hot reals, soft fakes): its steps
    give a baseline of their own, so a gradient 100x that one is still an explosion."""
    lines: list[str] = []
    norms = [0.8, 0.7, 0.9, 1.2, 95.0]
    flags, _ = feed(monitor(lines), [{"D_win": 1.0, "grad_norm/G": n} for n in norms])
    assert [f["exploding"] for f in flags] == [0, 0, 0, 0, 1]
    assert len(lines) == 1 and "grad_norm/G 95, 106 times its 0.9" in lines[0]


def test_one_non_finite_gradient_norm_is_a_skipped_fp16_step_three_are_an_explosion():
    lines: list[str] = []
    norms = [0.5, 0.5, 0.5, math.inf, 0.5, math.nan, math.inf, math.inf, 0.5]
    flags, _ = feed(monitor(lines), [{"grad_norm/G": n} for n in norms])
    assert [f["exploding"] for f in flags] == [0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert len(lines) == 1 and "grad_norm/G is inf at 3 logging steps in a row" in lines[0]


def test_collapse_while_d_loses_is_flagged_and_collapse_while_d_wins_is_left_to_the_other():
    lines: list[str] = []
    # toy2d, wasserstein + gp, optim.G.lr=0.05: diversity ~0 while D wins 0-19 %
    rows = [{"D_win": 0.15, "diversity": d} for d in (0.0, 0.0, 0.0, 0.26, 0.04, 0.03, 0.11, 0.9)]
    flags, _ = feed(monitor(lines), rows)
    assert [f["collapse_d_loses"] for f in flags] == [0, 0, 1, 1, 1, 1, 1, 0]
    assert len(lines) == 1 and "mode collapse while D loses at step 300" in lines[0]
    assert "D wins only 15%" in lines[0] and "optim.G.lr" in lines[0]
    winning = [{"D_win": 0.95, "diversity": 0.01} for _ in range(6)]
    assert feed(monitor(), winning)[1] == []  # CollapseMonitor's case


def test_nothing_counts_before_the_warm_up():
    rows = [{"D_win": 1.0, "loss/G": float(i), "diversity": 0.0} for i in range(5)]
    assert feed(monitor(warmup_steps=600), rows)[1] == []


def test_tags_name_which_discriminator():
    lines: list[str] = []
    rows = [{"D_B_win": 0.1, "diversity_B": 0.01, "D_A_win": 0.7, "diversity_A": 1.0}] * 3
    feed(monitor(lines), rows)
    assert len(lines) == 1 and "while D loses (B) at step 300" in lines[0]


def test_state_survives_a_checkpoint_so_a_resume_neither_forgets_nor_warns_again():
    lines: list[str] = []
    first = HealthMonitor(warn=lines.append)
    rows = [{"grad_norm/D": 0.5}] * 3 + [{"grad_norm/D": 100.0, "D_win": 0.1, "diversity": 0.0}]
    feed(first, rows)
    assert len(lines) == 1
    state = json.loads(json.dumps(first.state_dict()))  # state.json
    assert state["peak"] == {"": 0.95} and "instability" in state  # the collapse monitor's too
    resumed = HealthMonitor(warn=lines.append)
    resumed.load_state_dict(state)
    flags, _ = feed(resumed, [{"grad_norm/D": 90.0, "D_win": 0.1, "diversity": 0.0}] * 2, 500)
    assert len(lines) == 2 and "mode collapse while D loses at step 600" in lines[1]
    assert [f["exploding"] for f in flags] == [1, 1]  # the same episode, no second warning
    fresh = HealthMonitor(warn=lines.append)
    feed(fresh, [{"grad_norm/D": 90.0}] * 4, 500)  # without the state: a new baseline
    assert len(lines) == 2


@pytest.mark.parametrize(
    "state",
    [None, [], {"peak": {"": 0.5}}, {"instability": {"streak": {"x": "a"}, "base": 3}}],
)
def test_older_or_damaged_states_load_as_far_as_they_are_valid(state):
    m = HealthMonitor()
    m.load_state_dict(state)
    assert m.instability.state_dict() == {
        "streak": {},
        "start": {},
        "prev": {},
        "base": {},
        "active": [],
    }


def test_a_run_logs_the_health_flags_and_keeps_the_monitor_in_its_checkpoint(cli) -> None:
    """The run's monitor is the health monitor: its flags reach metrics.jsonl at every logging
    step and its state the checkpoint's state.json, beside the collapse monitor's."""
    from .conftest import TINY_TOY

    code, _, err = cli("run", *TINY_TOY, "name=h")
    assert code == 0, err
    lines = Path("runs/h/metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if '"step"' in line]
    logged = [row for row in rows if "unstable/exploding" in row]
    assert logged and all(
        {row[f"unstable/{kind}"] for kind in ("d_wins", "exploding", "collapse_d_loses")} == {0.0}
        for row in logged
    )
    states = sorted(Path("runs/h/checkpoints").glob("*/state.json"))
    assert states and "instability" in json.loads(states[-1].read_text())["state"]["monitor"]
