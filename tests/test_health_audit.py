"""The health monitor's audit: per-side G losses a system declares, policy-gradient G losses,
explosions inside the gradient baseline, and remedies that name the active tricks.

Fed logged stats shaped as the runs that docs/training.md#training-health-warnings names
(no training: each test takes milliseconds)."""

from __future__ import annotations

from ganhub.engine.health import REMEDIES, HealthMonitor, InstabilityMonitor, remedies


def feed(monitor, rows, start=100, every=100):
    """Each row's stats at the logging steps start, start+every, ...; the flags and warnings."""
    flags, warnings = [], []
    for i, row in enumerate(rows):
        metrics = dict(row)
        warnings += monitor.check(start + i * every, metrics)
        flags.append({k[9:]: v for k, v in metrics.items() if k.startswith("unstable/")})
    return flags, warnings


def cyclegan_rows():
    """cyclegan's shape: the combined loss/G (mostly the cycle loss) falls while D_A wins
    outright and G's adversarial loss against it climbs and G's gradient vanishes; D_B is
    beaten as usual."""
    rows = []
    for i in range(6):
        rows.append({
            "loss/G": 16.6 / (i + 1), "grad_norm/G": 32.0 / 3**i,
            "D_A_win": 1.0, "G_adv_A": 0.3 + 0.5 * i, "diversity_A": 0.9,
            "D_B_win": 0.9, "G_adv_B": 0.3 - 0.01 * i, "diversity_B": 0.9,
        })  # fmt: skip
    return rows


def test_each_side_reads_the_g_loss_its_system_declares():
    lines: list[str] = []
    sides = {"_A": "G_adv_A", "_B": "G_adv_B"}  # CycleGANSystem.g_loss_stats
    flags, _ = feed(InstabilityMonitor(warn=lines.append, g_loss_stats=sides), cyclegan_rows())
    assert [f["d_wins"] for f in flags] == [0, 0, 0, 1, 1, 1]
    assert len(lines) == 1 and "D wins outright (A) at step 400" in lines[0]
    assert "G's loss (G_adv_A) rose at 3 logging steps in a row (0.3 -> 1.8)" in lines[0]
    # undeclared, the combined loss/G stands for both sides: it falls, so nothing is seen
    assert feed(InstabilityMonitor(warn=lines.append), cyclegan_rows())[1] == []


def test_a_policy_gradient_g_is_judged_by_its_declared_loss_not_its_centred_loss():
    """SeqGAN's REINFORCE loss is centred on 0 by its reward baseline (-0.002, 0.001...): its
    rises are noise. The system declares its samples' loss under D instead (``G_adv``, the
    non-saturating loss of the mean reward); steps without it (MLE pretraining, whose loss/G
    is the NLL) are not judged."""
    lines: list[str] = []
    centred = [-0.002, 0.001, 0.003, 0.004, 0.006]
    shrinking = [8.0, 6.0, 3.0, 1.5, 0.7]
    rows = [
        {"D_win": 1.0, "loss/G": g, "grad_norm/G": n, "G_adv": 2.0 - 0.1 * i}
        for i, (g, n) in enumerate(zip(centred, shrinking))
    ]
    declared = {"": "G_adv"}
    assert feed(InstabilityMonitor(warn=lines.append, g_loss_stats=declared), rows)[1] == []
    assert feed(InstabilityMonitor(warn=lines.append), rows)[1]  # what loss/G alone says
    lines.clear()
    pretraining = [{"D_win": 1.0, "loss/G": 3.0 + i, "grad_norm/G": 8.0 / 2**i} for i in range(5)]
    assert feed(InstabilityMonitor(warn=lines.append, g_loss_stats=declared), pretraining)[1] == []
    falling = [{**row, "G_adv": 2.0 + i} for i, row in enumerate(rows)]  # reward -> 0
    flags, _ = feed(InstabilityMonitor(warn=lines.append, g_loss_stats=declared), falling)
    assert flags[-1]["d_wins"] == 1 and len(lines) == 1


def test_an_explosion_inside_the_first_values_does_not_become_the_baseline():
    """toy2d under WGAN-GP at learning rates 50 times too high (`loss=wasserstein tricks=[gp]
    trick.gp.weight=10 optim.D.lr=0.05 optim.G.lr=0.05 trainer.log_every=20`): D's gradient
    norm explodes at the third logged value after warm-up; as the largest of the first three,
    it was the baseline, and every later value stayed under 14 times it."""
    lines: list[str] = []
    norms = [12.4, 6.69, 8100.0, 65000.0, 2040.0, 1590.0, 109000.0, 365.0, 50.0]
    flags, _ = feed(InstabilityMonitor(warn=lines.append), [{"grad_norm/D": n} for n in norms])
    assert [f["exploding"] for f in flags] == [0, 0, 1, 1, 1, 1, 1, 1, 0]  # on until < 10x
    assert len(lines) == 1 and "step 300: grad_norm/D 8.1e+03, 1211 times its 6.69" in lines[0]
    # a baseline that grows within bounds is still the largest of its first values
    calm = [0.5, 20.0, 30.0, 2000.0, 3100.0]
    flags, _ = feed(InstabilityMonitor(), [{"grad_norm/D": n} for n in calm])
    assert [f["exploding"] for f in flags] == [0, 0, 0, 0, 1]


def test_remedies_name_the_active_tricks_settings():
    wgan_gp = {"gp": {"weight": 10.0, "variant": "wgan"}, "n_critic": {"n": 5}}
    named = remedies(wgan_gp)
    assert "trick.gp.weight (now 10)" in named["d_wins"]
    assert "trick.n_critic.n, now 5" in named["d_wins"] and "r1" not in named["d_wins"]
    assert "smaller trick.gp.weight (now 10)" in named["collapse_d_loses"]
    assert "trick.r1.gamma (now 1)" in remedies({"r1": {"gamma": 1.0}})["d_wins"]
    assert "trick.clip_grad.max (now 0.5)" in remedies({"clip_grad": {"max": 0.5}})["exploding"]
    assert remedies({"ema": {}}) == remedies() == REMEDIES
    lines: list[str] = []
    monitor = HealthMonitor(warn=lines.append, tricks=wgan_gp)
    rows = [{"D_win": 0.15, "diversity": 0.0}] * 3  # collapse while D loses
    feed(monitor, rows)
    assert len(lines) == 1 and lines[0].endswith(named["collapse_d_loses"])


def test_an_early_swing_of_cyclegans_default_run_is_no_collapse() -> None:
    """`ganhub run plugin=cyclegan trainer.steps=200` (warm-up 20 steps): diversity_A read
    0.53, 0.22, 0.27, 0.50, 0.52, 0.64, 0.68, 1.02 at steps 25-200 while D_A won 82-100 %;
    the dip at step 50 was warned of as a collapse, although the samples spread out again."""
    lines: list[str] = []
    monitor = HealthMonitor(warn=lines.append)
    monitor.warmup_steps = 20
    seen = zip(
        (0.53, 0.22, 0.27, 0.50, 0.52, 0.64, 0.68, 1.02),
        (0.82, 0.95, 1.0, 1.0, 1.0, 0.98, 0.97, 0.95),
    )
    for i, (diversity, wins) in enumerate(seen):
        monitor.check(25 * (i + 1), {"diversity_A": diversity, "D_A_win": wins})
    assert lines == []
    # from step 100 on a fall still counts
    for step, diversity in ((300, 0.9), (325, 0.2)):
        monitor.check(step, {"diversity_A": diversity, "D_A_win": 0.95})
    assert len(lines) == 1 and "possible mode collapse (A) at step 325" in lines[0]
