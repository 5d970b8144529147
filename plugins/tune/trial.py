"""One trial of a study: the values it asks the sampler for, the raw config of each of its
runs, the reporter that lets the pruner stop a run, the objective values a finished run gives,
and the base config's own values of the searched keys (the 'default' trial).

Trials report the objective after every evaluation (`after_evaluate`); when the pruner says
stop, the reporter sets `run.stop_requested`, the loop ends the run cleanly (checkpoint, final
metrics) and the trial is recorded as pruned.

`ganhub_tune.study` prepares a study before anything runs; this module is what the runner
(`ganhub_tune.runner`) and the report (`ganhub_tune.report`) use per trial. Optuna's trial
objects come in as arguments: nothing here imports Optuna.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from ganhub_tune.checks import show
from ganhub_tune.space import Param, decode, encode

from ganhub.config.overrides import deep_merge, set_dotted
from ganhub.errors import ConfigError
from ganhub.hookspecs import hookimpl

if TYPE_CHECKING:
    from ganhub_tune.study import Study


def suggest(trial: Any, param: Param) -> Any:
    """Ask the trial for one parameter's value (a config value: categoricals decoded)."""
    if param.type == "categorical":
        stored = trial.suggest_categorical(param.key, [encode(c) for c in param.choices])
        return decode(stored, param)
    if param.type == "int":
        return trial.suggest_int(param.key, int(param.low or 0), int(param.high or 0),
                                 step=int(param.step or 1), log=param.log)  # fmt: skip
    return trial.suggest_float(param.key, param.low, param.high, step=param.step, log=param.log)


def run_seeds(study: Study) -> list[int]:
    """The run seeds every trial trains at: the base config's seed and the next repeats - 1."""
    return [study.base_config.seed + r for r in range(study.options.repeats)]


def trial_raw(study: Study, chosen: dict[str, Any], number: int, seed: int) -> dict[str, Any]:
    """The raw config of one run of a trial: the shared base, the chosen values (tied keys too),
    the run seed and its run directory (`trial_0004`, or `trial_0004_seed1` with repeats)."""
    raw = deep_merge(study.base_raw, {})
    keys = {p.key: p.keys for p in study.space.params}
    for key, value in chosen.items():
        for each in keys.get(key, (key,)):
            set_dotted(raw, each.split("."), copy.deepcopy(value))
    raw["seed"] = seed
    raw["out_dir"] = str(study.directory / "trials")
    raw["name"] = f"trial_{number:04d}" + (f"_seed{seed}" if study.options.repeats > 1 else "")
    return raw


class Reporter:
    """Lifecycle-hook plugin: reports each evaluation to the running trial and asks to prune."""

    def __init__(self) -> None:
        self.trial: Any = None
        self.objective = ""
        self.pruned_at: int | None = None
        # (step, value) of an evaluation whose objective was NaN or infinite: the run stops
        # there and the trial fails (Optuna's pruners would prune it with no value)
        self.went: tuple[int, float] | None = None
        self.rates: list[float] = []

    def start(self, trial: Any, objective: str | None) -> None:
        """Watch the next run for `trial` (objective None: report nothing, never prune)."""
        self.trial, self.objective, self.pruned_at, self.rates = trial, objective or "", None, []
        self.went = None

    @hookimpl
    def after_step(self, run: Any, step: int, metrics: dict[str, float] | None) -> None:
        """Keep the measured training speed of every run of a trial (for the step_time
        objective: each run seed's own speed, whether or not the pruner watches it)."""
        if metrics and "perf/steps_per_s" in metrics:
            self.rates.append(metrics["perf/steps_per_s"])

    @hookimpl
    def after_evaluate(self, run: Any, step: int, metrics: dict[str, float]) -> None:
        """Report the objective at this step; stop the run when the pruner says so, or when
        the objective is no longer finite (the trial fails: `went`)."""
        if self.trial is None or not self.objective or self.pruned_at is not None:
            return
        if step >= run.config.trainer.steps or self.objective not in metrics:
            return
        value = float(metrics[self.objective])
        if not math.isfinite(value):
            if self.went is None:
                self.went = (step, value)
            run.stop_requested = True  # a diverged run: training on teaches nothing
            return
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned_at = step
            run.stop_requested = True  # the loop saves, evaluates and returns


def objective_values(study: Study, summary: dict[str, Any], rates: list[float]) -> list[float]:
    """The objective values of a finished run (metrics plus step_time / steps_per_s)."""
    metrics = dict(summary["metrics"])
    if rates:
        metrics["steps_per_s"] = sum(rates) / len(rates)
        metrics["step_time"] = 1.0 / max(metrics["steps_per_s"], 1e-12)
    values = []
    for name in study.objectives:
        if name not in metrics:
            raise ConfigError(f"objective={name}: the {study.options.plugin} run reports "
                              f"{', '.join(sorted(metrics)) or 'no metrics'}; pick one of those")  # fmt: skip
        values.append(float(metrics[name]))
    return values


def default_params(study: Study) -> dict[str, Any] | None:
    """The base config's own values of the searched keys (the 'default' trial), if in range."""
    return base_params(study)[0]


def base_params(study: Study) -> tuple[dict[str, Any] | None, str]:
    """`default_params`, and when it is None, which base value the space does not hold."""
    dump = study.base_config.model_dump(mode="json")
    params: dict[str, Any] = {}
    chosen: dict[str, Any] = {}
    for p in study.space.params:
        if not p.is_active(chosen):
            continue
        node = _value_at(dump, p.key)
        for key in p.also:  # a tie the base config does not keep: no trial is the base config
            if _value_at(dump, key) != node:
                return None, f"{key}={show(_value_at(dump, key))}, tied to {p.key}={show(node)}"
        if p.type == "categorical":
            if node not in p.choices:
                return None, f"{p.key}={show(node)} is not one of its choices"
            params[p.key] = encode(node)
        elif not isinstance(node, int | float) or not (p.low or 0) <= node <= (p.high or 0):
            return None, f"{p.key}={show(node)} is outside {show(p.low)}..{show(p.high)}"
        else:
            params[p.key] = node
        chosen[p.key] = node
    return params, ""


def _value_at(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


__all__ = [
    "Reporter",
    "base_params",
    "default_params",
    "objective_values",
    "run_seeds",
    "suggest",
    "trial_raw",
]
