"""The optimisation loop: sample a config, train it as an ordinary run, record the result."""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from ganhub_tune import oneshot
from ganhub_tune.checks import counted
from ganhub_tune.identity import TRIAL_STRATEGY, strategy
from ganhub_tune.samplers import INTERRUPTED, grid_left
from ganhub_tune.space import Param, encode, grid_points
from ganhub_tune.storage import open_study
from ganhub_tune.study import Study
from ganhub_tune.trial import (
    Reporter,
    default_params,
    objective_values,
    run_seeds,
    suggest,
    trial_raw,
)

from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, GanhubError, TrainingError, one_line
from ganhub.plugins import Hub, get_hub

FINISHED = ("COMPLETE", "PRUNED")
# user attribute of a trial enqueued to continue the runs of a trial a signal stopped
CONTINUES = "continues"
# user attribute of the trial a signal stopped (`INTERRUPTED`): {"signal": N, "step": S}.
# Optuna has no state for it (a trial that leaves optimize by an exception is FAIL); the
# reports show it as interrupted, not failed, and the trial enqueued with CONTINUES runs it on


def run_study(
    study: Study,
    hub: Hub | None = None,
    echo: Callable[[str], None] = print,
    summarise: Callable[[Any], None] | None = None,
) -> Any:
    """Run trials until the study holds `trials` finished (complete or pruned) ones.

    A signal (Ctrl-C, SIGTERM) with trials still to run stops the study: `summarise` gets the
    Optuna study (to show what finished), then the line that says it stopped, then SystemExit
    with 128 + the signal's number.

    Failed trials (a bad combination, a diverged run) do not count; after `trials` failures in
    a row the study stops starting new ones, and a study that holds no finished trial then
    raises the first failure (its class, so its exit code) instead of reporting nothing.
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    hub = hub or get_hub()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trial failures: our own line

    def checked(opened: Any) -> None:  # the study's settings are this command's: say what
        for note in study.resume_notes:  # changes before anything trains (the supernet too)
            echo(f"ganhub tune: note: {note}")
        if study.options.sampler != "oneshot":
            return
        try:  # the supernet writes into the study folder
            study.architecture = oneshot.search(study, hub, echo)
        except oneshot.SupernetStopped as stopped:  # as a signal that stops a trial does
            _stop(opened, stopped.signum, stopped.line, echo, summarise)

    ostudy = open_study(study, checked)
    # this command's own new study (in its folder's database): a mistake the first trial
    # reveals removes it, or the corrected command would be refused as another study
    fresh = study.options.storage is None and not ostudy.get_trials(deepcopy=False)
    points = grid_points(study.space.params) if study.options.sampler == "grid" else []
    finished_states = (TrialState.COMPLETE, TrialState.PRUNED)
    done = len(ostudy.get_trials(deepcopy=False, states=finished_states))
    if not done and study.options.sampler != "grid":
        params = default_params(study)
        if params is not None:  # trial 0 is the base config itself: 'best vs default'
            ostudy.enqueue_trial(params, user_attrs={"default": True}, skip_if_exists=True)
    target = study.options.trials
    # then what the supernet prefers; a supernet trained again (its files deleted) in a
    # study that has run: its new preference too, even if the study holds its trials
    queued = bool(study.architecture) and (not done or study.supernet_trained)
    if (
        queued
        and _queue_preferred(ostudy, study.architecture or {}, study.space.params)
        and done >= target
    ):
        target = done + 1
        echo(f"ganhub tune: the supernet was trained again; its preferred architecture "
             f"runs as one more trial (the study holds "
             f"{counted(done, 'finished trial')})")  # fmt: skip
    remaining = target - done
    if done and remaining <= 0:  # run again for its summary, or with fewer trials=
        echo(f"ganhub tune: study '{ostudy.study_name}' holds "
             f"{counted(done, 'finished trial')}, as many as trials={study.options.trials} "
             "asks; no trial runs")  # fmt: skip
    elif done:
        echo(
            f"ganhub tune: resuming study '{ostudy.study_name}' ({counted(done, 'finished trial')})"
        )
    if remaining <= 0:
        return ostudy
    waiting = ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if study.options.sampler == "grid" and not waiting and not grid_left(ostudy, points):
        # a resumed study whose grid is done (the command run again to write the summary)
        echo(f"ganhub tune: every point of the grid has run ({counted(len(points), 'point')})")
        return ostudy
    reporter = Reporter()
    failures: list[tuple[int, GanhubError]] = []
    streak = _FailureStreak(study.options.trials)
    between = _BetweenTrials(ostudy)
    hub.pm.register(reporter, name=f"ganhub_tune.reporter.{id(reporter)}")
    try:
        with between.installed():
            ostudy.optimize(
                _objective(study, hub, reporter, echo, failures, between),
                n_trials=None,
                timeout=study.options.timeout,
                callbacks=[MaxTrialsCallback(target, states=finished_states), streak],
                catch=(ConfigError, TrainingError),
            )
        stopped = between.signum  # Ctrl-C or SIGTERM after a trial ended, before the next
        if stopped is not None and _count(ostudy, finished_states) >= target:
            # the last trial had finished: nothing was stopped, the summary follows
            echo(f"ganhub tune: signal {stopped} came after the last trial; the study is "
                 "complete")  # fmt: skip
        elif stopped is not None:
            raise _Stopped(stopped, f"ganhub tune: stopped by signal {stopped} between "
                           "trials; the study stops (run the same command to continue it)")  # fmt: skip
    except _Fatal as fatal:
        raise _removed_if_fresh(study, fatal.args[0], fresh) from None
    except _Stopped as stopped:
        _stop(ostudy, stopped.args[0], stopped.args[1], echo, summarise)
    finally:
        hub.pm.unregister(reporter)
    finished = _count(ostudy, finished_states)
    if failures and not finished:
        number, first = failures[0]
        failed = type(first)(f"{_all_failed(len(failures), number)}: {one_line(first, 400)}")
        raise _removed_if_fresh(study, failed, fresh)
    if streak.stopped:
        echo(f"ganhub tune: stopped after {_in_a_row(streak.limit)}")
    return ostudy


def _stop(
    ostudy: Any,
    signum: int,
    line: str,
    echo: Callable[[str], None],
    summarise: Callable[[Any], None] | None,
) -> NoReturn:
    """A signal stopped the study (a trial, the supernet, or between trials): what finished
    (the caller's summary), then why it stopped, with the conventional status of a process a
    signal stopped (128 + its number)."""
    if summarise is not None:
        summarise(ostudy)
    echo(line)
    raise SystemExit(128 + signum) from None


def _all_failed(n: int, first: int) -> str:
    if n == 1:
        return f"the study's one trial failed, trial {first}"
    return f"all {n} trials failed; the first, trial {first}"


def _in_a_row(n: int) -> str:
    return "a failed trial" if n == 1 else f"{n} failed trials in a row"


def _count(ostudy: Any, states: tuple[Any, ...]) -> int:
    return len(ostudy.get_trials(deepcopy=False, states=states))


def _queue_preferred(
    ostudy: Any, architecture: dict[str, dict[Any, float]], space: Sequence[Param]
) -> bool:
    """Queue the supernet's preferred architecture as a trial, unless a trial of the study has
    run it or waits to; True when it was queued now. Keys the architecture leaves unused
    (their `when` fails) are not part of it: no trial that ran it stored them."""
    from optuna.trial import TrialState

    params = oneshot.preferred_params(architecture, space)
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING, TrialState.RUNNING)
    if any(oneshot.runs_params(t, params) for t in ostudy.get_trials(False, states=states)):
        return False
    ostudy.enqueue_trial(params, user_attrs={"supernet": True})
    return True


def _removed_if_fresh(study: Study, error: GanhubError, fresh: bool) -> GanhubError:
    """`error`, after removing this command's own new study if it finished no trial: the
    corrected command would otherwise be refused as another study's settings."""
    if not fresh:
        return error
    # the folders the command made (out=DIR too, if it made it), else the study's own
    shutil.rmtree(study.made or study.directory, ignore_errors=True)
    return type(error)(
        f"{error} (the new study '{study.directory}' is removed: it had no finished trial)"
    )


class _BetweenTrials:
    """SIGINT (or SIGTERM) while no trial's run is being built or trained (Optuna storing a
    result, asking its sampler, a trial choosing its values) would raise KeyboardInterrupt
    inside Optuna: the trial it met would be failed, or none recorded, and the command would
    end as aborted (SIGTERM: the process ended inside Optuna, its trial left running). Here
    it is remembered instead: the study stops before the next trial trains (a trial that has
    begun is interrupted and enqueued again, as one a Ctrl-C stops in its run), and running
    the command again continues it. While a run is built (`training`), SIGINT raises
    KeyboardInterrupt as before; once it trains, the run's own handler stops it after a
    checkpoint; a second Ctrl-C always raises at once. SIGTERM does as SIGINT throughout."""

    def __init__(self, ostudy: Any) -> None:
        self.ostudy = ostudy
        self.signum: int | None = None
        self.raised: int | None = None  # the signal that raised KeyboardInterrupt
        self.training = False

    def handle(self, signum: int, frame: Any) -> None:
        """The SIGINT and SIGTERM handler while the study optimises."""
        if self.training or self.signum is not None:
            self.raised = signum
            raise KeyboardInterrupt
        self.signum = signum
        with contextlib.suppress(RuntimeError):  # not inside optimize yet, or any more
            self.ostudy.stop()  # no further trial is asked for

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """SIGINT and SIGTERM handled by `handle` inside (in the main thread; elsewhere
        unchanged): SIGTERM stops the study as Ctrl-C does, and the next command continues it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _FailureStreak:
    """Optuna callback: stop the study after `limit` failed trials in a row (each failure
    would otherwise be followed by another trial for ever, none of them counting)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.run = 0
        self.stopped = False

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        self.run = self.run + 1 if trial.state == TrialState.FAIL else 0
        if self.run >= self.limit:
            self.stopped = True
            study.stop()


def _objective(
    study: Study,
    hub: Hub,
    reporter: Reporter,
    echo: Callable[[str], None],
    failures: list[tuple[int, GanhubError]],
    between: _BetweenTrials,
) -> Callable[[Any], Any]:
    import optuna

    from ganhub.api import train

    single = len(study.objectives) == 1
    checked = {"objective": False}

    def train_seed(
        trial: optuna.Trial, chosen: dict[str, Any], seed: int, first: bool
    ) -> tuple[list[float], int | None]:
        """One run of a trial: its objective values and the step the pruner stopped it at.
        The pruner watches the first seed's run only (so every trial is judged alike)."""
        # a trial a signal stopped is enqueued again: its runs continue from their checkpoints
        number = trial.user_attrs.get(CONTINUES, trial.number)
        raw = trial_raw(study, chosen, number, seed)
        run_dir = study.directory / "trials" / raw["name"]
        if number != trial.number and (run_dir / "checkpoints").is_dir():
            raw = {"resume": str(run_dir)}
        if first:
            trial.set_user_attr("run_dir", str(run_dir))
        if between.signum is not None:  # Ctrl-C came after the last run: train no other
            raise KeyboardInterrupt
        reporter.start(trial if first else None, study.objectives[0] if single else None)
        between.training = True  # Ctrl-C now unwinds the run being built (or its own handler)
        try:
            config = resolve(raw, hub=hub)  # a bad combination fails this trial, not the study
            summary = train(config, hub=hub)
        finally:
            between.training = False
            pruned_at, rates, went = reporter.pruned_at, reporter.rates, reporter.went
            reporter.start(None, None)
        if first:
            trial.set_user_attr("run_dir", summary["run_dir"])
        if summary.get("signal"):  # SIGINT/SIGTERM stopped the run after a checkpoint
            raise _interrupt(trial, summary["signal"], summary.get("steps"), echo)
        if went is not None:  # Optuna's pruners would prune it at once, with no value
            raise TrainingError(f"objective {study.objectives[0]} went {went[1]} at step "
                                f"{went[0]}; the run stopped there (a diverged run: its "
                                "samples or the metric are no longer finite)")  # fmt: skip
        try:
            values = objective_values(study, summary, rates)
        except ConfigError:
            if checked["objective"]:
                raise
            # the objective names no metric of this domain: a user mistake, stop the study
            raise _Fatal(sys.exc_info()[1]) from None
        checked["objective"] = True
        return values, pruned_at

    def objective(trial: optuna.Trial) -> Any:
        chosen: dict[str, Any] = {}
        per_seed: list[list[float]] = []
        trial.set_user_attr(TRIAL_STRATEGY, strategy(study))  # the summary names each trial's
        try:
            for param in study.space.params:
                if param.is_active(chosen):
                    chosen[param.key] = suggest(trial, param)
            for seed in run_seeds(study):
                values, pruned_at = train_seed(trial, chosen, seed, first=not per_seed)
                per_seed.append(values)
                if pruned_at is not None:  # a pruned trial runs no other seed
                    break
            if pruned_at is None:  # (a pruned trial's value is its last report)
                _rankable(study, per_seed)
        except (ConfigError, TrainingError) as exc:  # whatever failed it: its line, and counted
            echo(f"trial {trial.number}: failed: {exc}  {_params_text(chosen)}")
            failures.append((trial.number, exc))
            raise
        except KeyboardInterrupt:  # Ctrl-C before the run's own handler (while it builds, or
            # before the trial's first run), or a second Ctrl-C: the trial is interrupted, not
            # failed, and runs again on resume
            signum = between.signum or between.raised or signal.SIGINT
            raise _interrupt(trial, signum, None, echo) from None
        values = [sum(column) / len(column) for column in zip(*per_seed, strict=True)]
        if len(per_seed) > 1:
            by_objective = {name: [row[i] for row in per_seed]
                            for i, name in enumerate(study.objectives)}  # fmt: skip
            trial.set_user_attr("seed_values", by_objective)
        shown = ", ".join(f"{n}={v:.4g}" for n, v in zip(study.objectives, values, strict=True))
        if pruned_at is not None:
            echo(
                f"trial {trial.number}: pruned at step {pruned_at} ({shown})  "
                f"{_params_text(chosen)}"
            )
            raise optuna.TrialPruned(f"pruned at step {pruned_at}")
        mean = f" (mean of {len(per_seed)} run seeds)" if len(per_seed) > 1 else ""
        echo(f"trial {trial.number}: {shown}{mean}  {_params_text(chosen)}")
        return values[0] if single else values

    return objective


def _rankable(study: Study, per_seed: list[list[float]]) -> None:
    """A NaN objective (a metric of non-finite samples) fails the trial: Optuna would record
    it failed without a word while the line showed it as a result; an infinite one would
    rank first or last among real values (TPE, CMA-ES and REINFORCE learn from it)."""
    for i, name in enumerate(study.objectives):
        seen = [row[i] for row in per_seed]
        if all(math.isfinite(v) for v in seen):
            continue
        of = f" (run seeds: {', '.join(f'{v:.4g}' for v in seen)})" if len(seen) > 1 else ""
        raise TrainingError(
            f"objective {name} is {next(v for v in seen if not math.isfinite(v))}"
            f"{of}: the run's final evaluation gave no finite value to rank"
        )


class _Stopped(Exception):
    """A signal stopped a trial's run: the study ends with the signal's exit status.
    Its args: the signal and the line that says the study stops."""


def _interrupt(trial: Any, signum: int, step: int | None, echo: Callable[[str], None]) -> _Stopped:
    """A signal stopped the trial: the user means the study. The trial is marked interrupted
    (Optuna records it FAIL) and enqueued again (the base config's trial stays the default, a
    grid point stays to run), so rerunning the command continues its runs."""
    trial.set_user_attr(INTERRUPTED, {"signal": int(signum), "step": step})
    attrs = {k: v for k, v in trial.user_attrs.items() if k in ("default", "supernet")}
    attrs[CONTINUES] = trial.user_attrs.get(CONTINUES, trial.number)
    trial.study.enqueue_trial(trial.params, user_attrs=attrs)
    echo(f"trial {trial.number}: stopped by signal {int(signum)}; the study stops")
    return _Stopped(int(signum), f"ganhub tune: stopped by signal {int(signum)} in trial "
                    f"{trial.number}; the study stops (run the same command to continue it)")  # fmt: skip


class _Fatal(Exception):
    """Carries a user error out of Optuna's optimize (which would otherwise log and continue)."""


def _params_text(chosen: dict[str, Any]) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in chosen.items())


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return encode(value).replace(" ", "") if isinstance(value, list | dict) else str(value)
