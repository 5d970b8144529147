"""The step count and the tricks' state of `ganhub meta`'s task visits, carried across them.

Each task visit trains `meta.inner_steps` ordinary steps (and FOMAML's query step) in a task's
Run, which is reused at every visit. The features that count a run's steps (lazy
regularisation every k steps, ADA's adjustment every `interval` steps, an anneal over the run,
EMA's ramp-up, balance's decisions) and the tricks' state (ADA's augmentation probability p,
balance's repeat counts) would restart at every visit if each visit counted
from step 0 with the task's own state: ADA at `meta.inner_steps=3` never adjusted p (its
interval is 4), R1 every 16 steps ran at every visit's first step, instance noise never
annealed. Instead the visits are laid end to end on one timeline of training steps:

- a visit of outer step s trains the steps s * n to (s + 1) * n - 1 (n = `visit_steps`, the
  inner steps plus the query step), and the tasks' `trainer.steps` is `meta.outer_steps` * n,
  so an anneal over the run runs over the whole meta-training, and every step count of a trick
  (`trick.r1.interval`, `trick.ada.interval`, `trick.instance_noise.anneal_steps`,
  `trick.ema.start_step`, `trick.balance.check_every`) counts the tasks' training steps;
- the state of the tricks that follow the training (`Trick.state_follows_training`: ADA's
  augmentation probability p, balance's repeat counts, EMA's images seen) runs through the
  visits as
  through one run: each visit starts from the state the previous visit (of any task) ended
  with. The meta weights are one network whatever the task, and so is what ADA measures (how
  much D overfits the few shots) and what it controls: one p for the meta-training, moving
  with every image the tasks judged, as one p moves with the images of every process of a
  `torchrun` job. A task drawn for the first time starts at that p, not at
  `trick.ada.p_init` (with p per task, a task drawn once in a while, or one of many, would
  train near p_init for good). The tasks of one outer step train from the same meta weights
  over the same steps, each from the state the one before it left. Other tricks' state (a
  fairness classifier of a task's own images) stays with its task, visit to visit.

Each visit's last step is a logging step of its task's Run (`trainer.log_every` is the visit's
length): the engine measures its diagnostics there (`grad_norm/<phase>`, `diversity`,
`D_*_acc`, `D_win`) and flushes the visit's stats in its one host sync, which `VisitStats`
keeps for the outer step to log (the mean over its visits, as of the losses).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ganhub.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ganhub_meta.config import MetaOptions

    from ganhub.engine.run import Run
    from ganhub.plugins import Hub
    from ganhub.tricks import Trick


def visit_steps(options: MetaOptions) -> int:
    """The training steps of one task visit: the inner steps and the algorithm's query step."""
    from ganhub_meta.outer import ALGORITHMS

    return options.inner_steps + ALGORITHMS[options.algorithm].query_steps


def first_step(options: MetaOptions, outer_step: int) -> int:
    """The step a visit of outer step `outer_step` (0-based) starts at on the tasks' timeline."""
    return outer_step * visit_steps(options)


def task_steps(options: MetaOptions) -> int:
    """The tasks' `trainer.steps`: the length of their timeline over the whole meta-training."""
    return options.outer_steps * visit_steps(options)


class CarriedTricks:
    """The state of the tricks that declare `state_follows_training` (ADA's p and its pending
    sums, balance's repeat counts, EMA's images seen; a plugin's trick alike), passed from each
    visit to the next through the meta run's own tricks (whose state its checkpoints save: ADA's
    p of the meta-training). Other tricks' state (a classifier of a task's own images) stays
    per task: each task's Run keeps its own from one visit to its next."""

    def __init__(self, run: Run) -> None:
        self.own = {t.name: t for t in run.tricks if t.state_follows_training}

    def into(self, task: Run) -> None:
        """Start the task's tricks from the state the last visit left."""
        for trick in task.tricks:
            if trick.name in self.own:
                state = self.own[trick.name].state_dict()
                if state:
                    load_in_place(trick, state)

    def back(self, task: Run) -> None:
        """Keep the state the visit's tricks ended with (copies: the task's tensors go on
        changing at its next visit)."""
        for trick in task.tricks:
            if trick.name in self.own:
                state = trick.state_dict()
                if state:
                    self.own[trick.name].load_state_dict(_copied(state))


def load_in_place(trick: Trick, state: dict[str, Any]) -> None:
    """`trick.load_state_dict(state)`, with each tensor of `state` copied into the tensor the
    trick holds under that key (same shape and dtype): a step replayed as a CUDA graph
    (`trainer.cuda_graphs`) reads the tensors it was captured with, so they must stay the
    same objects (ADA's p)."""
    import torch

    held = trick.state_dict()
    state = _copied(state)  # the rest, assigned, must not be the carrier's own tensors
    for key, value in state.items():
        mine = held.get(key)
        if (
            isinstance(value, torch.Tensor)
            and isinstance(mine, torch.Tensor)
            and mine.shape == value.shape
            and mine.dtype == value.dtype
        ):
            mine.copy_(value)
            state[key] = mine
    trick.load_state_dict(state)


def train_visit(task: Run, batches: Iterator[Any], n: int) -> None:
    """n training steps of a task's Run (`ganhub.engine.loop.train_steps`). Its logging steps
    are the visits' last steps (`task_config` sets trainer.log_every to a visit's length, and
    visits start at multiples of it): the engine measures the diagnostics there and flushes the
    visit's stats, which `VisitStats` keeps for `StepLosses.add`. A logging step inside a visit
    (every 5th visit of 10 steps at the user's trainer.log_every=50) flushed part of the
    visit's stats, which the outer step then did not log."""
    from ganhub.engine.loop import train_steps

    train_steps(task, batches, n)


class VisitStats:
    """Lifecycle-hook plugin, registered while a meta run trains (`installed`): the stats each
    task Run's logging step flushed (its visit's last step: the visit's losses and the
    diagnostics the engine measured at that step), as `after_step` hands them over, on the
    host already. Nothing per step but a dict lookup on the logging step."""

    def __init__(self) -> None:
        self.flushed: dict[int, dict[str, float]] = {}  # id(task Run) -> its last flush

    @hookimpl
    def after_step(self, run: Run, metrics: dict[str, float] | None) -> None:
        """Keep what a logging step flushed (metrics is None on the other steps)."""
        if metrics is not None:
            self.flushed[id(run)] = metrics

    def take(self, task: Run) -> dict[str, float] | None:
        """The stats the task's last logging step flushed, once; None if none since."""
        return self.flushed.pop(id(task), None)

    @contextmanager
    def installed(self, hub: Hub) -> Iterator[VisitStats]:
        """Registered with the hub's lifecycle hooks for the block (the task Runs' hooks)."""
        hub.pm.register(self, name=f"ganhub_meta.visits.{id(self)}")
        try:
            yield self
        finally:
            hub.pm.unregister(self)


class StepLosses:
    """What an outer step logs of its visits' stats (losses, `ada_p`, the diagnostics): the
    mean over the visits of each visit's means (on the host: floats added after each visit's
    one sync)."""

    def __init__(
        self, meta: Run, outer_step: int, outer_steps: int, visits: VisitStats | None = None
    ) -> None:
        self.meta, self.visits, self.sums = meta, visits, dict[str, tuple[float, int]]()
        self.where = f"outer step {outer_step + 1} of {outer_steps}"  # as the log counts them

    @contextmanager
    def checked(self) -> Iterator[None]:
        """A loss that became NaN/Inf in the block (the NaN guard of `ganhub run`'s logging
        steps, at a visit's last step) stops meta-training, in one line that names the step on
        the tasks' timeline, the outer step and the meta run's last checkpoint (a task's Run
        writes none), worded from the engine's error's fields."""
        from ganhub.errors import Diverged, TrainingError

        try:
            yield
        except Diverged as err:
            last = self.meta.last_checkpoint
            where = f"last good checkpoint: {last}" if last else "no checkpoint was written"
            raise TrainingError(
                f"{err.what} became NaN/Inf at or before step {err.step} of the tasks' timeline "
                f"({self.where}); training stopped ({where}). {err.hint}"
            ) from None

    def add(self, task: Run) -> None:
        """Add the means of the visit's stats: those its last step flushed (`VisitStats`),
        else (a visit that ended off a logging step) a flush of them here, the visit's host
        sync, checked as a logging step's are (`checked`)."""
        losses = self.visits.take(task) if self.visits is not None else None
        if losses is None:
            with self.checked():
                losses = task.stats.flush()
                task.check_finite()
        for key, value in losses.items():
            total, count = self.sums.get(key, (0.0, 0))
            self.sums[key] = (total + value, count + 1)

    def means(self) -> dict[str, float]:
        """The mean of each stat over the visits that logged it."""
        return {key: total / count for key, (total, count) in self.sums.items()}


def monitor_in_outer_steps(run: Run, options: MetaOptions) -> None:
    """Count the health monitor's steps in outer steps (once, on a new meta Run). Outer step
    k's visits train the tasks' timeline to step k x `visit_steps`: the monitor's thresholds
    in training steps (100: an untrained generator is one blob its D beats) become the outer
    step whose visits reach them (outer step 10 with 10 inner steps), not outer step 100,
    which many meta runs never reach, and its warnings say "at outer step 12 (training step
    120)". Its warm-up is a tenth of the run, as `ganhub run`'s."""
    run.monitor.warmup_steps = options.outer_steps // 10
    run.monitor.count_in("outer step", visit_steps(options))


def timeline_warnings(run: Run, options: MetaOptions, warnings: list[str]) -> list[str]:
    """The meta run's start warnings (`Run.preflight`), the tricks' judged against the tasks'
    timeline: `trick.ema.start_step=300` is before the end of 200 outer steps of 10 training
    steps each, which the meta run's trainer.steps (its outer steps) said it was not, and
    ADA's p cannot move over half its range in those 2,000 steps at `trick.ada.kimg=500`
    (20,000 real images at batch 10 move it by 0.04 at most: `ada_reach_warning`'s rule, the
    one every run is judged by, on the tasks' timeline), which 200 steps did not say either."""
    from ganhub.tricks import trick_warnings

    steps = task_steps(options)
    timeline = run.config.model_copy(deep=True)
    timeline.trainer.steps = steps
    meta = trick_warnings(run.parts.loss, run.tricks, run.owners)
    held = [t.config for t in run.tricks]
    try:
        for trick in run.tricks:
            trick.config = timeline
        judged = trick_warnings(run.parts.loss, run.tricks, run.owners)
    finally:
        for trick, config in zip(run.tricks, held):
            trick.config = config
    said = f"the tasks' {steps} training steps: meta.outer_steps x {visit_steps(options)}"
    return [w.replace(f"trainer.steps={steps}", said) for w in judged] + [
        w for w in warnings if w not in meta
    ]


def _copied(state: Any) -> Any:
    import torch

    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: _copied(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_copied(v) for v in state)
    return state


__all__ = [
    "CarriedTricks",
    "StepLosses",
    "VisitStats",
    "first_step",
    "load_in_place",
    "monitor_in_outer_steps",
    "task_steps",
    "timeline_warnings",
    "train_visit",
    "visit_steps",
]
