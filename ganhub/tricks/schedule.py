"""Tricks on the optimisation schedule: clipping, n_critic, G/D balancing, TTUR, LR schedules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ganhub.config.given import KnowsGiven, given_of
from ganhub.config.schema import Section
from ganhub.tricks import Groups, Trick, bounded, longer_than_run, set_by_user
from ganhub.tricks.schedule_checks import configured_by_user, idle_decay

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import GANSystem, Phase, PhaseOutput


class ClipConfig(Section):
    """Options of the `clip_grad` trick."""

    mode: Literal["norm", "value"] = Field("norm", description="clip the global norm or each value")
    max: float = Field(1.0, description="max global L2 norm (norm) or max |g| (value), above 0")
    groups: Groups = Field(["G", "D"], description="which sides are clipped")

    @field_validator("max")
    @classmethod
    def _bounds(cls, most: float) -> float:
        # pydantic's "greater than 0" said what, not why
        if most <= 0:
            what = (
                "would clip every gradient to 0, so nothing would train"
                if most == 0
                else "is no bound (a norm or |g| is 0 or more)"
            )
            raise ValueError(
                f"{what}: give a bound above 0 (default 1.0), or drop clip_grad from tricks"
            )
        return most


class GradClip(Trick):
    """Gradient clipping by global norm or by value, on unscaled gradients."""

    name = "clip_grad"
    graph_safe = True
    Config = ClipConfig

    def before_optimizer_step(self, phase: Phase, params: list[nn.Parameter]) -> None:
        """Clip the phase's gradients in place (foreach kernels; no host sync)."""
        if phase.group not in self.options.groups:
            return
        import torch

        if self.options.mode == "norm":
            torch.nn.utils.clip_grad_norm_(params, self.options.max, foreach=True)
        else:
            torch.nn.utils.clip_grad_value_(params, self.options.max, foreach=True)


class NCriticConfig(Section):
    """Options of the `n_critic` trick."""

    n: int = Field(
        5,
        description="discriminator steps per generator step, at least 2 (WGAN: 5; 1 is every "
        "run's schedule without the trick, so it is refused)",
    )

    @field_validator("n")
    @classmethod
    def _repeats(cls, n: int) -> int:
        # one D step per G step is what every run does without the trick: n=1 would enable a
        # trick that changes nothing (a sweep's baseline is the run without it); fewer would
        # never train D
        if n == 1:
            raise ValueError(
                "one D step per G step is what a run does without the trick, so it would "
                "change nothing: give n >= 2 (WGAN: 5), or drop n_critic from tricks"
            )
        if n < 1:
            raise ValueError(
                "would never train D: give n >= 2 (WGAN: 5), or drop n_critic from tricks"
            )
        return n


class NCritic(Trick):
    """Run each discriminator phase n times per step, on fresh batches (WGAN's n_critic)."""

    name = "n_critic"
    Config = NCriticConfig
    excludes = frozenset({"balance"})

    def adjust_phases(self, phases: list[Phase]) -> None:
        """Set the repeat count of every every-step D phase."""
        for phase in phases:
            if phase.group == "D" and phase.every_step:
                phase.repeat = self.options.n


class BalanceConfig(Section, KnowsGiven):
    """Options of the `balance` trick (keeping the keys the user gave: `set_by_user`)."""

    check_every: int = Field(
        50, description="steps between decisions (each one syncs once), at least 1"
    )
    upper: float = Field(
        0.8, description="D winning above this: G trains more (above 0.5, at most 1)"
    )
    lower: float = Field(
        0.55, description="D losing below this: D trains more (0.5 or more, below 1)"
    )
    max_repeat: int = Field(
        3,
        description="most repeats per step of the side trained more, at least 2 (1 would "
        "balance nothing)",
    )

    @field_validator("max_repeat")
    @classmethod
    def _can_repeat(cls, most: int) -> int:
        # pydantic's "greater than or equal to 2" said what, not why
        if most < 2:
            what = (
                "lets the losing side train at most once per step, as every run without the "
                "trick does, so the trick would balance nothing"
                if most == 1
                else "would stop the losing side training at the first decision"
            )
            raise ValueError(f"{what}: give 2 or more (default 3), or drop balance from tricks")
        return most

    @field_validator("check_every")
    @classmethod
    def _decides(cls, every: int) -> int:
        why = "is no number of steps between decisions"
        return bounded(every, every >= 1, why, "1 or more (default 50; each decision syncs once)")

    # a win rate is a share of (real, fake) pairs: 0.5 is a coin toss's, 1 D's best
    @field_validator("upper")
    @classmethod
    def _d_wins(cls, upper: float) -> float:
        why = (
            "is above the highest win rate (1), so G would never train more"
            if upper > 1
            else "would count D as winning at a coin toss's win rate or less"
        )
        return bounded(
            upper, 0.5 < upper <= 1, why, "a win rate above 0.5, at most 1 (default 0.8)"
        )

    @field_validator("lower")
    @classmethod
    def _d_loses(cls, lower: float) -> float:
        why = (
            "is the highest win rate (1) or above, so D would train more at almost every decision"
            if lower >= 1
            else "would let D lose below a coin toss's win rate before it trains more"
        )
        return bounded(
            lower, 0.5 <= lower < 1, why, "a win rate from 0.5 to below 1 (default 0.55)"
        )

    @model_validator(mode="after")
    def _ordered(self) -> BalanceConfig:
        if self.lower >= self.upper:
            raise ValueError(
                f"trick.balance.lower={self.lower} must be below trick.balance.upper={self.upper}"
            )
        return self


class Balance(Trick):
    """Adaptive G/D balance (a "two-step rule"): train the side that is losing more.

    D's win rate is the share of (real, fake) pairs where D scores the real one higher, a
    loss-independent measure. Every `check_every` steps: above `upper` the G phases repeat one
    more time, below `lower` the D phases do; in between both go back to once. Bounded by
    `max_repeat`.
    """

    name = "balance"
    state_follows_training = True
    # counts on the host and reads the win rate back (a sync)
    graph_safe = False
    Config = BalanceConfig
    excludes = frozenset({"n_critic"})

    def warnings(self) -> list[str]:
        """A decision interval the user set longer than the run never decides (the default
        of 50 is not warned of: a short test run with the defaults is no mistake)."""
        if not set_by_user(self.options, "check_every", self.config):
            return []
        return longer_than_run(
            "trick.balance.check_every",
            self.options.check_every,
            self.config,
            "the trick never checks the balance and changes nothing",
        )

    def adjust_phases(self, phases: list[Phase]) -> None:
        """Remember the every-step phases whose repeats this trick controls."""
        self.phases = {g: [p for p in phases if p.group == g and p.every_step] for g in "GD"}
        self.wins: torch.Tensor | None = None
        self.count = 0
        self.history: list[tuple[int, float, int, int]] = []
        self.shown: torch.Tensor | None = None  # (G, D) repeats on the device, for the log

    def observe(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> None:
        """Accumulate D's win rate on device from the D phase's stats, and log the repeat
        counts in force (`balance/G_repeat`, `balance/D_repeat`: their means over a logging
        interval say how often each side trained, and whether the trick ever acted)."""
        seen = None
        for key, value in list(out.stats.items()):
            if key.endswith("_win"):
                self.wins = value if self.wins is None else self.wins.to(value.device) + value
                self.count += 1
                seen = value
        if seen is None:
            return
        if self.shown is None or self.shown.device != seen.device:  # once per decision
            import torch

            self.shown = torch.tensor(self.repeats(), dtype=torch.float32, device=seen.device)
        out.stats["balance/G_repeat"], out.stats["balance/D_repeat"] = self.shown.unbind()

    def after_step(self, step: int, system: GANSystem) -> None:
        """Every `check_every` steps, read the win rate (one sync) and set the repeat counts."""
        if step % self.options.check_every or self.wins is None or not self.count:
            return
        rate = float(self.wins) / self.count
        self.wins, self.count = None, 0
        g_rep, d_rep = self.repeats()
        if rate > self.options.upper:
            g_rep, d_rep = min(g_rep + 1, self.options.max_repeat), 1
        elif rate < self.options.lower:
            g_rep, d_rep = 1, min(d_rep + 1, self.options.max_repeat)
        else:
            g_rep, d_rep = 1, 1
        self.set_repeats(g_rep, d_rep)
        self.history.append((step, rate, g_rep, d_rep))
        self.shown = None

    def repeats(self) -> tuple[int, int]:
        """Current (G, D) repeat counts."""
        g = self.phases["G"][0].repeat if self.phases["G"] else 1
        d = self.phases["D"][0].repeat if self.phases["D"] else 1
        return g, d

    def set_repeats(self, g: int, d: int) -> None:
        """Set the repeat counts of the controlled phases."""
        for p in self.phases["G"]:
            p.repeat = g
        for p in self.phases["D"]:
            p.repeat = d

    def state_dict(self) -> dict[str, Any]:
        """Repeat counts and the win-rate sums since the last decision."""
        g, d = self.repeats()
        return {"g_repeat": g, "d_repeat": d, "wins": self.wins, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore repeat counts and pending sums."""
        self.set_repeats(int(state["g_repeat"]), int(state["d_repeat"]))
        self.wins, self.count = state.get("wins"), int(state.get("count", 0))
        self.shown = None


class TTURConfig(Section):
    """Options of the `ttur` trick."""

    g_lr: float = Field(1e-4, description="generator learning rate, above 0")
    d_lr: float = Field(
        4e-4, description="discriminator learning rate, above 0 (SAGAN, BigGAN: 4x G)"
    )

    @field_validator("g_lr", "d_lr")
    @classmethod
    def _trains(cls, lr: float, info: ValidationInfo) -> float:
        side = "G" if info.field_name == "g_lr" else "D"
        why = (
            f"would leave {side}'s weights as they start, so {side} would never train"
            if lr == 0
            else f"would step {side} up its loss, not down"
        )
        return bounded(lr, lr > 0, why, "a rate above 0 (TTUR: g_lr=1e-4 d_lr=4e-4)")


class TTUR(Trick):
    """Two time-scale update rule (Heusel et al. 2017): separate learning rates for G and D."""

    name = "ttur"
    Config = TTURConfig
    setup_order = 20  # before schedules read the initial learning rates

    def warnings(self) -> list[str]:
        """Rates equal to the run's optim.G.lr and optim.D.lr leave every rate as it was."""
        g_lr, d_lr = self.options.g_lr, self.options.d_lr
        if (g_lr, d_lr) != (self.config.optim.G.lr, self.config.optim.D.lr):
            return []
        return [
            f"trick.ttur.g_lr={g_lr:g} and trick.ttur.d_lr={d_lr:g} are the run's optim.G.lr "
            "and optim.D.lr, so ttur changes nothing: Heusel et al. give D a rate above G's "
            "(e.g. trick.ttur.g_lr=1e-4 trick.ttur.d_lr=4e-4), or drop ttur from tricks"
        ]

    def on_optimizers(self, optimizers: dict[str, Any]) -> None:
        """Move each side from `optim.<side>.lr` to its TTUR rate, keeping every param group's
        ratio to it: the groups a domain set apart (StyleGAN's lazy path-length correction, a
        supernet's architecture logits) keep their relative rates."""
        from ganhub.engine.optimizers import set_learning_rate

        for side, lr in (("G", self.options.g_lr), ("D", self.options.d_lr)):
            scale = lr / getattr(self.config.optim, side).lr
            for pg in optimizers[side].param_groups:
                set_learning_rate(pg, float(pg["lr"]) * scale)
                pg["initial_lr"] = float(pg["lr"])


class LRScheduleConfig(Section, KnowsGiven):
    """Options of the `lr_schedule` trick (keeping the keys the user gave: `schedule_checks`)."""

    kind: Literal["linear", "cosine"] = Field("linear", description="decay shape")
    start: float = Field(
        0.0,
        description="fraction of steps at constant LR before decay, 0 or more and below 1 "
        "(CycleGAN: 0.5)",
    )
    final: float = Field(0.0, description="final LR as a fraction of the initial one, from 0 to 1")
    warmup_steps: int = Field(0, description="linear warm-up from 0 over this many steps (0: none)")

    # pydantic's bounds said what, not why
    @field_validator("start")
    @classmethod
    def _decays(cls, start: float) -> float:
        if start >= 1:
            raise ValueError(
                "is a fraction of trainer.steps, and from 1 on the rate would never decay: give "
                "a fraction below 1 (CycleGAN: 0.5), or drop lr_schedule from tricks"
            )
        if start < 0:
            raise ValueError(
                "is a fraction of trainer.steps before the first step: give 0 (decay from the "
                "start, the default) up to below 1 (CycleGAN: 0.5)"
            )
        return start

    @field_validator("final")
    @classmethod
    def _ends(cls, final: float) -> float:
        why = (
            "would end at a negative rate, which steps up the loss"
            if final < 0
            else "would raise the rate above its initial one, not decay it"
        )
        return bounded(final, 0 <= final <= 1, why, "a fraction from 0 to 1 (default 0)")

    @field_validator("warmup_steps")
    @classmethod
    def _warms(cls, steps: int) -> int:
        return bounded(steps, steps >= 0, "is no number of steps", "0 (no warm-up) or more")

    @model_validator(mode="after")
    def _changes_a_rate(self) -> LRScheduleConfig:
        # decaying to the full rate with no warm-up holds every rate as it starts; so does a
        # warm-up of one step, whose first step already trains at (0 + 1) / 1 of the rate
        if self.final == 1 and self.warmup_steps <= 1:
            warm = (
                "with no warmup_steps"
                if self.warmup_steps == 0
                else "with warmup_steps=1 (a one-step warm-up trains its step at the full rate)"
            )
            raise ValueError(
                f"trick.lr_schedule.final=1: {warm} every learning rate stays as it starts, so "
                "the schedule would change nothing: give a final fraction below 1 (default 0), "
                "warmup_steps of 2 or more, or drop lr_schedule from tricks"
            )
        return self


class LRSchedule(Trick):
    """Learning-rate schedule for every optimizer: warm-up, constant, then linear or cosine decay."""

    name = "lr_schedule"
    # with CUDA graphs the learning rates are device tensors, which it fills in place
    graph_safe = True
    Config = LRScheduleConfig
    setup_order = 30

    # A run extended (or shortened) on resume continues its decay from the rate it had
    # reached: `anchor` = (the resumed step, its factor), from which the factor decays to
    # `final` over the new remaining steps. Recomputing the plan from the new length would
    # jump the rate back up (a run at 10 % of its LR back to 100 %) and could undo a GAN
    # that had settled. None: the plan of trainer.steps, as the run started.
    anchor: tuple[int, float] | None = None
    last_step = 0

    def warnings(self) -> list[str]:
        """A warm-up longer than the run, or a decay (almost) no step reaches: warned of, not
        refused, as both depend on trainer.steps (a short test run may mean them); the decay
        only where the user configured the schedule (`ganhub.tricks.schedule_checks`)."""
        steps, warm = self.config.trainer.steps, self.options.warmup_steps
        what = f"the learning rate never gets past {steps / max(warm, 1):.2g}x its full value"
        longer = longer_than_run("trick.lr_schedule.warmup_steps", warm, self.config, what +
                                 " and never decays")  # fmt: skip
        if longer or not configured_by_user(given_of(self.options)):
            return longer  # a domain's own schedule, only trainer.steps shortened: no noise
        o = self.options
        return idle_decay(
            o.start, o.final, o.warmup_steps, steps, self._factor(steps - 1, steps, None)
        )

    def follows_run_length(self) -> str | None:
        """Its decay runs to the run's end (a warm-up alone, to `final` 1, does not)."""
        if self.options.final == 1:
            return None
        return "decays on from the rate it reached over the new length"

    def factor(self, step: int) -> float:
        """LR multiplier after `step` completed steps."""
        return self._factor(step, self.config.trainer.steps, self.anchor)

    def _factor(self, step: int, total: int, anchor: tuple[int, float] | None) -> float:
        o = self.options
        if anchor is not None and step >= anchor[0]:
            begin, high = anchor
        elif o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        else:
            begin, high = max(int(o.start * total), o.warmup_steps), 1.0
        if step <= begin:
            return high
        progress = min(1.0, (step - begin) / max(1, total - begin))
        shape = 1.0 - progress if o.kind == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
        return o.final + (high - o.final) * shape

    def state_dict(self) -> dict[str, Any]:
        """The plan the rates follow: its length, anchor and the last step applied."""
        return {"total": self.config.trainer.steps, "anchor": self.anchor, "step": self.last_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A resumed run of another length continues from the factor it had reached."""
        total, step = int(state.get("total", self.config.trainer.steps)), int(state.get("step", 0))
        saved = state.get("anchor")
        self.anchor = (int(saved[0]), float(saved[1])) if saved else None
        self.last_step = step
        if total != self.config.trainer.steps:
            reached = self._factor(step, total, self.anchor)
            if reached != self._factor(step, self.config.trainer.steps, self.anchor):
                self.anchor = (step, reached)

    def on_optimizers(self, optimizers: dict[str, Any]) -> None:
        """Remember each param group's initial learning rate and apply the factor for step 0."""
        # the optimizers, not their param-group dicts: loading a checkpoint replaces the dicts
        self.optimizers = list(optimizers.values())
        for pg in self._groups():
            pg.setdefault("initial_lr", pg["lr"])
        self._apply(0)

    def after_step(self, step: int, system: GANSystem) -> None:
        """Set the learning rates for the next step."""
        self.last_step = step
        self._apply(step)

    def _groups(self) -> list[dict[str, Any]]:
        return [pg for opt in self.optimizers for pg in opt.param_groups]

    def _apply(self, step: int) -> None:
        from ganhub.engine.optimizers import set_learning_rate

        f = self.factor(step)
        for pg in self._groups():
            set_learning_rate(pg, pg["initial_lr"] * f)
