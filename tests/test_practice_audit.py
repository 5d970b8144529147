"""A practitioner's audit of the training-practice tricks (docs/tricks.md): an lr_schedule
that would hold every rate as it starts is refused however its warm-up is spelled."""

from __future__ import annotations

from typing import Any

import pytest

from ganhub.plural import counted

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_one_step_warmup_to_the_full_rate_is_refused(cli: Any) -> None:
    """`final=1 warmup_steps=1` trained every step at the full rate (the warm-up's step n
    trains at n / warmup_steps: its one step at 1/1) and was accepted, where `final=1` with no
    warm-up is refused: one line naming the key, why, and what to give; exit code 2."""
    options = ["trick.lr_schedule.final=1", "trick.lr_schedule.warmup_steps=1"]
    code, out, err = cli("config", "plugin=toy2d", "tricks=[lr_schedule]", *options)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("ganhub: error: trick.lr_schedule.final=1: "), err
    assert "warmup_steps=1" in err and "warmup_steps of 2 or more" in err, err
    # the warm-up of two steps (step 1 at half the rate) still resolves
    code, out, err = cli("config", "plugin=toy2d", "tricks=[lr_schedule]", options[0],
                         "trick.lr_schedule.warmup_steps=2")  # fmt: skip
    assert code == 0, err


def _d_steps_per_g_step(tmp_path: Any, first: list[str], resumed: list[str]) -> str:
    """The order of the optimizer steps ("D"/"G") of a toy2d run resumed after 1 of 2 steps."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    import ganhub

    from .conftest import TINY_TOY

    base = [*TINY_TOY, f"out_dir={tmp_path}", "trainer.sample_every=0", "eval.metrics=[]"]
    run = ganhub.train([*base, "trainer.steps=1", *first])["run_dir"]
    sides: dict[int, str] = {}
    seen: list[str] = []

    def count(opt: Any, args: Any, kwargs: Any) -> None:
        if id(opt) not in sides:  # D's phase runs first
            sides[id(opt)] = "DG"[len(sides)]
        seen.append(sides[id(opt)])

    handle = register_optimizer_step_pre_hook(count)
    try:
        ganhub.train([f"resume={run}", "trainer.steps=2", "trainer.progress=false", *resumed])
    finally:
        handle.remove()
    return "".join(seen)


@pytest.mark.parametrize(
    ("first", "resumed", "order"),
    [
        (["tricks=[n_critic]", "trick.n_critic.n=3"], ["trick.n_critic.n=2"], "DDG"),
        (["tricks=[n_critic]", "trick.n_critic.n=3"], ["tricks=[]"], "DG"),
        (["tricks=[]"], ["tricks=[n_critic]", "trick.n_critic.n=3"], "DDDG"),
    ],
)
def test_a_resumed_run_takes_its_d_steps_from_its_config(
    tmp_path: Any, first: list[str], resumed: list[str], order: str
) -> None:
    """The checkpoint's phase repeat counts overrode the resumed config: a run resumed with
    `trick.n_critic.n=2` went on with the 3 D steps it started with, one resumed without the
    trick too, and one resumed with it trained 1 D step per G step."""
    assert _d_steps_per_g_step(tmp_path, first, resumed) == order


def test_a_run_resumed_after_an_early_stop_says_how_many_evaluations_did_not_improve(
    cli: Any, workdir: Any
) -> None:
    """Resumed after a patience stop, a run counts on and stops at its next evaluation with no
    better value; its line said "did not improve in 1 evaluation(s)" (the patience), not 2."""
    args = ["trainer.eval_every=1", "trainer.patience=1", "trainer.keep_best=reverse_kl",
            "eval.n_samples=200", "trainer.progress=false"]  # fmt: skip
    code, _, err = cli("run", "plugin=toy2d", "tricks=[]", "trainer.steps=6", "name=a", *args)
    assert code == 0, err
    resumed = [f"resume={workdir / 'runs' / 'a'}", "trainer.steps=12", "trainer.progress=true"]
    code, out, err = cli("run", *resumed)
    assert code == 0, err
    said = [line for line in (out + err).splitlines() if "did not improve in" in line]
    assert said and said[0].startswith(
        "ganhub: reverse_kl did not improve in 2 evaluations (patience 1); stopping early"
    ), said


@pytest.mark.parametrize(("steps", "warned"), [(30, True), (31, False), (5, True)])
def test_a_patience_that_can_never_stop_the_run_is_warned_of(
    cli: Any, steps: int, warned: bool
) -> None:
    """30 steps evaluated every 10 evaluate at 10 and 20 before the last step: the first sets
    the best, so patience 2 can never run out, and the run said nothing of it (31 steps
    evaluate at 30 too, where it can)."""
    args = ["plugin=toy2d", f"trainer.steps={steps}", "trainer.eval_every=10",
            "trainer.patience=2", "trainer.keep_best=reverse_kl"]  # fmt: skip
    code, out, err = cli("config", *args)
    assert code == 0 and "patience: 2" in out, err
    said = [line for line in err.splitlines() if "trainer.patience=2 can never stop" in line]
    assert bool(said) == warned, err
    if warned:
        evaluations = (steps - 1) // 10
        assert said[0].startswith("ganhub: warning: trainer.patience=2 can never stop this run: ")
        assert f"evaluates {counted(evaluations, 'times')} before its last step" in said[0], said


def test_the_banner_names_the_full_rates_during_an_lr_schedule_warm_up(cli: Any) -> None:
    """The banner's learning-rate row showed only the warm-up's first rate (half of toy2d's
    1e-3 at warmup_steps=2), read as the rate the run trains at."""
    args = ["plugin=toy2d", "tricks=[lr_schedule]", "trick.lr_schedule.warmup_steps=2",
            "trainer.steps=2", "trainer.sample_every=0", "eval.metrics=[]"]  # fmt: skip
    code, out, err = cli("run", *args)
    assert code == 0, err
    [row] = [line for line in (out + err).splitlines() if "learning rate" in line]
    assert row.split("learning rate")[1].strip() == (
        "G 0.0005, D 0.0005 (by lr_schedule; full rates G 0.001, D 0.001)"
    ), row
    code, out, err = cli("run", "plugin=toy2d", "tricks=[]", *args[3:])
    [row] = [line for line in (out + err).splitlines() if "learning rate" in line]
    assert row.split("learning rate")[1].strip() == "G 0.001, D 0.001", row
