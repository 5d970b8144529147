"""The search strategies `sampler=` names: Optuna's, a grid, and a policy-gradient controller.

* `tpe` (Bayesian optimisation), `random`, `cmaes` (an evolution strategy for numbers) are
  Optuna's samplers.
* `grid` runs each point of the grid once (`ganhub_tune.space.grid_points`: a conditional param
  is gridded only where its `when` holds), which Optuna's GridSampler, a full product, cannot.
* `evolution` is a genetic algorithm (Optuna's NSGA-II: tournament selection, uniform
  crossover, mutation), with a population sized to the study's budget; it handles categorical
  architecture choices, which CMA-ES samples at random.
* `oneshot` draws architectures from a weight-sharing supernet's learned preference
  (`ganhub_tune.oneshot`).
* `reinforce` is a REINFORCE controller (Williams 1992), as in NAS by reinforcement learning
  (Zoph & Le 2017) without the recurrent network: each searched key has its own policy (a
  softmax over its values; a Gaussian over a wide numeric range), and each finished trial moves
  the policies toward its values in proportion to how much its objective beat a moving baseline.

The controller keeps no state of its own: its policies are replayed from the study's finished
trials whenever it samples, so a resumed study, or several workers sharing one database, go on
from the same policies. Optuna is imported when a sampler is made, never at plugin import.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ganhub_tune.space import encode, grid_points

from ganhub.errors import ConfigError

if TYPE_CHECKING:
    from ganhub_tune.study import Study

SAMPLERS = ("tpe", "random", "grid", "cmaes", "evolution", "reinforce", "oneshot")
SINGLE_OBJECTIVE = ("cmaes", "reinforce")  # samplers that need one number per trial

MAX_CHOICES = 64  # a numeric range with at most this many values gets a softmax policy
GRID_POINT = "ganhub_grid_point"  # the trial system attribute holding a grid trial's point
# the user attribute the runner marks a trial a signal stopped with (`ganhub_tune.runner`)
INTERRUPTED = "interrupted"


def make_sampler(study: Study, seed: int) -> Any:
    """The Optuna sampler named by sampler=."""
    import optuna

    kind, trials = study.options.sampler, study.options.trials
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":  # one order for the whole study: not `seed`, which differs on resuming
        return make_grid_sampler(grid_points(study.space.params), study.options.seed)
    if kind == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("sampler=cmaes needs the cmaes package: pip install cmaes") from None
        return make_cmaes_sampler(seed, n_startup_trials=max(1, min(5, trials // 4)))
    if kind == "evolution":
        # about four generations within the budget (a pruned trial does not fill a place)
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, trials // 4))
        )
    if kind == "reinforce":
        return make_reinforce_sampler(seed)
    if kind == "oneshot":
        if study.architecture is None:
            raise ConfigError("sampler=oneshot: the supernet has not been searched yet")
        return make_oneshot_sampler(study.architecture, seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, trials // 3)))


def trial_seeded(study: Study) -> Any:
    """The sampler of `make_sampler`, made again for each trial with sampler_seed plus the
    number the storage gave the trial: workers that open one study at the same moment (each
    counting the same trials) draw differently, as each trial's number is its own, while one
    worker draws the same values from the same seed, a resumed study included. Every sampler
    here keeps no state between trials that the storage does not hold (TPE, NSGA-II and the
    replayed CMA-ES and REINFORCE read the finished trials), so making it again loses nothing."""
    import optuna

    class TrialSeededSampler(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self._inner = make_sampler(study, study.options.seed)

        def before_trial(self, study_: Any, trial: Any) -> None:
            """A sampler seeded with this trial's unique number (Optuna calls it first)."""
            self._inner = make_sampler(study, study.options.seed + trial.number)
            self._inner.before_trial(study_, trial)

        def reseed_rng(self) -> None:
            """New random state (Optuna calls this in forked workers)."""
            self._inner.reseed_rng()

        def infer_relative_search_space(self, study_: Any, trial: Any) -> dict[str, Any]:
            return dict(self._inner.infer_relative_search_space(study_, trial))

        def sample_relative(self, study_: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            return dict(self._inner.sample_relative(study_, trial, search_space))

        def sample_independent(
            self, study_: Any, trial: Any, param_name: str, param_distribution: Any
        ) -> Any:
            return self._inner.sample_independent(study_, trial, param_name, param_distribution)

        def after_trial(self, study_: Any, trial: Any, state: Any, values: Any) -> None:
            self._inner.after_trial(study_, trial, state, values)

    return TrialSeededSampler()


def make_grid_sampler(points: Sequence[dict[str, Any]], seed: int = 0) -> Any:
    """An Optuna sampler that runs each of these points (`grid_points`) once, in seeded order."""
    import numpy as np

    order = np.random.RandomState(seed).permutation(len(points))
    grid = [dict(points[i]) for i in order]
    keys = [_key(point) for point in grid]

    class GridPointSampler(independent_sampler()):  # type: ignore[misc]
        """Each point once; the study stops when every point has finished.

        Optuna's GridSampler walks a full product, so a conditional param would repeat the
        points where its condition fails. A finished trial's point is known by its params, a
        running one's by the point it was given, so a resumed study or another worker sharing
        the storage runs only the points not yet run (a worker that finds none free reruns a
        running one, as Optuna's does; `ganhub tune` starts no trial once every point has
        finished, `grid_left`)."""

        def before_trial(self, study: Any, trial: Any) -> None:
            """Give the trial its point: the trial number's own while the grid is being walked
            the first time (workers take distinct points), else the first one left."""
            if GRID_POINT in trial.system_attrs or "fixed_params" in trial.system_attrs:
                return  # continued after a stale heartbeat, or enqueued with its values
            finished, running = _taken(study)
            n = trial.number
            if n < len(keys) and keys[n] not in finished and keys[n] not in running:
                index = n
            else:  # the first point not run yet (a running one when none is free)
                left = [i for i, key in enumerate(keys) if key not in finished]
                index = next((i for i in left if keys[i] not in running), left[0] if left else 0)
            # Optuna has no public setter for a trial's system attrs; its own GridSampler
            # records the grid id with this same storage call
            study._storage.set_trial_system_attr(trial._trial_id, GRID_POINT, grid[index])

        def sample_independent(
            self, study: Any, trial: Any, param_name: str, param_distribution: Any
        ) -> Any:
            """The value of the key at the trial's point."""
            point = trial.system_attrs.get(GRID_POINT, {})
            if param_name not in point:
                raise ValueError(f"sampler=grid: '{param_name}' is not set at trial "
                                 f"{trial.number}'s point {point}")  # fmt: skip
            return point[param_name]

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            """Stop the study once every point has finished (this trial's included)."""
            stopped = _interrupted(trial, state)  # (`trial` is still RUNNING in the storage)
            finished = _taken(study)[0] | (set() if stopped else _points_of(trial))
            if finished.issuperset(keys):
                study.stop()

    return GridPointSampler(seed)


def grid_left(study: Any, points: Sequence[dict[str, Any]]) -> int:
    """How many of the grid's points no finished trial of the Optuna study has run (a trial a
    signal stopped has not: its point runs again)."""
    finished = _taken(study)[0]
    return sum(_key(point) not in finished for point in points)


def _taken(study: Any) -> tuple[set[str], set[str]]:
    """The points of the finished trials and of the running ones."""
    from optuna.trial import TrialState

    finished: set[str] = set()
    running: set[str] = set()
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and not _interrupted(t):  # Ctrl-C: runs again on resume
            finished |= _points_of(t)
        elif t.state == TrialState.RUNNING:
            running |= _points_of(t)
    return finished, running


def _points_of(trial: Any) -> set[str]:
    """A trial's point by its params (a trial enqueued with its values, or one run before
    grid points were kept, has no other) and by the point it was given."""
    given = trial.system_attrs.get(GRID_POINT)
    return {_key(trial.params)} | ({_key(given)} if given is not None else set())


def _interrupted(trial: Any, state: Any = None) -> bool:
    """A trial a signal stopped (Optuna's FAIL, marked by the runner; `state`: the state it
    is about to be given): its point is not run, whether or not its continuation was queued."""
    from optuna.trial import TrialState

    return (state or trial.state) == TrialState.FAIL and INTERRUPTED in trial.user_attrs


def _key(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True)


def make_cmaes_sampler(seed: int | None = None, n_startup_trials: int = 1) -> Any:
    """Optuna's CMA-ES sampler, except that it never unpickles: Optuna's keeps the CMA state
    pickled in the storage's trial attributes and loads it back for each trial, so a study
    folder from elsewhere (its study.db) could run code. This one rebuilds the state by
    replaying the stored generations' trials (their params and values) from the initial one."""
    import inspect

    import optuna

    # the replay calls three of the sampler's own methods, as Optuna 4+ defines them (3.x's
    # took restart arguments): another form is refused here, not deep in a trial
    init = inspect.signature(optuna.samplers.CmaEsSampler._init_optimizer).parameters
    if list(init) != ["self", "trans", "direction"]:
        raise ConfigError(
            f"sampler=cmaes needs a newer Optuna than {optuna.__version__} (its CMA-ES state "
            "is rebuilt from the stored trials): pip install -U optuna"
        )

    class ReplayedCmaEsSampler(optuna.samplers.CmaEsSampler):
        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            """Optuna's, with the space and direction kept for `_restore_optimizer`."""
            self._ganhub_space = (search_space, study.direction)
            return dict(super().sample_relative(study, trial, search_space))

        def _restore_optimizer(self, completed_trials: list[Any]) -> Any:
            """The CMA state after every generation whose trials have all completed."""
            from optuna._transform import _SearchSpaceTransform

            space, direction = self._ganhub_space
            trans = _SearchSpaceTransform(space, transform_step=True, transform_0_1=True)
            optimizer = self._init_optimizer(trans, direction)
            sign = 1.0 if direction == optuna.study.StudyDirection.MINIMIZE else -1.0
            while True:
                solutions = self._get_solution_trials(completed_trials, optimizer.generation)
                if len(solutions) < optimizer.population_size:
                    return optimizer
                told: list[Any] = solutions[: optimizer.population_size]  # all complete
                optimizer.tell([(trans.transform(t.params), sign * t.value) for t in told])

    return ReplayedCmaEsSampler(seed=seed, warn_independent_sampling=False,
                                n_startup_trials=n_startup_trials)  # fmt: skip


def make_reinforce_sampler(seed: int | None = None, lr: float = 0.5, decay: float = 0.8) -> Any:
    """A `ReinforceSampler` (an Optuna sampler; defined here so Optuna loads only when used)."""
    import numpy as np
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.trial import FrozenTrial, TrialState

    class ReinforceSampler(independent_sampler()):  # type: ignore[misc]
        """REINFORCE with a moving-average baseline over independent per-key policies.

        A trial's reward is its objective (negated when minimising); its advantage is the
        reward minus the baseline, divided by the rewards' running spread, so the step size does
        not depend on the objective's scale. A pruned trial was stopped for falling behind and
        counts as the worst reward seen so far; a failed trial does not count.
        """

        def sample_independent(
            self, study: Any, trial: Any, param_name: str, param_distribution: BaseDistribution
        ) -> Any:
            """Draw the key's value from its policy, replayed from the finished trials."""
            if len(study.directions) != 1:
                raise ConfigError("sampler=reinforce is single-objective; use tpe or evolution")
            policy = _policy_for(param_distribution)
            sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            for taken, advantage in advantages(_rewards(done, sign), decay):
                if param_name in taken.params:
                    policy.update(taken.params[param_name], advantage * lr)
            return policy.sample(self._rng)

    def _rewards(trials: Sequence[FrozenTrial], sign: float) -> list[tuple[FrozenTrial, float]]:
        """(trial, reward) in trial order; pruned trials get the worst completed reward."""
        out: list[tuple[FrozenTrial, float]] = []
        worst: float | None = None
        for t in sorted(trials, key=lambda t: t.number):
            if t.state == TrialState.COMPLETE and t.values and math.isfinite(t.values[0]):
                reward = sign * t.values[0]
                worst = reward if worst is None else min(worst, reward)
                out.append((t, reward))
            elif t.state == TrialState.PRUNED and worst is not None:
                out.append((t, worst))
        return out

    class _Softmax:
        """A softmax policy over a finite list of values (categorical, or a short range)."""

        def __init__(self, values: Sequence[Any]) -> None:
            self.values = list(values)
            self.logits = np.zeros(len(self.values))

        def probs(self) -> Any:
            e = np.exp(self.logits - self.logits.max())
            return e / e.sum()

        def update(self, value: Any, step: float) -> None:
            if value not in self.values:  # a value from an earlier, wider space
                return
            grad = -self.probs()
            grad[self.values.index(value)] += 1.0  # d log pi(a) / d logits
            self.logits += step * grad

        def sample(self, rng: Any) -> Any:
            return self.values[int(rng.choice(len(self.values), p=self.probs()))]

    class _Gaussian:
        """A Gaussian policy on [0, 1], the range mapped linearly or logarithmically, whose mean
        and spread are both learned (the spread narrows as good values agree); samples outside
        are folded back in, then put on the range's step."""

        def __init__(
            self, low: float, high: float, log: bool, step: float | None, integer: bool
        ) -> None:
            self.low, self.high, self.log, self.step, self.integer = low, high, log, step, integer
            self.mean, self.sigma = 0.5, 0.25

        def _unit(self, value: float) -> float:
            if self.log:
                return (math.log(value) - math.log(self.low)) / (
                    math.log(self.high) - math.log(self.low)
                )
            return (value - self.low) / (self.high - self.low)

        def update(self, value: float, step: float) -> None:
            z = (self._unit(float(value)) - self.mean) / self.sigma
            # natural-gradient steps (the Fisher information's inverse times d log N / d .):
            # sigma^2 * z / sigma for the mean, (z^2 - 1) / 2 for log sigma
            self.mean = min(1.0, max(0.0, self.mean + step * self.sigma * z))
            self.sigma = min(0.5, max(0.02, self.sigma * math.exp(step * (z * z - 1) / 2)))

        def sample(self, rng: Any) -> float | int:
            u = abs(self.mean + self.sigma * rng.standard_normal()) % 2.0
            u = 2.0 - u if u > 1.0 else u
            if self.log:
                value = math.exp(
                    math.log(self.low) + u * (math.log(self.high) - math.log(self.low))
                )
            else:
                value = self.low + u * (self.high - self.low)
            if self.step is not None:  # onto the range's grid
                value = self.low + round((value - self.low) / self.step) * self.step
            value = min(self.high, max(self.low, value))
            return round(value) if self.integer else value

    def _policy_for(dist: BaseDistribution) -> _Softmax | _Gaussian:
        if isinstance(dist, CategoricalDistribution):
            return _Softmax(dist.choices)
        if isinstance(dist, IntDistribution | FloatDistribution):
            step = dist.step
            if step is not None and not dist.log:
                count = round((dist.high - dist.low) / step) + 1
                if count <= MAX_CHOICES:
                    values = [dist.low + i * step for i in range(count)]
                    if isinstance(dist, IntDistribution):
                        values = [int(v) for v in values]
                    return _Softmax(values)
            return _Gaussian(dist.low, dist.high, dist.log, step, isinstance(dist, IntDistribution))
        raise ConfigError(f"sampler=reinforce cannot sample {type(dist).__name__}")

    return ReinforceSampler(seed)


def make_oneshot_sampler(arch: dict[str, dict[Any, float]], seed: int | None = None) -> Any:
    """An Optuna sampler drawing each searched key from the supernet's distribution (keys the
    supernet does not span are drawn at random)."""
    import numpy as np
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution

    class OneShotSampler(independent_sampler()):  # type: ignore[misc]
        """Independent draws from the supernet's per-key probabilities."""

        def __init__(self) -> None:
            super().__init__(seed)
            self._fallback = optuna.samplers.RandomSampler(seed=seed)

        def reseed_rng(self) -> None:
            """New random states (Optuna calls this in forked workers)."""
            super().reseed_rng()
            self._fallback.reseed_rng()

        def sample_independent(
            self, study: Any, trial: Any, param_name: str, param_distribution: BaseDistribution
        ) -> Any:
            """A value of the key drawn with the supernet's probability."""
            probs = arch.get(param_name, {})
            if isinstance(param_distribution, CategoricalDistribution):
                values = [v for v in probs if encode(v) in param_distribution.choices]
                stored = [encode(v) for v in values]
            else:  # an int or float range
                low, high = param_distribution.low, param_distribution.high  # type: ignore[attr-defined]
                values = [v for v in probs if low <= v <= high]
                stored = values
            weights = np.array([probs[v] for v in values], dtype=float)
            if not values or weights.sum() <= 0:
                return self._fallback.sample_independent(
                    study, trial, param_name, param_distribution
                )
            return stored[int(self._rng.choice(len(values), p=weights / weights.sum()))]

    return OneShotSampler()


@functools.cache
def independent_sampler() -> type:
    """The base of ganhub's own Optuna samplers: each key drawn on its own (no joint, relative
    sampling) with a seeded NumPy random state in `self._rng`."""
    import numpy as np
    import optuna

    class IndependentSampler(optuna.samplers.BaseSampler):
        def __init__(self, seed: int | None = None) -> None:
            self._rng = np.random.RandomState(seed)

        def reseed_rng(self) -> None:
            """New random state (Optuna calls this in forked workers)."""
            self._rng = np.random.RandomState()

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            """None: every key is sampled on its own."""
            return {}

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            """None: every key is sampled on its own."""
            return {}

    return IndependentSampler


def advantages(rewarded: Sequence[tuple[Any, float]], decay: float) -> list[tuple[Any, float]]:
    """(item, advantage) for rewards in order: the reward minus a moving-average baseline of
    the earlier rewards, over their moving spread (the first reward sets the baseline and
    teaches nothing)."""
    out: list[tuple[Any, float]] = []
    baseline: float | None = None
    spread = 0.0
    for item, reward in rewarded:
        if baseline is None:
            baseline = reward
            continue
        deviation = reward - baseline
        spread = (
            math.sqrt(decay * spread**2 + (1 - decay) * deviation**2) if spread else abs(deviation)
        )
        if spread > 0:
            out.append((item, deviation / spread))
        baseline = decay * baseline + (1 - decay) * reward
    return out


__all__ = [
    "GRID_POINT",
    "INTERRUPTED",
    "MAX_CHOICES",
    "SAMPLERS",
    "SINGLE_OBJECTIVE",
    "advantages",
    "grid_left",
    "independent_sampler",
    "make_cmaes_sampler",
    "make_grid_sampler",
    "make_oneshot_sampler",
    "make_reinforce_sampler",
    "make_sampler",
    "trial_seeded",
]
