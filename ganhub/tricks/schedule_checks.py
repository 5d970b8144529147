"""The lr_schedule trick's start-of-run check: a decay that (almost) no step of the run reaches.

It is warned of only where the user configured the schedule: gave one of its keys (as
`key=value` or in a file) or named it in `tricks=`. A schedule that a domain enables with its
own options (toy2d decays over the last 30 % of its 15,000 steps) says nothing when only
trainer.steps was shortened, as every smoke run does: the user asked for no schedule.

The schedule's options section keeps the keys the user gave (`ganhub.config.given`). A
config validated without them (an older caller, a config rebuilt from a dict) counts every key
as the user's, and warns.
"""

from __future__ import annotations

from collections.abc import Collection

from ganhub.config.given import user_gave

_KEY = "trick.lr_schedule"


def configured_by_user(given: Collection[str] | None) -> bool:
    """Whether the user set an lr_schedule key or named the tricks (None: unknown, so yes)."""
    return given is None or "tricks" in given or user_gave(given, _KEY)


def idle_decay(start: float, final: float, warmup_steps: int, steps: int, last: float) -> list[str]:
    """The warning for a decay toward `final` that no step of trainer.steps=`steps` reaches,
    or that lowers the mean rate by under 1 % (final near 1, a start near the end); `last`
    is the factor the last step trains at."""
    begin = max(int(start * steps), warmup_steps)
    decaying = steps - 1 - begin  # steps trained below the full rate after any warm-up
    # either shape loses (T - 1) / 2 steps of rate (a half period's cosines cancel)
    lowered = (1 - final) * max(decaying, 0) / 2 / steps
    if final == 1 or lowered >= 0.01:
        return []
    short = "or ignore this for a short test run"
    by_warmup = warmup_steps > 1 and warmup_steps >= int(start * steps)
    if decaying > 0:
        placed = f"warmup_steps={warmup_steps}" if by_warmup else f"start={start:g}"
        return [
            f"{_KEY}.{placed} and {_KEY}.final={final:g} decay the rate over the last "
            f"{decaying} of trainer.steps={steps} (the last step at {last:.3g}x), which "
            f"lowers the run's mean rate by {lowered:.2%}, so the schedule changes almost "
            f"nothing: give an earlier decay (start=0.5, as CycleGAN) or a lower final "
            f"(default 0), {short}"
        ]
    if by_warmup:
        room = f"warmup_steps of at most {steps - 2}" if steps > 2 else "more trainer.steps"
        return [
            f"{_KEY}.warmup_steps={warmup_steps} leaves no step of trainer.steps={steps} "
            f"to decay toward {_KEY}.final={final:g}: the rate warms up and never decays; "
            f"give {room}, or final=1 for a warm-up alone, {short}"
        ]
    rest = "the schedule changes nothing" if warmup_steps <= 1 else "only the warm-up acts"
    room = f"a start below {(steps - 1) / steps:.4g}" if steps > 1 else "more trainer.steps"
    held = f"holds the full rate through step {begin + 1} of trainer.steps={steps}"
    return [
        f"{_KEY}.start={start:g} {held}, so no step trains below it and {rest}: give {room}, "
        f"{short}"
    ]


__all__ = ["configured_by_user", "idle_decay"]
