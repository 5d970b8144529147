"""The collapse monitor as a user meets it: one line that says what it saw and what to try, and
a state that a checkpoint keeps, so that a resumed run neither warns again nor forgets its
peaks."""

from __future__ import annotations

import json

from ganhub.engine.diagnostics import COLLAPSE_REMEDY, CollapseMonitor

STUCK = {"diversity": 0.0, "D_win": 0.80}  # toy2d, G lr 5e-2: one point from step 100 on


def test_the_warning_names_what_it_saw_and_what_to_try() -> None:
    lines: list[str] = []
    mon = CollapseMonitor(warn=lines.append, warmup_steps=300)
    for step in (100, 200, 300, 400, 500):
        mon.check(step, dict(STUCK))
    assert len(lines) == 1
    line = lines[0]
    assert "possible mode collapse at step 300" in line and "\n" not in line
    # a generator that never spread out has no peak to quote ("peak 0.00" read as a bug)
    assert "peak" not in line and "(never above 0.00)" in line
    assert line.endswith(COLLAPSE_REMEDY) and "optim.G.lr" in COLLAPSE_REMEDY
    fell: list[str] = []
    mon2 = CollapseMonitor(warn=fell.append)
    mon2.check(0, {"diversity": 0.9, "D_win": 0.5})
    mon2.check(1, {"diversity": 0.2, "D_win": 0.9})
    assert len(fell) == 1 and "(peak 0.90)" in fell[0]


def test_a_resumed_monitor_keeps_its_peaks_and_does_not_warn_again() -> None:
    lines: list[str] = []
    before = CollapseMonitor(warn=lines.append, warmup_steps=300)
    for step, div in ((300, 0.9), (400, 0.9), (500, 0.0)):
        before.check(step, {"diversity": div, "D_win": 0.9})
    before.check(500, {"diversity_A": 0.8, "D_A_win": 0.5})
    assert len(lines) == 1  # at step 500
    state = json.loads(json.dumps(before.state_dict()))  # as state.json keeps it

    after = CollapseMonitor(warn=lines.append, warmup_steps=300)
    after.load_state_dict(state)
    still = dict(STUCK)
    after.check(600, still)
    assert still["collapse"] == 1.0 and len(lines) == 1  # the same collapse: no second line
    # the peak of 0.8 from before the checkpoint still counts: 0.3 is a fall below half of it
    fall = {"diversity_A": 0.3, "D_A_win": 0.9}
    after.check(600, fall)
    assert fall["collapse_A"] == 1.0 and len(lines) == 2 and "(A)" in lines[1]
    fresh = CollapseMonitor(warn=lines.append, warmup_steps=300)
    fresh.check(600, {"diversity_A": 0.3, "D_A_win": 0.9})
    assert len(lines) == 2  # without the state the fall is lost


def test_one_collapse_is_one_warning_while_d_win_hovers_at_the_threshold() -> None:
    """toy2d, G lr 5e-2, logged every 50 steps: diversity 0.00 throughout while D won 83, 73,
    83, 80 (just under), 87, 81, 80, 86 %: one collapse, warned of three times before."""
    lines: list[str] = []
    mon = CollapseMonitor(warn=lines.append, warmup_steps=50)
    flags = []
    for step, win in zip(range(250, 700, 50), (0.83, 0.73, 0.83, 0.797, 0.87, 0.81, 0.797, 0.86)):
        metrics = {"diversity": 0.0, "D_win": win}
        mon.check(step, metrics)
        flags.append(metrics["collapse"])
    assert len(lines) == 1 and flags == [1.0] * 8
    back = {"diversity": 0.9, "D_win": 0.9}  # diversity recovered: the flag goes off
    mon.check(700, back)
    assert back["collapse"] == 0.0 and mon.active == set()


def test_a_damaged_monitor_state_starts_afresh() -> None:
    mon = CollapseMonitor()
    for bad in (None, [], {"peak": [1]}, {"peak": {"": "x", "_A": float("nan")}, "active": 3}):
        mon.load_state_dict(bad)
        assert mon.peak == {} and mon.active == set()
    mon.load_state_dict({"peak": {"": 0.5, 7: 0.1, "_B": True}, "active": ["", 4]})
    assert mon.peak == {"": 0.5} and mon.active == {""}
    # a NaN mean (fp16, the logging step's fakes overflowed) is no peak: a later fall counts
    lines: list[str] = []
    fp16 = CollapseMonitor(warn=lines.append)
    for step, div in ((0, float("nan")), (1, 0.9), (2, 0.3)):
        fp16.check(step, {"diversity": div, "D_win": 0.9})
    assert len(lines) == 1 and "step 2" in lines[0]
    assert fp16.state_dict() == {"peak": {"": 0.9}, "active": [""]}


def test_a_resumed_run_does_not_warn_again_of_its_collapse(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """toy2d with G's lr 50 times too high: one point from step 50 on, warned of at step 250;
    resumed from step 500, the same collapse is not named again (it was, at step 600)."""
    import ganhub

    keys = [
        "plugin=toy2d", f"out_dir={tmp_path}", "name=g", "tricks=[]", "optim.G.lr=0.05",
        "seed=0", "trainer.log_every=50", "trainer.sample_every=0", "trainer.progress=false",
        "loggers=[jsonl]", "data.n_samples=1000", "eval.n_samples=500", "device=cpu",
    ]  # fmt: skip
    ganhub.train([*keys, "trainer.steps=500"])
    first = capsys.readouterr().err
    assert first.count("possible mode collapse") == 1, first
    ganhub.train([f"resume={tmp_path / 'g'}", "trainer.steps=700", "trainer.progress=false"])
    assert "possible mode collapse" not in capsys.readouterr().err
