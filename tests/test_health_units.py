"""The health monitor's second audit: a run that exploded before its first logged value, the
per-side G gradient a system declares (cyclegan), textgan style transfer's declared G loss,
and warnings in a run's own step unit (a meta run's outer steps).

The monitor tests feed logged stats shaped as the runs docs/training.md#training-health-warnings
names (milliseconds); three tests train a few steps of a real run (toy2d, cyclegan, textgan)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ganhub
from ganhub.engine.health import HealthMonitor, InstabilityMonitor

from .test_health_audit import feed as audit_feed

pytestmark = pytest.mark.usefixtures("one_thread")  # the three real runs, on one thread


def feed(monitor, rows, start=10, every=10):
    """`test_health_audit.feed` from logging step 10, every 10 steps."""
    return audit_feed(monitor, rows, start, every)


def logged(run_dir: str | Path) -> list[dict[str, float]]:
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if "unstable/exploding" in row]


# toy2d, loss=wasserstein tricks=[] optim.D.lr=0.05, trainer.log_every=10: D's mean outputs
EXPLODED = [(6355.0, 1850.0), (165923.0, 182728.0), (39100.0, 178955.0), (-1.2e6, -7.6e5)]
# the default learning rates: an unconstrained critic drifts, from a healthy start
DRIFTING = [(0.246, 0.046), (0.416, 0.624), (-0.16, -1.46), (-9.9, -3.9), (-300.0, -120.0)]


def outputs(pairs, tag=""):
    return [{f"D{tag}_real": r, f"D{tag}_fake": f, f"D{tag}_win": 0.5} for r, f in pairs]


def test_a_run_exploded_before_its_first_logged_value_is_flagged_from_the_start(cli) -> None:
    code, _, err = cli(
        "run", "plugin=toy2d", "loss=wasserstein", "tricks=[]", "optim.D.lr=0.05",
        "trainer.steps=30", "trainer.log_every=10", "trainer.progress=false",
        "trainer.sample_every=0", "eval.metrics=[]", "loggers=[jsonl]", "name=x",
    )  # fmt: skip
    assert code == 0, err
    assert "warning: exploding D outputs at step 30: D's mean output on fakes is" in err
    assert "the run diverged before its first logged value" in err
    assert [row["unstable/exploding"] for row in logged("runs/x")] == [0.0, 0.0, 1.0]


def test_d_outputs_judge_only_a_run_that_never_had_a_healthy_value() -> None:
    lines: list[str] = []
    flags, _ = feed(InstabilityMonitor(warn=lines.append), outputs([*EXPLODED, (3.0, -2.0)]))
    assert [f["exploding"] for f in flags] == [0, 0, 1, 1, 0]  # over once back under 100
    assert len(lines) == 1 and "exploding D outputs at step 30" in lines[0]
    assert "optim.D.lr" in lines[0]
    # a healthy first value: later drift is the gradient norms' to judge, not this rule's
    assert feed(InstabilityMonitor(warn=lines.append), outputs(DRIFTING))[1] == []
    # two exploded values, then a healthy one: no episode
    quiet = outputs([*EXPLODED[:2], (0.5, 0.1), *EXPLODED])
    assert feed(InstabilityMonitor(warn=lines.append), quiet)[1] == []
    # each D apart: D_B's healthy start does not excuse D_A's
    rows = [{**a, **b} for a, b in zip(outputs(EXPLODED, "_A"), outputs(DRIFTING, "_B"))]
    assert "exploding D outputs (A) at step 30" in feed(InstabilityMonitor(), rows)[1][0]


def test_the_d_output_rule_survives_a_checkpoint_and_an_older_state_is_not_judged() -> None:
    first = InstabilityMonitor()
    feed(first, outputs(DRIFTING[:1]))
    state = json.loads(json.dumps(first.state_dict()))
    assert state["healthy"] == [""]
    resumed = InstabilityMonitor(warn=lambda _: None)
    resumed.load_state_dict(state)
    assert feed(resumed, outputs(EXPLODED), start=20)[1] == []
    older = {k: v for k, v in state.items() if k != "healthy"}  # written before the rule
    resumed.load_state_dict(older)
    assert feed(resumed, outputs(EXPLODED), start=20)[1] == []


def cycle_rows():
    """cyclegan's shape: D_A wins outright and G's adversarial loss against it climbs, while
    the one G phase's norm (mostly the cycle loss's) stays; only D_A's gradient to its
    generator's images vanishes."""
    return [
        {"loss/G": 8.1 - 0.3 * i, "grad_norm/G": 14.9 - 0.3 * i,
         "D_A_win": 0.996, "G_adv_A": 0.27 + 0.05 * i, "G_adv_grad_A": 0.02 / 3**i,
         "D_B_win": 0.9, "G_adv_B": 0.3 - 0.01 * i, "G_adv_grad_B": 0.02}
        for i in range(6)
    ]  # fmt: skip


def test_each_side_reads_the_g_gradient_its_system_declares() -> None:
    from ganhub_cyclegan.system import CycleGANSystem

    declared = {"g_loss_stats": CycleGANSystem.g_loss_stats}
    lines: list[str] = []
    monitor = InstabilityMonitor(warn=lines.append, **declared)
    assert feed(monitor, cycle_rows(), start=100)[1] == []  # grad_norm/G never halves
    monitor = HealthMonitor(warn=lines.append, g_grad_stats=CycleGANSystem.g_grad_stats, **declared)
    flags, _ = feed(monitor, cycle_rows(), start=100)
    assert [f["d_wins"] for f in flags] == [0, 0, 0, 1, 1, 1]
    assert len(lines) == 1 and "D wins outright (A) at step 130" in lines[0]


def test_cyclegan_logs_the_gradient_each_d_gives_its_generator(cli) -> None:
    code, _, err = cli(
        "run", "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4",
        "model.n_layers_d=2", "trainer.batch_size=2", "trainer.steps=2", "trainer.log_every=1",
        "trainer.sample_every=0", "trainer.progress=false", "loggers=[jsonl]",
        "eval.metrics=[]", "name=c",
    )  # fmt: skip
    assert code == 0, err
    rows = logged("runs/c")
    assert len(rows) == 2 and all(0 < row[f"G_adv_grad_{s}"] < 1e3 for row in rows for s in "AB")


def test_style_transfer_declares_gs_adversarial_loss(tmp_path: Path) -> None:
    from ganhub_textgan.style_transfer import TransferSystem

    summary = ganhub.train([
        "plugin=textgan", "preset=tiny", "task=transfer", "trainer.progress=false",
        "trainer.sample_every=0", "loggers=[jsonl]", "eval.metrics=[]", f"out_dir={tmp_path}",
    ])  # fmt: skip
    adversarial = [row for row in logged(summary["run_dir"]) if "loss/D" in row]
    assert adversarial  # D and G phases ran after the reconstruction pretraining
    monitor = InstabilityMonitor(g_loss_stats=TransferSystem.g_loss_stats)
    for row in adversarial:  # G's adversarial loss, not loss/G (its reconstruction terms too)
        assert monitor.g_loss(row, "") == row["G_adv"] != row["loss/G"]


@pytest.mark.parametrize("per_step", [1, 10])
def test_warnings_name_the_unit_the_run_counts_its_steps_in(per_step: int) -> None:
    lines: list[str] = []
    monitor = HealthMonitor(warn=lines.append)
    if per_step > 1:
        monitor.count_in("outer step", per_step)
    collapsed = {"D_win": 0.95, "diversity": 0.05, "grad_norm/D": 1.0}
    steps = [9, 10, 11] if per_step > 1 else [99, 100, 101]  # counted from training step 100
    for step in steps:
        monitor.check(step, dict(collapsed))
    exploded = {**collapsed, "D_win": 0.5, "grad_norm/D": 1e4}
    for step in steps[-1] + 1, steps[-1] + 2, steps[-1] + 3:
        monitor.check(step, {**exploded, "diversity": 0.05})
    if per_step == 1:
        assert "possible mode collapse at step 100:" in lines[0]
        assert "exploding gradients at step 102:" in lines[1]
    else:
        assert "possible mode collapse at outer step 10 (training step 100):" in lines[0]
        assert "exploding gradients at outer step 12 (training step 120):" in lines[1]
    assert len(lines) == 2
    with pytest.raises(ValueError, match="training_steps=0"):
        HealthMonitor().count_in("outer step", 0)
