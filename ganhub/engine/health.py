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
  is an fp16 grad scaler skipping a step).
* **Collapse while D loses** (``unstable/collapse_d_loses``): sample ``diversity`` under `floor`
  for `patience` logging steps while D does not win (below `d_wins`), which the collapse monitor
  (`CollapseMonitor`, D winning) leaves alone: a critic that cannot tell the collapsed fakes
  from the data gives G no reason to spread out again.

Each is an episode: one warning line when it starts, naming what was seen (figures, step) and
what to try; the flag (0 or 1, in metrics.jsonl) stays on until the stat is back under (over)
its recovery level. All work is on the host, on the logging step's flushed means: no sync.
`HealthMonitor` runs `CollapseMonitor` and `InstabilityMonitor` as the run's one monitor; its
`state_dict` is what a checkpoint keeps, so a resumed run goes on with the same baselines and
streaks and does not warn again of an episode it already named.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from ganhub.engine.diagnostics import CollapseMonitor

if TYPE_CHECKING:
    from collections.abc import Callable

# what each warning suggests: the remedies that ended the provoked case on toy2d
# (docs/training.md#training-health-warnings has the measurements)
REMEDIES = {
    "d_wins": "try the r1 trick (a gradient penalty on D)",
    "exploding": "try lower learning rates (optim.D.lr, optim.G.lr), or the clip_grad trick "
    "(gradient clipping)",
    "collapse_d_loses": "try a lower optim.G.lr, or the default loss with the r1 trick",
}
KINDS = tuple(REMEDIES)


def _finite(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


class InstabilityMonitor:
    """Flags D winning outright, exploding gradients and collapse while D loses (module doc).

    `check` adds ``unstable/<kind>`` (0 or 1) to the metrics of every logging step from the
    first on and warns once per episode. Nothing counts before step `warmup_steps`, nor before
    step `first_step` (an untrained generator is one blob and its D wins at first). Tags (``D_A_win``, ``diversity_A``) are read
    as the collapse monitor reads them; the warning names the tag.
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
        first_step: int = 100,
    ) -> None:
        self.warmup_steps = warmup_steps
        # a smoke run of a few steps has no episode: an untrained toy2d generator is one blob
        # (diversity 0.01) while D wins 56 %, 3 logging steps of an 8-step run (as the collapse
        # monitor's `floor_after`)
        self.first_step = first_step
        self.win, self.win_recover = win, win_recover
        self.explode, self.explode_recover, self.baseline = explode, explode_recover, baseline
        self.floor, self.floor_recover, self.d_wins = floor, floor_recover, d_wins
        self.patience, self.shrink = patience, shrink
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
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
            wins = CollapseMonitor._wins(metrics, tag)
            outright |= wins is not None and _finite(wins) and wins >= self.win
            flags["d_wins"] |= self._d_wins(step, tag, wins, metrics, warm, messages)
            flags["collapse_d_loses"] |= self._losing(step, tag, wins, metrics, warm, messages)
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

    def _d_wins(
        self,
        step: int,
        tag: str,
        wins: float | None,
        metrics: dict[str, float],
        warm: bool,
        out: list[str],
    ) -> bool:
        key = f"d_wins{tag}"
        g_loss = metrics.get(f"loss/G{tag}", metrics.get("loss/G"))
        if not warm or wins is None or not _finite(wins) or g_loss is None or not _finite(g_loss):
            return self._end(key)
        if key in self.active:  # the episode lasts until D stops winning outright
            return True if wins >= self.win_recover else self._end(key)
        if wins < self.win:
            return self._end(key)
        # G's loss rising at every logging step while G's gradient shrinks: DCGAN's D wins
        # 99-100 % from step 100 on while G's loss wanders (3 rises in a row, 2.55 -> 3.11)
        # and its gradient grows (15 -> 21): G learns
        norms = [v for k, v in metrics.items() if k.startswith("grad_norm/G") and _finite(v)]
        norm = max(norms) if norms else None
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
        self._open(key, out, f"D wins outright{_where(tag)} at step {step}: D wins {wins:.1%}, "
                   f"G's loss rose at {self.streak[key]} logging steps in a row "
                   f"({self.start.get(key, prev):.3g} -> {g_loss:.3g}) and its gradient norm "
                   f"fell ({began:.2g} -> {norm:.2g}): G gets next to no gradient",
                   "d_wins")  # fmt: skip
        return True

    def _losing(
        self,
        step: int,
        tag: str,
        wins: float | None,
        metrics: dict[str, float],
        warm: bool,
        out: list[str],
    ) -> bool:
        key = f"collapse{tag}"
        value = metrics.get(f"diversity{tag}")
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
        seen = "" if wins is None else f" while D wins only {wins:.0%}"
        self._open(key, out, f"possible mode collapse while D loses{_where(tag)} at step {step}: "
                   f"sample diversity {value:.2f} of the data's for {self.streak[key]} logging "
                   f"steps{seen}", "collapse_d_loses")  # fmt: skip
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
        if len(seen) < self.baseline:
            seen.append(max(float(value), 1e-30))
            return watch in self.active
        base = max(seen)  # a phase whose gradient vanished then recovered is no explosion
        if watch in self.active:
            return True if value >= self.explode_recover * base else self._end(watch)
        if value < self.explode * base:
            return False
        grown.append(f"{key} {value:.3g}, {value / base:.0f} times its {base:.3g} after warm-up")
        self.active.add(watch)
        return True

    # -- episodes ------------------------------------------------------------------------

    def _open(self, key: str, out: list[str], seen: str, kind: str) -> None:
        line = f"ganhub: warning: {seen}; {REMEDIES[kind]}"
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


class HealthMonitor:
    """The run's monitor: `CollapseMonitor` (collapse while D wins) and `InstabilityMonitor`
    (the rest) on the same logged stats, with one state for checkpoints. The state is the
    collapse monitor's with an ``instability`` entry, so checkpoints written before (and
    readers from before) this monitor go on working."""

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        # a collapse that begins while D loses and goes on while D wins (or the other way
        # round) is one episode: the monitor that saw it second flags it without a warning
        self.collapse = CollapseMonitor(
            warn=warn, warned_elsewhere=lambda tag: f"collapse{tag}" in self.instability.active
        )
        self.instability = InstabilityMonitor(
            warn=warn, warned_elsewhere=lambda tag: tag in self.collapse.active
        )

    @property
    def warmup_steps(self) -> int:
        return self.collapse.warmup_steps

    @warmup_steps.setter
    def warmup_steps(self, steps: int) -> None:
        self.collapse.warmup_steps = self.instability.warmup_steps = steps

    def check(self, step: int, metrics: dict[str, float]) -> list[str]:
        """Both monitors' flags into `metrics`; the warnings they issued."""
        return self.collapse.check(step, metrics) + self.instability.check(step, metrics)

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


__all__ = ["KINDS", "REMEDIES", "HealthMonitor", "InstabilityMonitor"]
