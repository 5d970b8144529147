"""`ganhub tune`: parse key=value options, run the study, print the summary."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click

from ganhub.clikit import KeyValueCommand
from ganhub.config.overrides import parse_override
from ganhub.config.schema import expand_path_text
from ganhub.errors import ConfigError, GanhubError, one_line

SUPERNET_PREFIX = "supernet"  # supernet.KEY=VALUE: an override of the supernet run only
# config keys ganhub tune sets for the supernet run itself: the study's plugin, in its folder
SUPERNET_SET = ("plugin", "out_dir", "name", "resume")
# config keys of a run's folder: each trial's is the study's (OUT/STUDY/trials/trial_NNNN)
_NAMED = "ganhub tune names each trial's run folder itself (OUT/STUDY/trials/trial_NNNN); "
RUN_FOLDER_KEYS = {
    "out_dir": _NAMED + "give out=DIR for the folder that holds the study",
    "name": _NAMED + "give study=NAME for the study's folder",
    "resume": "ganhub tune continues a study (each trial from its checkpoints) when the same "
    "command runs again; leave resume= out",
}

# option -> (type, help); every other key=value is a config override shared by all trials
OPTIONS: dict[str, tuple[type, str]] = {
    "plugin": (str, "the domain to tune (required)"),
    "trials": (int, "finished (complete or pruned) trials the study should hold [20]"),
    "search": (str, "a search-space YAML file, merged over the built-in space"),
    "space": (
        str,
        "hparams (optimiser, loss, sizes) or arch (the domain's G/D structure) [hparams]",
    ),
    "objective": (
        list,
        "metric(s) to optimise, e.g. modes, fd_digits, step_time, [modes,step_time] [per domain]",
    ),
    "direction": (list, "maximize / minimize per objective [known metrics: automatic]"),
    "sampler": (
        str,
        "tpe (Bayesian), random, grid, cmaes, evolution (genetic), reinforce (RL), oneshot (weight-sharing supernet) [tpe]",
    ),
    "pruner": (str, "median, hyperband, none [median]"),
    "storage": (
        str,
        "Optuna storage: postgresql://user@host/db, sqlite:///path.db or a journal file "
        "path.journal [sqlite in the study dir]",
    ),
    "study": (str, "study name = directory under out [PLUGIN-SPACE]; same name resumes"),
    "out": (str, "parent folder of study directories [runs/tune]"),
    "sampler_seed": (int, "seed of the sampler [0]"),
    "timeout": (float, "stop starting trials after this many seconds"),
    "repeats": (
        int,
        "runs per trial, at run seeds seed, seed+1, ...; its objective is their mean [1]",
    ),
}


@click.command(
    name="tune",
    cls=KeyValueCommand,
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
)
@click.argument("items", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def tune_command(ctx: click.Context, items: tuple[str, ...]) -> None:
    """Hyperparameter / architecture search on Optuna: ganhub tune plugin=NAME [trials=N] ...

    \b
    ganhub tune plugin=toy2d trials=20
    ganhub tune plugin=dcgan space=arch trials=8 trainer.steps=300
    ganhub tune plugin=toy2d space=arch sampler=oneshot trials=8   (weight-sharing supernet first)
    ganhub tune plugin=toy2d search=space.yaml objective=[modes,step_time] sampler=random
    ganhub tune plugin=toy2d space=arch repeats=3   (each trial scored over run seeds 0, 1, 2)
    ganhub tune plugin=toy2d storage=postgresql://me@db/optuna study=grid   (one per machine)
    Other key=value items are config overrides every trial shares; supernet.KEY=VALUE
    sets KEY for the supernet run of sampler=oneshot only. Writes best.yaml,
    summary.md, trials.csv, importances.json and plots into OUT/STUDY/ (runs/tune/PLUGIN-SPACE).
    """
    if any(a in ("-h", "--help") for a in items):
        width = max(map(len, OPTIONS))
        rows = [f"  {k + '=':<{width + 1}}  {h}" for k, (_, h) in OPTIONS.items()]
        click.echo(ctx.get_help() + "\n\nOptions (key=value):\n" + "\n".join(rows))
        return
    options = parse_options(list(items))
    from ganhub_tune.report import write_outputs
    from ganhub_tune.runner import run_study
    from ganhub_tune.study import prepare

    study = prepare(options)
    for note in study.notes:
        click.echo(f"ganhub tune: warning: {note}", err=True)
    for note in study.fixed_notes:
        click.echo(f"ganhub tune: note: {note}")
    click.echo(f"ganhub tune: study '{study.directory.name}' in {study.directory} "
               f"({_count(options.trials, 'trial')}, {_count(len(study.space.params), 'param')}, "
               f"objective {', '.join(study.objectives)})")  # fmt: skip

    def summarise(ostudy: Any) -> None:  # a study a signal stops: what finished, as complete
        try:  # a summary that cannot be written does not hide why the study stopped
            if _has_complete(ostudy):
                _print_summary(write_outputs(study, ostudy))
        except GanhubError as exc:
            click.echo(f"ganhub tune: warning: no summary: {one_line(exc, 300)}", err=True)

    ostudy = run_study(study, echo=click.echo, summarise=summarise)
    _print_summary(write_outputs(study, ostudy))


def _print_summary(facts: dict[str, Any]) -> None:
    click.echo(facts["summary"].rstrip())
    click.echo(f"\nganhub tune: best config in {facts['best_yaml']}; "
               f"reproduce with: ganhub run --config {shlex.quote(facts['best_yaml'])}")  # fmt: skip


def _has_complete(ostudy: Any) -> bool:
    from optuna.trial import TrialState

    return bool(ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def parse_options(items: list[str]) -> Any:
    """Split tune options from config overrides and check their types."""
    from ganhub_tune.study import TuneOptions

    values: dict[str, Any] = {}
    given: dict[str, str] = {}  # option -> its item as typed
    overrides: list[str] = []
    supernet: list[str] = []
    for item in items:
        path, value = parse_override(item)
        key = ".".join(path)
        if path[0] == SUPERNET_PREFIX and len(path) > 1:  # the supernet run's own override
            if path[1] in SUPERNET_SET:
                raise ConfigError(
                    f"{one_line(item, 120)}: the supernet run is the study's own (its plugin=, "
                    f"in the study folder's supernet/), so {SUPERNET_PREFIX}.KEY may set any "
                    f"config key but {', '.join(SUPERNET_SET)}"
                )
            supernet.append(item.split(".", 1)[1])
            continue
        if key in RUN_FOLDER_KEYS:
            raise ConfigError(f"{one_line(item, 120)}: {RUN_FOLDER_KEYS[key]}")
        if key not in OPTIONS:
            overrides.append(item)
            continue
        kind = OPTIONS[key][0]
        if kind is list:
            value = value if isinstance(value, list) else [value]
            if not value or not all(isinstance(v, str) and v for v in value):
                # `objective=[]` would fall back to the default silently
                raise ConfigError(f"{key}={item.split('=', 1)[1]}: give a name or [name,name], "
                                  f"or leave {key}= out for the default")  # fmt: skip
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif kind is str and value is not None:
            value = str(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{key}={value!r}: must be {kind.__name__} ({OPTIONS[key][1]})")
        if key in values and values[key] != value:  # which one was meant is not ours to guess
            raise ConfigError(
                f"{one_line(given[key], 60)} and {one_line(item, 60)}: the option '{key}' is "
                "given twice; give it once"
            )
        values[key], given[key] = value, item
    if "plugin" not in values:
        raise ConfigError("ganhub tune needs plugin=NAME (ganhub list domains)")
    _refuse_misspelt_options(overrides, values["plugin"])
    if "search" in values:
        values["search"] = Path(expand_path_text(values["search"]))
    if "out" in values:
        values["out_dir"] = Path(expand_path_text(values.pop("out")))
    if "sampler_seed" in values:
        values["seed"] = values.pop("sampler_seed")
    if supernet and values.get("sampler") != "oneshot":
        raise ConfigError(f"{SUPERNET_PREFIX}.* keys set the supernet run of sampler=oneshot, "
                          f"and this study uses sampler={values.get('sampler', 'tpe')}")  # fmt: skip
    return TuneOptions(**values, overrides=overrides, supernet_overrides=supernet)


def _refuse_misspelt_options(overrides: list[str], plugin: str) -> None:
    """A key=value item that is no config key and reads like a tune option (`trails=5`) is that
    option misspelt: say so, rather than let the config name its closest key (`tricks`)."""
    from ganhub.config.overrides import CONFIG_KEY
    from ganhub.errors import did_you_mean
    from ganhub.plugins import get_hub

    hub = get_hub()
    if plugin not in hub.domains:
        return  # the study says which domains there are
    fields = [*hub.domains.get(plugin).config_class.model_fields, CONFIG_KEY]
    for item in overrides:
        path = parse_override(item)[0]
        if path[0] in fields:
            continue
        options = list(OPTIONS) if len(path) == 1 else [SUPERNET_PREFIX]
        hint = did_you_mean(path[0], [*options, *fields])
        if any(f"'{name}'" in hint for name in options):
            raise ConfigError(
                f"unknown option '{'.'.join(path)}'{hint}; the options of ganhub tune: "
                f"{', '.join(OPTIONS)}, {SUPERNET_PREFIX}.KEY; other key=value items are config "
                f"keys (ganhub run plugin={plugin} --help)"
            )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
