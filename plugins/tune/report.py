"""What a study leaves behind: best.yaml, summary.md, trials.csv, importances, plots."""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

from ganhub_tune.checks import counted
from ganhub_tune.identity import PRUNER, SAMPLER, SAMPLER_SEED, TRIAL_STRATEGY
from ganhub_tune.oneshot import preferred_params, runs_params
from ganhub_tune.runner import CONTINUES, INTERRUPTED
from ganhub_tune.space import decode
from ganhub_tune.study import Study
from ganhub_tune.trial import base_params, run_seeds, trial_raw

from ganhub.config.overrides import dump_yaml, load_yaml
from ganhub.config.resolve import resolve
from ganhub.config.schema import is_plain_name, with_absolute_paths
from ganhub.errors import TrainingError, one_line
from ganhub.metrics import store

# fANOVA fits a random forest to the complete trials: below this many, its importances say
# more about the forest's seed than about the keys (Optuna computes them from two)
MIN_IMPORTANCE_TRIALS = 10


def write_outputs(study: Study, ostudy: Any) -> dict[str, Any]:
    """Write every output into the study directory; return the facts the CLI prints."""
    from optuna.trial import TrialState

    trials = ostudy.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise TrainingError(f"study '{ostudy.study_name}' has no complete trial yet "
                            f"({counted(len(trials), 'trial')}: "
                            f"see {study.directory / 'trials'})")  # fmt: skip
    front = ostudy.best_trials
    best = front[0] if len(front) == 1 else _lead(front, study)
    default = default_trial(trials)
    out = study.directory
    best_yaml = write_best(out / "best.yaml", best, study)
    table = real_cells(ostudy.trials_dataframe(), study)
    stopped = [t.number for t in trials if interrupted(t)]
    table.loc[table["number"].isin(stopped), "state"] = "INTERRUPTED"  # Optuna's FAIL
    store.write_text(out / "trials.csv", table.to_csv(index=False))
    importances = _importances(ostudy, study, complete)
    store.write_json(out / "importances.json", importances)
    plots = _plots(ostudy, out, multi=len(study.objectives) > 1, importances=bool(importances))
    facts = {
        "study": ostudy.study_name,
        "directory": str(out),
        "trials": len(trials),
        "complete": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL and not interrupted(t) for t in trials),
        "interrupted": len(stopped),
        # not finished: another worker's trial, or one queued to run (a stopped trial's rerun)
        "running": sum(t.state == TrialState.RUNNING for t in trials),
        "queued": sum(t.state == TrialState.WAITING for t in trials),
        "best_trial": best.number,
        "best_params": {k: real_value(study, k, v) for k, v in best.params.items()},
        "best_values": dict(zip(study.objectives, best.values, strict=True)),
        "default_values": (
            dict(zip(study.objectives, default.values, strict=True))
            if default is not None and default.state == TrialState.COMPLETE
            else None
        ),
        "pareto": [t.number for t in front] if len(study.objectives) > 1 else [],
        "best_yaml": str(best_yaml),
        "importances": importances,
        # complete trials fANOVA still needs (0: importances are computed)
        "importances_need": max(0, MIN_IMPORTANCE_TRIALS - len(complete)),
        "strategies": strategies(trials),
        "plots": [str(p) for p in plots],
    }
    summary = summary_text(study, trials, best, default, facts)
    # each written whole or not at all: a study killed while it summarises keeps the last ones
    store.write_text(out / "summary.md", summary)
    store.write_json(out / "summary.json", facts)
    facts["summary"] = summary
    return facts


def real_value(study: Study, key: str, stored: Any) -> Any:
    """A trial's stored value of a key as the config holds it: a list or mapping choice is
    stored as its YAML text (`[0.5, 0.999]`), and summary.json gives the list itself."""
    for p in study.space.params:
        if p.key == key and p.type == "categorical":
            return decode(stored, p)
    return stored


def real_cells(table: Any, study: Study) -> Any:
    """Optuna's trials table with real values as JSON text: a list or mapping choice
    (`["r1"]`, not its stored YAML `[r1]`) and a list or mapping attribute (not a Python
    repr with single quotes); other cells as they are."""

    def as_json(value: Any) -> Any:
        return json.dumps(value) if isinstance(value, list | dict) else value

    for column in table.columns:
        if column.startswith("params_"):
            key = column.removeprefix("params_")
            table[column] = table[column].map(lambda v, k=key: as_json(real_value(study, k, v)))
        elif column == "system_attrs_fixed_params":  # the values a trial was queued with
            table[column] = table[column].map(
                lambda v: as_json({k: real_value(study, k, x) for k, x in v.items()})
                if isinstance(v, dict) else v
            )  # fmt: skip
        elif column.startswith(("user_attrs_", "system_attrs_")):
            table[column] = table[column].map(as_json)
    return table


def interrupted(trial: Any) -> bool:
    """Whether a signal stopped the trial (Ctrl-C): Optuna records it FAIL, and the trial
    enqueued to continue it runs it on from its checkpoints."""
    from optuna.trial import TrialState

    return trial.state == TrialState.FAIL and INTERRUPTED in trial.user_attrs


def default_trial(trials: list[Any]) -> Any:
    """The base config's trial: the latest complete one marked default (a trial a signal
    stopped is marked again on its re-run), else the first marked (failed or pruned)."""
    from optuna.trial import TrialState

    marked = [t for t in trials if t.user_attrs.get("default")]
    complete = [t for t in marked if t.state == TrialState.COMPLETE]
    return complete[-1] if complete else next(iter(marked), None)


def _lead(front: list[Any], study: Study) -> Any:
    """From the Pareto front, the trial best on the first objective (written as best.yaml)."""
    sign = 1 if study.directions[0] == "minimize" else -1
    return min(front, key=lambda t: sign * t.values[0])


def write_best(path: Path, trial: Any, study: Study) -> Path:
    """The best trial's resolved config, ready for `ganhub run --config best.yaml`."""
    run_dir, config = _trial_config(trial, study)
    for key in ("name", "resume", "out_dir"):
        config.pop(key, None)  # a re-run gets its own directory under runs/
    config["trainer"]["progress"] = True
    values = ", ".join(f"{n}={v:.4g}" for n, v in zip(study.objectives, trial.values, strict=True))
    if "seed_values" in trial.user_attrs:
        values += f"{_seeds_text(study)}; this config is the run at seed {config['seed']}"
    head = (
        f"# best config of study '{study.directory.name}': trial {trial.number} ({values})\n"
        # one line each: a path is text the user typed, and a newline would end the comment
        f"# trial run: {one_line(run_dir if run_dir is not None else _ELSEWHERE)}\n"
        f"# reproduce: ganhub run --config {one_line(shlex.quote(str(path)))}\n"
    )
    store.write_text(path, head + dump_yaml(config, sort_keys=False))
    return path


_ELSEWHERE = (
    "not in this study folder (another worker's machine?); config rebuilt from the trial's values"
)


def _trial_config(trial: Any, study: Study) -> tuple[Path | None, dict[str, Any]]:
    """The trial's run directory and its saved config: the run of that name in this study
    folder, wherever the folder is now and whichever folder the command runs from (the stored
    path is relative to the folder the study ran from, and a worker's runs are on its own
    machine); else the config rebuilt from the study's base and the trial's values, as the
    trial resolved it."""
    name = Path(str(trial.user_attrs.get("run_dir", ""))).name
    if is_plain_name(name):
        run_dir = study.directory / "trials" / name
        if (run_dir / "config.yaml").is_file():
            return run_dir, load_yaml(run_dir / "config.yaml")
    chosen = {p.key: decode(trial.params[p.key], p) for p in study.space.params
              if p.key in trial.params}  # fmt: skip
    number = trial.user_attrs.get(CONTINUES, trial.number)
    config = resolve(trial_raw(study, chosen, number, run_seeds(study)[0]))
    return None, with_absolute_paths(config, config.model_dump(mode="json"))


def _importances(ostudy: Any, study: Study, complete: list[Any]) -> dict[str, Any]:
    import optuna

    if len(complete) < MIN_IMPORTANCE_TRIALS:
        return {}
    out: dict[str, Any] = {}
    for i, name in enumerate(study.objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = optuna.importance.get_param_importances(
                    ostudy, target=_value(i), evaluator=fanova()
                )
        except (RuntimeError, ValueError, ImportError):  # ImportError: no scikit-learn
            continue  # e.g. every complete trial used the same values
        out[name] = {k: round(float(v), 4) for k, v in values.items()}
    return out


def fanova() -> Any:
    """Optuna's fANOVA evaluator, seeded: the same study gives the same importances (Optuna 5
    defaults to PED-ANOVA, and fANOVA's forest is random)."""
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=0)


def _has_sklearn() -> bool:
    """Whether scikit-learn, which Optuna's fANOVA fits its forest with, is installed."""
    import importlib.util

    return importlib.util.find_spec("sklearn") is not None


def _value(i: int) -> Any:
    return lambda t: t.values[i]


def _plots(ostudy: Any, out: Path, *, multi: bool, importances: bool) -> list[Path]:
    """Optimisation history and importances (Pareto front when multi-objective), HTML and PNG;
    no importances plot before the study has enough complete trials for them."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        # optuna draws with pyplot: no display needed, unless the caller (a notebook) chose
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vmpl

    wanted: list[tuple[str, Any, Any, dict[str, Any]]] = []
    if multi:
        wanted.append(("pareto_front", vis.plot_pareto_front, vmpl.plot_pareto_front, {}))
        target: dict[str, Any] = {"target": lambda t: t.values[0], "target_name": "objective 1"}
    else:
        target = {}
    wanted.append(
        ("history", vis.plot_optimization_history, vmpl.plot_optimization_history, target)
    )
    if importances:
        ranked = {**target, "evaluator": fanova()}
        wanted.append(
            ("importances", vis.plot_param_importances, vmpl.plot_param_importances, ranked)
        )
    else:  # none from an earlier summary either: it would not be this study's
        for suffix in (".html", ".png"):
            (out / f"importances{suffix}").unlink(missing_ok=True)
    paths: list[Path] = []
    for stem, html_fn, png_fn, kwargs in wanted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fig = html_fn(ostudy, **kwargs)
                # each written whole under a fresh name (plotly and savefig write in place, and
                # through a link planted at the name); plotly.min.js once, beside them
                _plotly_js(out)
                store.write_text(out / f"{stem}.html", fig.to_html(include_plotlyjs="directory"))
                paths.append(out / f"{stem}.html")
                ax = png_fn(ostudy, **kwargs)
                ax.figure.tight_layout()
                png = io.BytesIO()
                ax.figure.savefig(png, format="png", dpi=100)
                plt.close(ax.figure)
                store.write_bytes(out / f"{stem}.png", png.getvalue())
                paths.append(out / f"{stem}.png")
            except (RuntimeError, ValueError, ImportError):
                continue  # importances need complete trials that differ (and scikit-learn)
    return paths


def _plotly_js(out: Path) -> None:
    """The plotly.js bundle the HTML plots load from the study folder, written once."""
    from plotly.offline import get_plotlyjs

    if not (out / "plotly.min.js").is_file():
        store.write_text(out / "plotly.min.js", get_plotlyjs())


def _why_no_default(study: Study) -> str:
    """Why no trial ran the base config (the default column is empty)."""
    if study.options.sampler == "grid":
        return "sampler=grid runs only the points of its grid"
    _, reason = base_params(study)
    if reason:
        return f"the base config is not in the search space ({reason})"
    return "the base config's trial has not run (the study was started before it was queued)"


def summary_text(
    study: Study, trials: list[Any], best: Any, default: Any, facts: dict[str, Any]
) -> str:
    """A Markdown report: counts, best vs default (every searched key), the trials table."""
    objectives = study.objectives
    used = facts["strategies"]
    if len(used) == 1 and used[0][SAMPLER] is not None:  # every trial ran with one strategy
        how = f", sampler={used[0][SAMPLER]}, pruner={used[0][PRUNER]}"
    else:
        how = ", several search strategies" if len(used) > 1 else ""
    lines = [
        f"# Study {facts['study']} ({study.options.plugin}, space={study.options.space}{how})",
        "",
        f"{counted(facts['trials'], 'trial')}: {facts['complete']} complete, "
        f"{facts['pruned']} pruned, "
        f"{facts['failed']} failed"
        + (f", {facts['interrupted']} interrupted" if facts["interrupted"] else "")
        + "".join(f", {facts[k]} {k}" for k in ("running", "queued") if facts[k])
        + ". Objective: "
        + ", ".join(f"{o} ({d})" for o, d in zip(objectives, study.directions, strict=True))
        + _seeds_text(study),
        "",
        f"Best: trial {best.number}, written to best.yaml "
        f"(`ganhub run --config {shlex.quote(facts['best_yaml'])}`).",
    ]
    if len(used) > 1:
        lines += ["", "Search strategies, by the trials each ran:", ""]
        lines += [f"- {_strategy_text(u)}: {_numbers(u['trials'])}" for u in used]
        lines.append("")
    if "seed_values" in best.user_attrs:
        spread = "; ".join(f"{name} " + ", ".join(_fmt(v) for v in values)
                           for name, values in best.user_attrs["seed_values"].items())  # fmt: skip
        lines.append(f"Best trial's runs, one per seed: {spread}.")
    if facts["pareto"]:
        lines.append(f"Pareto front: trials {', '.join(map(str, facts['pareto']))}.")
    if study.architecture:
        # the trial of its current preference (a supernet trained again may prefer another)
        preferred = preferred_params(study.architecture, study.space.params)
        done = ("COMPLETE", "PRUNED")
        chosen = [t.number for t in trials if t.state.name in done and runs_params(t, preferred)]
        which = f"Trial {chosen[0]} is" if chosen else "No finished trial is yet"
        lines.append(f"{which} the architecture the weight-sharing supernet (run `supernet/`) "
                     "prefers; its probabilities are in architecture.json.")  # fmt: skip
    if default is None:
        lines.append(f"No default column: {_why_no_default(study)}.")
    lines += ["", "| key | default | best |", "|---|---|---|"]
    for name in objectives:
        d = facts["default_values"][name] if facts["default_values"] else None
        lines.append(f"| **{_cell(name)}** | {_fmt(d)} | {_fmt(facts['best_values'][name])} |")
    defaults = default.params if default is not None else {}
    for p in study.space.params:
        lines.append(f"| {_cell(p.key)} | {_cell(defaults.get(p.key))} | "
                     f"{_cell(best.params.get(p.key))} |")  # fmt: skip
    if not facts["importances_need"] and not _has_sklearn():
        lines += ["", "Parameter importances (fANOVA) need scikit-learn: pip install scikit-learn"]
    elif facts["importances_need"]:
        lines += [
            "",
            f"Parameter importances (fANOVA) need {MIN_IMPORTANCE_TRIALS} complete trials: "
            f"this study has {facts['complete']}, {facts['importances_need']} more to go.",
        ]
    elif facts["importances"]:
        lines += ["", "Parameter importances (fANOVA):", ""]
        for name, values in facts["importances"].items():
            shown = ", ".join(f"{k} {v:.2f}" for k, v in values.items())
            lines.append(f"- {name}: {shown}")
    head = "| trial | state | " + " | ".join(map(_cell, objectives)) + " | params | run |"
    lines += ["", head, "|" + "---|" * (4 + len(objectives))]
    reported = False  # a row shows a trial's last report, not a final value
    for t in trials:
        cells = [_fmt(v) for v in t.values or [None] * len(objectives)]
        if t.values is None and t.intermediate_values:
            step = max(t.intermediate_values)
            cells[0] = f"({_fmt(t.intermediate_values[step])} at step {step})"
            reported = True
        # a queued trial has no params yet: the values it is queued with
        values = t.params or t.system_attrs.get("fixed_params") or {}
        params = _cell(" ".join(f"{k}={_fmt(v)}" for k, v in values.items()))
        run = _cell(Path(str(t.user_attrs.get("run_dir", "-"))).name)
        lines.append(f"| {t.number} | {_state(t, trials)} | "
                     + " | ".join(cells) + f" | {params} | {run} |")  # fmt: skip
    if reported:
        lines += [
            "",
            "A value in parentheses is the last one a trial reported (at that step), not a "
            "final value: the trial failed, was interrupted or is still running.",
        ]
    return "\n".join(lines) + "\n"


def strategies(trials: list[Any]) -> list[dict[str, Any]]:
    """The search strategies the study's trials ran with (the worker's sampler, pruner and
    sampler_seed, as each trial records them), in the order they first ran, each with its
    trials; a trial that records none (run before trials recorded it) counts as unknown.
    A trial not yet started (queued) has no strategy."""
    found: dict[tuple[Any, ...], list[int]] = {}
    for t in trials:
        if t.state.name == "WAITING":
            continue
        record = t.user_attrs.get(TRIAL_STRATEGY)
        record = record if isinstance(record, dict) else {}
        key = tuple(record.get(k) for k in (SAMPLER, PRUNER, SAMPLER_SEED))
        found.setdefault(key, []).append(t.number)
    return [{SAMPLER: k[0], PRUNER: k[1], SAMPLER_SEED: k[2], "trials": numbers}
            for k, numbers in found.items()]  # fmt: skip


def _strategy_text(used: dict[str, Any]) -> str:
    if used[SAMPLER] is None:
        return "not recorded"
    return (f"sampler={used[SAMPLER]}, pruner={used[PRUNER]}, "
            f"sampler_seed={used[SAMPLER_SEED]}")  # fmt: skip


def _numbers(numbers: list[int]) -> str:
    """'trial 3' or 'trials 0-4, 7'."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"trial {text}" if len(numbers) == 1 else f"trials {text}"


def _state(trial: Any, trials: list[Any]) -> str:
    """The state a summary row shows: Optuna's, or `interrupted` (continued as trial N) for
    a trial a signal stopped; `queued` (to continue trial N) for one that waits to run."""
    if trial.state.name == "WAITING":
        origin = trial.user_attrs.get(CONTINUES)
        return "queued" + (f" (continues trial {origin})" if origin is not None else "")
    if not interrupted(trial):
        return str(trial.state.name.lower())
    origin = trial.user_attrs.get(CONTINUES, trial.number)
    later = [t.number for t in trials
             if t.number > trial.number and t.user_attrs.get(CONTINUES) == origin]  # fmt: skip
    return f"interrupted, continued as trial {min(later)}" if later else "interrupted"


def _seeds_text(study: Study) -> str:
    """', mean of the runs at seeds 0, 1, 2' when trials run several seeds, else ''."""
    seeds = run_seeds(study)
    return f", mean of the runs at seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else ""


def _cell(value: Any) -> str:
    """`_fmt` for a Markdown table cell: a `|` in a choice (`model.act=a|b`) or a name ended
    the cell and shifted the row; a newline ended the table."""
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
