"""Training health warnings beyond mode collapse, read from the stats logged at logging steps.

The literature names three more ways a GAN run goes wrong that the logged stats show
(docs/training.md#training-health-warnings has the figures behind each threshold):

* **D wins outright** (``unstable/d_wins``): D's pairwise win rate ``D_win`` (or, without it,
  its mean accuracy) stays at `win` or above while G's loss rises at `patience` logging steps
  in a row and G's gradient norm (``grad_norm/G*``) falls to `shrink` times where it was; G then
  gets next to no gradient (vanishing gradients, Arjovsky & Bottou 2017).
* **Exploding gradients** (``unstable/exploding``): a ``grad_norm/<phase>`` (logged before
  clipping) reaches `explode` times its baseline (the largest of its first `baseline` values
  after warm-up; steps where D wins outright, whose gradients may have vanished, have a
  baseline of their own), or is not finite at `patience` logging steps in a row (one alone
  is an fp16 grad scaler skipping a step). A value that is already `explode` times the
  smallest one taken before it is an explosion, not part of the baseline: else one that
  starts within the first values would raise its own yardstick and hide. A run that exploded
  before its first logged value has no healthy norm to be measured against: an untrained D's
  outputs are near 0 whatever its loss, so D's mean output on reals or fakes (``D<tag>_real``,
  ``D<tag>_fake``) at `out_limit` or more in size at the first `patience` logging steps, never
  under it, is an explosion too (no warm-up: a healthy D gets nowhere near it).
* **Collapse while D loses** (``unstable/collapse_d_loses``): sample ``diversity`` under `floor`
  for `patience` logging steps while D does not win (below `d_wins`), which the collapse monitor
  (`CollapseMonitor`, D winning) leaves alone: a critic that cannot tell the collapsed fakes
  from the data gives G no reason to spread out again.

G's loss is read per discriminator where the system declares which logged stat is G's
adversarial loss against it (`GANSystem.g_loss_stats`: CycleGAN's ``G_adv_A``; a policy-gradient
G, whose loss a baseline centres on 0, declares its samples' non-saturating loss), else
``loss/G``; G's gradient norm likewise (`GANSystem.g_grad_stats`: CycleGAN's ``G_adv_grad_A``,
the gradient D_A gives its generator's images; its one G phase's ``grad_norm/G`` is mostly the
cycle loss's), else the largest ``grad_norm/G*``. Each is an episode: one warning line when it
starts, naming what was seen (figures, step) and what to try (`remedies`: the active tricks'
own settings where one is the lever); the flag (0 or 1, in metrics.jsonl) stays on until the
stat is back under (over) its recovery level. All work is on the host, on the logging step's
flushed means: no sync. `HealthMonitor` runs `CollapseMonitor` and `InstabilityMonitor` as
the run's one monitor; its `state_dict` is what a checkpoint keeps, so a resumed run goes on
with the same baselines and streaks and does not warn again of an episode it already named. A
run whose steps are not training steps (a meta run's outer steps) says so with
`HealthMonitor.count_in`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ganhub.closed_output import say
from ganhub.engine.diagnostics import CollapseMonitor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# what each warning suggests: the remedies that ended the provoked case on toy2d
# (docs/training.md#training-health-warnings has the measurements)
REMEDIES = {
    "d_wins": "try the r1 trick (a gradient penalty on D)",
    "exploding": "try lower learning rates (optim.D.lr, optim.G.lr), or the clip_grad trick "
    "(gradient clipping)",
    "collapse_d_loses": "try a lower optim.G.lr, or the default loss with the r1 trick",
}
KINDS = tuple(REMEDIES)
# nothing counts before this step of a run, for either monitor: an untrained generator is one
# blob that its D beats at first, and early samples swing as G first moves
FIRST_STEP = 100


def remedies(tricks: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """`REMEDIES` for a run with these active tricks (name -> its options): where a trick on
    is the lever, the remedy names its setting and value (WGAN-GP's penalty weight, n_critic's
    n) instead of a trick that cannot be added beside it."""
    tricks = tricks or {}
    out = dict(REMEDIES)
    gp, r1, critic, clip = (tricks.get(n) for n in ("gp", "r1", "n_critic", "clip_grad"))
    if gp is not None:  # r1 would be a second penalty on D; the lambda is the lever
        out["d_wins"] = f"try a larger trick.gp.weight (now {_value(gp, 'weight')})"
        # toy2d: lambda 10 collapsed while D lost, the WGAN-GP toy code's 0.1 kept 8 modes
        out["collapse_d_loses"] = (
            f"try a lower optim.G.lr, or a smaller trick.gp.weight (now {_value(gp, 'weight')})"
        )
    elif r1 is not None:
        out["d_wins"] = f"try a larger trick.r1.gamma (now {_value(r1, 'gamma')})"
    if critic is not None:  # more D steps per G step make D win sooner
        out["d_wins"] += f", or fewer critic steps (trick.n_critic.n, now {_value(critic, 'n')})"
    if clip is not None:  # the norm is logged before clipping, so a clipped run can warn
        out["exploding"] = (
            "try lower learning rates (optim.D.lr, optim.G.lr), or a lower "
            f"trick.clip_grad.max (now {_value(clip, 'max')})"
        )
    return out


def _value(options: Mapping[str, Any], key: str) -> str:
    value = options.get(key)
    return f"{value:g}" if type(value) in (int, float) else str(value)


@dataclass
class Logged:
    """What the conditions read of one logging step, for one discriminator's `tag`."""

    step: int
    tag: str
    wins: float | None  # D's win rate (or mean accuracy); None when not logged
    metrics: dict[str, float]
    warm: bool  # past the warm-up: conditions count
    out: list[str] = field(default_factory=list)  # the warnings issued


def _finite(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


class InstabilityMonitor:
    """Flags D winning outright, exploding gradients and collapse while D loses (module doc).

    `check` adds ``unstable/<kind>`` (0 or 1) to the metrics of every logging step from the
    first on and warns once per episode. Nothing counts before step `warmup_steps`, nor before
    step `first_step` (an untrained generator is one blob and its D wins at first). Tags
    (``D_A_win``, ``diversity_A``) are read as the collapse monitor reads them; the warning
    names the tag.
    """

    def __init__(
        self,
        warn: Callable[[str], None] | None = None,
        warmup_steps: int = 0,
        win: float = 0.99,
        win_recover: float = 0.9,
        explode: float = 100.0,
        explode_recover: float = 10.0,
        baseline: int = 3,
        floor: float = 0.1,
        floor_recover: float = 0.5,
        d_wins: float = 0.8,
        patience: int = 3,
        shrink: float = 0.5,
        warned_elsewhere: Callable[[str], bool] = lambda tag: False,
        first_step: int = FIRST_STEP,
        g_loss_stats: Mapping[str, str] | None = None,
        tricks: Mapping[str, Mapping[str, Any]] | None = None,
        g_grad_stats: Mapping[str, str] | None = None,
        out_limit: float = 100.0,
    ) -> None:
        self.warmup_steps = warmup_steps
        # the logged stat of G's adversarial loss against each tag's D (the system's
        # declaration): cyclegan's combined loss/G is mostly its cycle loss, which falls while
        # one side's adversarial loss climbs
        self.g_loss_stats = dict(g_loss_stats or {})
        # and of G's gradient norm from each tag's D (cyclegan: the adversarial gradient alone)
        self.g_grad_stats = dict(g_grad_stats or {})
        # D's mean output an untrained D is nowhere near (about 0: toy2d's first logged 0.2; a
        # minimax D winning 100 %: 13 at step 300) and one that exploded before the first
        # logged value is past (toy2d at optim.D.lr=0.05: 6,355 at step 10)
        self.out_limit = out_limit
        self.healthy: set[str] | None = set()  # tags whose D's outputs were once under it
        self.remedies = remedies(tricks)
        # a smoke run of a few steps has no episode: an untrained toy2d generator is one blob
        # (diversity 0.01) while D wins 56 %, 3 logging steps of an 8-step run (as the collapse
        # monitor's `floor_after`)
        self.first_step = first_step
        self.win, self.win_recover = win, win_recover
        self.explode, self.explode_recover, self.baseline = explode, explode_recover, baseline
        self.floor, self.floor_recover, self.d_wins = floor, floor_recover, d_wins
        self.patience, self.shrink = patience, shrink
        self.warn = warn or say
        # a collapse of this tag the collapse monitor already named (D won): flagged, not named
        self.warned_elsewhere = warned_elsewhere
        # per watched series ("d_wins<tag>", "exploding/<key>", "collapse<tag>"):
        self.streak: dict[str, int] = {}  # logging steps in a row the condition held
        self.start: dict[str, float] = {}  # d_wins: G's loss when the streak began...
        self.prev: dict[str, float] = {}  # ...and at the last logging step
        self.base: dict[str, list[float]] = {}  # exploding: the first values after warm-up
        self.active: set[str] = set()  # episodes warned of and not over

    def check(self, step: int, metrics: dict[str, float]) -> list[str]:
        """Update the streaks, add the ``unstable/*`` flags to `metrics`, return the warnings."""
        messages: list[str] = []
        flags = dict.fromkeys(KINDS, False)
        warm = step >= max(self.warmup_steps, self.first_step)
        outright = False  # a gradient-norm baseline of its own: G's gradient may vanish here
        for tag in _tags(metrics):
            flags["exploding"] |= self._diverged(step, tag, metrics, messages)
            wins = CollapseMonitor._wins(metrics, tag)
            outright |= wins is not None and _finite(wins) and wins >= self.win
            seen = Logged(step, tag, wins, metrics, warm, messages)
            flags["d_wins"] |= self._d_wins(seen)
            flags["collapse_d_loses"] |= self._losing(seen)
        grown: list[str] = []  # one line for the phases whose gradients exploded at this step
        for key in sorted(k for k in metrics if k.startswith("grad_norm/")):
            flags["exploding"] |= self._exploding(key, metrics[key], warm, outright, grown)
        if grown:
            self._open("", messages, f"exploding gradients at step {step}: {', '.join(grown)}",
                       "exploding")  # fmt: skip
        for kind, on in flags.items():
            metrics[f"unstable/{kind}"] = float(on)
        return messages

    # -- the three conditions ------------------------------------------------------------

    def g_loss(self, metrics: dict[str, float], tag: str) -> float | None:
        """G's adversarial loss against `tag`'s D: the declared stat (absent from a step that
        has no adversarial G phase, e.g. text pretraining: None), else ``loss/G``."""
        if tag in self.g_loss_stats:
            return metrics.get(self.g_loss_stats[tag])
        return metrics.get(f"loss/G{tag}", metrics.get("loss/G"))

    def g_grad(self, metrics: dict[str, float], tag: str) -> float | None:
        """G's gradient norm from `tag`'s D: the declared stat, else the largest of the G
        phases' ``grad_norm/G*`` (None: none logged, or not finite)."""
        if tag in self.g_grad_stats:
            value = metrics.get(self.g_grad_stats[tag])
            return float(value) if value is not None and _finite(value) else None
        norms = [v for k, v in metrics.items() if k.startswith("grad_norm/G") and _finite(v)]
        return max(norms) if norms else None

    def _diverged(self, step: int, tag: str, metrics: dict[str, float], out: list[str]) -> bool:
        """D's outputs exploded before the first logged value: at `out_limit` or more at the
        first `patience` logging steps, never under it (flagged until they are)."""
        key = f"exploding/D{tag}_out"
        sides = {s: metrics.get(f"D{tag}_{s}") for s in ("real", "fake")}
        values = {s: v for s, v in sides.items() if v is not None and type(v) in (int, float)}
        if not values or self.healthy is None or tag in self.healthy:
            return False
        if all(_finite(v) and abs(v) < self.out_limit for v in values.values()):
            self.healthy.add(tag)  # from here on the gradient norms' baseline judges
            return self._end(key)
        self.streak[key] = self.streak.get(key, 0) + 1
        if key in self.active or self.streak[key] < self.patience:
            return key in self.active
        side, value = max(values.items(), key=lambda kv: abs(kv[1]) if _finite(kv[1]) else math.inf)
        self._open(key, out, f"exploding D outputs{_where(tag)} at step {step}: D's mean output "
                   f"on {side}s is {value:.3g} (an untrained D's are near 0), at least "
                   f"{self.out_limit:g} in size at every logging step so far: the run diverged "
                   "before its first logged value, so no gradient norm of it is a healthy "
                   "baseline", "exploding")  # fmt: skip
        return True

    def _d_wins(self, seen: Logged) -> bool:
        step, tag, wins, metrics = seen.step, seen.tag, seen.wins, seen.metrics
        key = f"d_wins{tag}"
        g_loss = self.g_loss(metrics, tag)
        if not (seen.warm and wins is not None and _finite(wins) and g_loss is not None):
            return self._end(key)
        if not _finite(g_loss):
            return self._end(key)
        if key in self.active:  # the episode lasts until D stops winning outright
            return True if wins >= self.win_recover else self._end(key)
        if wins < self.win:
            return self._end(key)
        # G's loss rising at every logging step while G's gradient shrinks: DCGAN's D wins
        # 99-100 % from step 100 on while G's loss wanders (3 rises in a row, 2.55 -> 3.11)
        # and its gradient grows (15 -> 21): G learns
        norm = self.g_grad(metrics, tag)
        prev, self.prev[key] = self.prev.get(key), float(g_loss)
        if prev is None or g_loss <= prev or norm is None:
            self.start[key], self.streak[key] = float(g_loss), 0
            if norm is not None:
                self.start[f"{key}/grad"] = float(norm)
            return False
        self.streak[key] = self.streak.get(key, 0) + 1
        began = self.start.get(f"{key}/grad")
        if self.streak[key] < self.patience or began is None or norm > self.shrink * began:
            return False
        stat = f" ({self.g_loss_stats[tag]})" if tag in self.g_loss_stats else ""
        self._open(key, seen.out, f"D wins outright{_where(tag)} at step {step}: D wins "
                   f"{wins:.1%}, G's loss{stat} rose at {self.streak[key]} logging steps in a row "
                   f"({self.start.get(key, prev):.3g} -> {g_loss:.3g}) and its gradient norm "
                   f"fell ({began:.2g} -> {norm:.2g}): G gets next to no gradient",
                   "d_wins")  # fmt: skip
        return True

    def _losing(self, seen: Logged) -> bool:
        step, tag, wins, warm, out = seen.step, seen.tag, seen.wins, seen.warm, seen.out
        key = f"collapse{tag}"
        value = seen.metrics.get(f"diversity{tag}")
        if not warm or value is None or not _finite(value):
            return self._end(key) if value is None or not warm else key in self.active
        if key in self.active:  # until diversity recovers, whoever wins meanwhile
            if value < self.floor_recover:
                return True
            return self._end(key)
        losing = wins is None or (_finite(wins) and wins < self.d_wins)
        if value >= self.floor or not losing:
            return self._end(key)
        self.streak[key] = self.streak.get(key, 0) + 1
        if self.streak[key] < self.patience:
            return False
        if self.warned_elsewhere(tag):  # one collapse, one warning, whoever wins meanwhile
            self.active.add(key)
            return True
        during = "" if wins is None else f" while D wins only {wins:.0%}"
        self._open(key, out, f"possible mode collapse while D loses{_where(tag)} at step {step}: "
                   f"sample diversity {value:.2f} of the data's for {self.streak[key]} logging "
                   f"steps{during}", "collapse_d_loses")  # fmt: skip
        return True

    def _exploding(
        self, key: str, value: float, warm: bool, outright: bool, grown: list[str]
    ) -> bool:
        watch = f"exploding/{key}"
        if not warm:
            return False
        if not _finite(value):  # one alone is an fp16 grad scaler's skipped step
            self.streak[watch] = self.streak.get(watch, 0) + 1
            if watch not in self.active and self.streak[watch] >= self.patience:
                grown.append(f"{key} is {value} at {self.streak[watch]} logging steps in a row")
                self.active.add(watch)
            return watch in self.active
        self.streak.pop(watch, None)
        # D winning outright or not, each its own baseline: a gradient that vanished while D
        # won outright and recovered is no explosion, and a run whose D wins outright from its
        # first logging step on (textgan: one-hot reals against soft or sampled fakes) still
        # has one
        seen = self.base.setdefault(f"{key}/outright" if outright else key, [])
        if watch in self.active:  # until back under the recovery level of its own yardstick
            base = self.start.get(watch, max(seen) if seen else math.inf)
            return True if value >= self.explode_recover * base else self._end(watch)
        # while the baseline fills, its yardstick is the smallest value taken so far: toy2d
        # under WGAN-GP at learning rates 50 times too high went 12.4, 6.7, 8,100 (step 140),
        # and as the largest of the first three values, 8,100 hid everything after (at most
        # 13.5 times it); an explosion is no part of the baseline
        filling = len(seen) < self.baseline
        base = (min(seen) if filling else max(seen)) if seen else math.inf
        if value < self.explode * base:
            if filling:
                seen.append(max(float(value), 1e-30))
            return False
        self.start[watch] = base
        grown.append(f"{key} {value:.3g}, {value / base:.0f} times its {base:.3g} after warm-up")
        self.active.add(watch)
        return True

    # -- episodes ------------------------------------------------------------------------

    def _open(self, key: str, out: list[str], seen: str, kind: str) -> None:
        line = f"ganhub: warning: {seen}; {self.remedies[kind]}"
        if key:
            self.active.add(key)
        self.warn(line)
        out.append(line)

    def _end(self, key: str) -> bool:
        self.active.discard(key)
        self.streak.pop(key, None)
        self.start.pop(key, None)
        self.start.pop(f"{key}/grad", None)
        self.prev.pop(key, None)
        return False

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: streaks, the values they started from, the gradient-norm
        baselines and the open episodes (JSON: finite numbers only)."""
        return {
            "streak": dict(self.streak),
            "start": {k: v for k, v in self.start.items() if math.isfinite(v)},
            "prev": {k: v for k, v in self.prev.items() if math.isfinite(v)},
            "base": {k: [v for v in vs if math.isfinite(v)] for k, vs in self.base.items()},
            "active": sorted(self.active),
            # absent: resumed from a state before the rule, whose first values went unjudged
            **({} if self.healthy is None else {"healthy": sorted(self.healthy)}),
        }

    def load_state_dict(self, state: Any) -> None:
        """Continue from a checkpoint's `state_dict()`. The state is untrusted (state.json):
        an entry that is not what `state_dict` writes is left out (it starts afresh)."""
        state = state if isinstance(state, dict) else {}

        def table(name: str) -> dict[str, Any]:
            value = state.get(name)
            return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(
                value, dict
            ) else {}  # fmt: skip

        self.streak = {k: v for k, v in table("streak").items() if type(v) is int and v >= 0}
        self.start = {k: float(v) for k, v in table("start").items() if _finite(v)}
        self.prev = {k: float(v) for k, v in table("prev").items() if _finite(v)}
        self.base = {
            k: [float(x) for x in v if _finite(x) and x > 0][: self.baseline]
            for k, v in table("base").items()
            if isinstance(v, list)
        }
        active = state.get("active")
        self.active = {
            k for k in (active if isinstance(active, list) else []) if isinstance(k, str)
        }
        # a state from before this entry: the run got past its first logged values unjudged
        healthy = state.get("healthy")
        self.healthy = (
            {k for k in healthy if isinstance(k, str)} if isinstance(healthy, list) else None
        )


class HealthMonitor:
    """The run's monitor: `CollapseMonitor` (collapse while D wins) and `InstabilityMonitor`
    (the rest) on the same logged stats, with one state for checkpoints. The state is the
    collapse monitor's with an ``instability`` entry, so checkpoints written before (and
    readers from before) this monitor go on working."""

    def __init__(
        self,
        warn: Callable[[str], None] | None = None,
        g_loss_stats: Mapping[str, str] | None = None,
        tricks: Mapping[str, Mapping[str, Any]] | None = None,
        g_grad_stats: Mapping[str, str] | None = None,
    ) -> None:
        """`g_loss_stats`, `g_grad_stats`: the system's declarations; `tricks`: the active
        tricks' options by name (the remedies name their settings)."""
        self.warn = warn or say
        self.unit, self.per_step = "step", 1  # what the run's steps are (`count_in`)
        self.step = 0  # the step being checked, for the warnings' wording
        # a collapse that begins while D loses and goes on while D wins (or the other way
        # round) is one episode: the monitor that saw it second flags it without a warning
        self.collapse = CollapseMonitor(
            warn=self._warn,
            warned_elsewhere=lambda tag: f"collapse{tag}" in self.instability.active,
            first_step=FIRST_STEP,
        )
        self.instability = InstabilityMonitor(
            warn=self._warn,
            warned_elsewhere=lambda tag: tag in self.collapse.active,
            g_loss_stats=g_loss_stats,
            tricks=tricks,
            g_grad_stats=g_grad_stats,
        )

    def count_in(self, unit: str, training_steps: int) -> None:
        """The run's steps are `unit`s (a meta run's "outer step") of `training_steps`
        training steps each: the step thresholds that count training steps (the first counted
        step; the collapse monitor's `floor_after`) become the first such unit that reaches
        them (rounded up), and a warning says "at outer step 12 (training step 120)". Call it
        once, before the first check; the warm-up (`warmup_steps`) is set in the run's units."""
        if training_steps < 1:
            raise ValueError(f"training_steps={training_steps}: at least 1 per {unit}")
        self.unit, self.per_step = unit, training_steps
        for part in (self.collapse, self.instability):
            part.first_step = -(-part.first_step // training_steps)
        self.collapse.floor_after = -(-self.collapse.floor_after // training_steps)

    def _at(self, line: str) -> str:
        """`line` with its "at step N" in the run's units."""
        if self.unit == "step" and self.per_step == 1:
            return line
        at = f"at {self.unit} {self.step} (training step {self.step * self.per_step})"
        return line.replace(f" at step {self.step}:", f" {at}:", 1)

    def _warn(self, line: str) -> None:
        self.warn(self._at(line))

    @property
    def warmup_steps(self) -> int:
        return self.collapse.warmup_steps

    @warmup_steps.setter
    def warmup_steps(self, steps: int) -> None:
        self.collapse.warmup_steps = self.instability.warmup_steps = steps

    def check(self, step: int, metrics: dict[str, float]) -> list[str]:
        """Both monitors' flags into `metrics`; the warnings they issued."""
        self.step = step
        lines = self.collapse.check(step, metrics) + self.instability.check(step, metrics)
        return [self._at(line) for line in lines]

    def state_dict(self) -> dict[str, Any]:
        return {**self.collapse.state_dict(), "instability": self.instability.state_dict()}

    def load_state_dict(self, state: Any) -> None:
        self.collapse.load_state_dict(state)
        self.instability.load_state_dict(
            state.get("instability") if isinstance(state, dict) else None
        )


def _tags(metrics: dict[str, float]) -> list[str]:
    """The D/diversity tags logged ("" for one D; "_A", "_B" for cyclegan's)."""
    tags = {k.removeprefix("diversity") for k in metrics if k.startswith("diversity")}
    tags |= {k[1:-4] for k in metrics if k.startswith("D") and k.endswith("_win")}
    tags |= {k[1:-8] for k in metrics if k.startswith("D") and k.endswith("_real_acc")}
    return sorted(tags)


def _where(tag: str) -> str:
    return f" ({tag.lstrip('_')})" if tag else ""


__all__ = ["KINDS", "REMEDIES", "HealthMonitor", "InstabilityMonitor", "Logged", "remedies"]
