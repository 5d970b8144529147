"""Prepare a study: what `ganhub tune` was asked for (`TuneOptions`), checked whole before
anything runs or is written (`prepare`): the search space, the shared base config, the
objectives and their directions, the study folder and its storage.

Each trial is then an ordinary ganhub run inside the study directory: `ganhub_tune.trial` holds
what one trial needs (its values, its runs' configs, the reporter the pruner acts through),
`ganhub_tune.runner` runs them. Optuna is imported there, never at plugin import.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ganhub_tune.checks import check_choices, check_keys, check_reported, show
from ganhub_tune.defaults import TRIAL_BASE, default_space, direction_of, known_objectives
from ganhub_tune.samplers import SAMPLERS, SINGLE_OBJECTIVE
from ganhub_tune.space import Param, Space, encode, fixed_singles, load_space
from ganhub_tune.storage import check_storage, expand_storage

from ganhub.config.overrides import deep_merge, merge_sources, parse_override, set_dotted
from ganhub.config.resolve import validate
from ganhub.config.schema import MAX_SEED, PLAIN_NAME_RULE, RunConfig, is_plain_name
from ganhub.errors import ConfigError, UsageError, did_you_mean, one_line
from ganhub.plugins import Hub, get_hub

PRUNERS = ("median", "hyperband", "none")
SPACES = ("hparams", "arch")


@dataclass
class TuneOptions:
    """What `ganhub tune` was asked for (after parsing its key=value options)."""

    plugin: str
    trials: int = 20
    search: Path | None = None
    space: str = "hparams"
    objective: list[str] = field(default_factory=list)
    direction: list[str] = field(default_factory=list)
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    study: str | None = None
    out_dir: Path = Path("runs/tune")
    seed: int = 0
    timeout: float | None = None
    repeats: int = 1
    overrides: list[str] = field(default_factory=list)
    # sampler=oneshot: overrides of the supernet run only (after Domain.supernet's)
    supernet_overrides: list[str] = field(default_factory=list)


@dataclass
class Study:
    """A prepared study: the space, the shared raw config, the objectives and where it lives."""

    options: TuneOptions
    space: Space
    base_raw: dict[str, Any]
    base_config: RunConfig
    objectives: list[str]
    directions: list[str]
    directory: Path
    storage_url: str
    # sampler=oneshot: the supernet's probability per value of each searched key, once trained
    architecture: dict[str, dict[Any, float]] | None = None
    # sampler=oneshot: the supernet run's resolved config (its `supernet.KEY`s: the identity)
    supernet_config: RunConfig | None = None
    # the outermost folder `prepare` made for the study (None: the study folder existed)
    made: Path | None = None
    # sampler=oneshot: this command trained the supernet (not read back from architecture.json)
    supernet_trained: bool = False
    # warnings for the user before the first trial (a direction against the metric's)
    notes: list[str] = field(default_factory=list)
    # what the stored study says once opened (it ran with another sampler before)
    resume_notes: list[str] = field(default_factory=list)
    # the keys one-choice params fix (with their `also` keys), and the note said for each param
    fixed: dict[str, Any] = field(default_factory=dict)
    fixed_notes: list[str] = field(default_factory=list)
    # the space as releases before one-choice params were fixed searched it (None: it has none)
    searched_then: list[Param] | None = None
    # storage= as typed (options.storage has its `~` and $VAR expanded): messages name it
    storage_typed: str | None = None


def prepare(options: TuneOptions, hub: Hub | None = None) -> Study:
    """Build the space (built-in, domain arch space, and/or search=FILE) and check everything."""
    hub = hub or get_hub()
    refuse_torchrun()
    if options.space not in SPACES:
        raise ConfigError(f"space={options.space}{did_you_mean(options.space, SPACES)}; valid: {', '.join(SPACES)}")  # fmt: skip
    for label, value, valid in (("sampler", options.sampler, SAMPLERS), ("pruner", options.pruner, PRUNERS)):  # fmt: skip
        if value not in valid:
            raise ConfigError(f"{label}={value}{did_you_mean(value, valid)}; valid: {', '.join(valid)}")  # fmt: skip
    if options.trials < 1:
        raise ConfigError(f"trials={options.trials}: must be a positive integer")
    if options.repeats < 1:
        raise ConfigError(f"repeats={options.repeats}: must be a positive integer (runs per trial)")
    if not 0 <= options.seed <= MAX_SEED:
        raise ConfigError(f"sampler_seed={options.seed}: must be between 0 and {MAX_SEED}")
    if options.timeout is not None and not options.timeout > 0:
        raise ConfigError(f"timeout={options.timeout:g}: must be a positive number of seconds")
    domain = hub.require_domain(options.plugin)
    arch = dict(domain.arch_space)
    if options.sampler == "oneshot" and not domain.supernet:
        raise ConfigError(f"sampler=oneshot: domain '{options.plugin}' builds no weight-sharing "
                          f"supernet (Domain.supernet); use tpe, evolution or reinforce")  # fmt: skip
    if options.space == "arch" and not arch:
        raise ConfigError(f"space=arch: domain '{options.plugin}' declares no arch_space "
                          f"(Domain.arch_space); use space=hparams or search=FILE")  # fmt: skip
    space = default_space(options.plugin, options.space, arch)
    spanned = {p.key: p for p in space.params} if options.space == "arch" else {}
    searched = load_space(options.search) if options.search is not None else None
    if searched is not None:
        space = space.merged(searched)
    searched_in = str(options.search) if searched is not None else None
    given = {".".join(path): value for path, value in map(parse_override, options.overrides)}
    # a one-choice param is fixed like a command-line key (which wins over it); a conditional
    # one is fixed once the keys its condition names are
    singles: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    listed = space.params
    params, more = fixed_singles(_without_fixed(space.params, given))
    while more:
        singles |= more
        fixed |= {key: p.choices[0] for p in more.values() for key in p.keys if key not in given}
        params, more = fixed_singles(_without_fixed(params, {**fixed, **given}))
    space.params = _reachable(params, searched_in)
    space.check_order(f"search space of {options.plugin}")
    if not space.params:
        raise ConfigError(f"the search space of {options.plugin} has no params; give search=FILE")
    if options.sampler == "oneshot" and not any(p.key in arch for p in space.params):
        raise ConfigError(f"sampler=oneshot searches the architecture of {options.plugin}'s "
                          f"supernet, and this study searches none of its keys "
                          f"({', '.join(arch)}); use space=arch")  # fmt: skip
    if options.sampler == "oneshot":
        _check_supernet_space(options, space.params, spanned, arch)
    objectives = options.objective or space.objective
    # where the objectives were given: the search file's `objective:` (messages name it),
    # else objective= on the command line or the built-in space's
    by_file = not options.objective and searched is not None and bool(searched.objective)
    said = f"{options.search}: objective:" if by_file else None
    twice = next((o for i, o in enumerate(objectives) if o in objectives[:i]), None)
    if twice is not None:  # two objectives of one value: a Pareto front of a line
        raise ConfigError(f"{f'{said} ' if said else 'objective='}{encode(objectives)} names "
                          f"'{twice}' twice; give each objective once")  # fmt: skip
    if not objectives:
        raise ConfigError(f"no objective for plugin={options.plugin}: add objective=METRIC "
                          f"(a metric the run reports, e.g. fid, or step_time)")  # fmt: skip
    # objective= on the command line replaces the file's objectives with their directions: the
    # file's direction still holds for an objective of the same name, the others are inferred
    directions = options.direction or ([] if options.objective else space.direction)
    if not directions:
        stated: dict[str, str] = {}
        if len(space.objective) == len(space.direction):
            stated = dict(zip(space.objective, space.direction, strict=True))
        metrics = [entry.obj for entry in hub.metrics]
        guessed = [stated.get(o) or direction_of(o, metrics) for o in objectives]
        unknown = [o for o, d in zip(objectives, guessed, strict=True) if d is None]
        if unknown:
            raise ConfigError(_unknown_objective(unknown[0], hub, said))
        directions = [str(d) for d in guessed]
    if len(directions) != len(objectives):
        raise ConfigError(_direction_count(directions, objectives, options, hub))
    for d in directions:
        if d not in ("minimize", "maximize"):
            raise ConfigError(f"direction={d}: valid: minimize, maximize")
    notes = _against_metrics(objectives, directions, hub)
    if len(objectives) > 1 and options.sampler in SINGLE_OBJECTIVE:
        raise ConfigError(f"sampler={options.sampler} is single-objective; use tpe, evolution or random for several objectives")  # fmt: skip

    base_raw: dict[str, Any] = {"plugin": options.plugin}
    for key, value in {**TRIAL_BASE, **space.base, **fixed}.items():
        set_dotted(base_raw, key.split("."), value)
    # an error about a key the search file's base: gave names the file (as params' errors do)
    sources = {key: f"{options.search}: base" for key in (searched.base if searched else {})}
    sources |= {key: f"{p.origin}: param '{p.key}'" for p in singles.values() for key in p.keys}
    base_raw = deep_merge(base_raw, merge_sources(options.overrides, sources=sources))
    base_raw["plugin"] = options.plugin
    base_config = validate(base_raw, hub, sources=sources)
    check_keys(space.params, base_config, hub)
    check_choices(space.params, base_config, hub)
    check_reported(objectives, space.params, base_config, hub, said)
    name = options.study or f"{options.plugin}-{options.space}"
    if not is_plain_name(name):
        raise ConfigError(f"study={one_line(name, 80)}: {PLAIN_NAME_RULE}; out=DIR chooses where")
    directory = options.out_dir / name
    typed = options.storage  # as the user typed it: what messages name
    if typed is not None:  # `~` and $VAR in a file's path, as in out= and search=
        options = replace(options, storage=expand_storage(typed))
        check_storage(str(options.storage), typed)
    storage = options.storage or f"sqlite:///{(directory / 'study.db').resolve()}"
    study = Study(options, space, base_raw, base_config, objectives, directions, directory, storage)
    study.storage_typed = typed
    study.notes = notes
    study.fixed = fixed
    if singles:
        study.searched_then = _reachable(_without_fixed(listed, given), searched_in)
    study.fixed_notes = [
        f"{p.origin}: param '{p.key}' has one choice, {show(p.choices[0])}: every trial takes "
        f"it, as {p.key}={encode(p.choices[0])} on the command line would (give two or more "
        "choices to search it)"
        for p in singles.values()
    ]
    if options.sampler == "oneshot":  # the supernet run's config is checked before anything runs
        from ganhub_tune.oneshot import supernet_config

        study.supernet_config = supernet_config(study, hub)
    # the folders made now: a storage that does not open removes them (`storage.open_study`)
    study.made = next(
        (d for d in reversed([directory, *directory.parents]) if not d.exists()), None
    )
    _make_folder(directory, study.made, options)
    return study


def _make_folder(directory: Path, made: Path | None, options: TuneOptions) -> None:
    """The study folder, or one line naming it and out= (a read-only place, a file on the way);
    the folders made on the way to a folder that could not be made are removed."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return
        said = "it is not writable"
    except OSError as exc:
        said = exc.strerror or str(exc)
        for folder in [directory, *directory.parents]:
            if made is None or not folder.is_relative_to(made):
                break
            with contextlib.suppress(OSError):
                folder.rmdir()
    raise ConfigError(f"out={one_line(options.out_dir, 120)}: the study folder "
                      f"{one_line(directory, 160)} cannot be written ({said}); give out=DIR in "
                      "a folder you can write to")  # fmt: skip


def _without_fixed(params: list[Param], fixed: dict[str, Any]) -> list[Param]:
    """A fixed key (given on the command line, or a one-choice param's) is not searched nor
    tied; conditions on it are decided now."""
    kept = []
    for p in params:
        if p.key in fixed:
            continue
        when = {k: ok for k, ok in p.when.items() if k not in fixed}
        if any(fixed[k] not in ok for k, ok in p.when.items() if k in fixed):
            continue  # its condition is false for the fixed value: never sampled
        kept.append(replace(p, when=when, also=tuple(k for k in p.also if k not in fixed)))
    return kept


def _reachable(params: list[Param], searched_in: str | None = None) -> list[Param]:
    """Conditions written against another space's choices: a built-in param conditioned on
    `tricks` that a search file replaced keeps only the values that are still choices, and
    leaves the space when none is (it could never be sampled). Within one space, and for a
    search file's (`searched_in`) condition on a built-in param, a `when` value that is no
    choice is a mistake `check_choices` reports."""
    removed: set[str] = set()
    while True:
        by_key = {p.key: p for p in params}
        kept = []
        for p in params:
            when: dict[str, tuple[Any, ...]] = {}
            for key, allowed in p.when.items():
                other = by_key.get(key)
                if (
                    other is not None
                    and other.type == "categorical"
                    and p.origin not in (other.origin, searched_in)
                ):
                    valid = {encode(c) for c in other.choices}
                    allowed = tuple(v for v in allowed if encode(v) in valid)
                    if not allowed:
                        removed.add(p.key)
                        break
                elif other is None and key in removed:  # conditioned on a param that left
                    removed.add(p.key)
                    break
                when[key] = allowed
            else:
                kept.append(replace(p, when=when))
        if len(kept) == len(params):  # nothing left the space in this pass
            return kept
        params = kept


def refuse_torchrun() -> None:
    """A study is one process: under torchrun each process would start its own trial in one
    process group, their collectives would not match, and the study would be left with
    running and failed trials. Refused before anything is written."""
    from ganhub.processes import world_size

    if world_size() == 1:
        return
    world = os.environ.get("WORLD_SIZE", "")
    raise UsageError(
        f"ganhub tune runs in one process, and WORLD_SIZE={one_line(world, 20)} says it was "
        "started by torchrun (or another launcher): run ganhub tune without torchrun, or start "
        "several ganhub tune processes with the same study= and storage= (docs/tune.md, "
        "Storage, resume and several machines)"
    )


def _check_supernet_space(
    options: TuneOptions, params: list[Param], spanned: dict[str, Param], arch: dict[str, Any]
) -> None:
    """sampler=oneshot: the supernet spans the domain's whole `arch_space`, so a study must
    search those keys over those very values (space=arch), or the supernet's choice could
    be a value the study does not hold (a width of 512 when the study's choices end at 256)."""
    if options.space != "arch":
        keys = ", ".join(p.key for p in params if p.key in arch)
        raise ConfigError(
            f"sampler=oneshot needs space=arch, and this study has space={options.space}: "
            f"{options.plugin}'s supernet spans its whole arch_space, so its choice of {keys} "
            "may be a value this study does not hold; use space=arch, or another sampler"
        )
    for p in params:
        own = spanned.get(p.key)
        if own is None or _distribution(p) == _distribution(own):
            continue
        raise ConfigError(
            f"sampler=oneshot: {p.origin}: param '{p.key}' searches {_values(p)}, and "
            f"{options.plugin}'s supernet spans {_values(own)} (its arch_space); leave the key "
            "to space=arch, or use another sampler"
        )


def _distribution(p: Param) -> Any:
    """What a param can take, as the supernet sees it: the set of its values (a categorical's
    choices in any order, an int range's integers whatever its step or log say), or a float
    range's ends, scale and step."""
    if p.type == "categorical" or p.type == "int":
        return frozenset(json.dumps(v) for v in _settable(p))
    return (p.type, p.low, p.high, p.log, p.step)


def _settable(p: Param) -> list[Any]:
    if p.type == "categorical":
        return [encode(c) for c in p.choices]
    step = int(p.step or 1)  # an int range takes every step from low (log: step 1)
    return list(range(int(p.low or 0), int(p.high or 0) + 1, step))


def _values(p: Param) -> str:
    if p.type == "categorical":
        return "[" + ", ".join(map(show, p.choices)) + "]"
    return f"{show(p.low)}..{show(p.high)}" + (f" step {show(p.step)}" if p.step else "")


def _direction_count(
    directions: list[str], objectives: list[str], options: TuneOptions, hub: Hub
) -> str:
    """Directions that do not pair with the objectives, in one line naming where they came
    from: `direction=` on the command line, else the search file's `direction:`."""
    metrics = [entry.obj for entry in hub.metrics]
    example = [direction_of(o, metrics) or "minimize" for o in objectives]
    pair = f"{len(directions)} direction{'s' if len(directions) != 1 else ''}"
    pair += f" for {len(objectives)} objective{'s' if len(objectives) != 1 else ''}"
    if options.direction:
        said, like = f"direction={_listed(directions, ',')}", f"direction={_listed(example, ',')}"
    else:
        said = f"{options.search}: direction: {_listed(directions, ', ')}"
        like = f"direction: {_listed(example, ', ')}"
    return (
        f"{said} gives {pair} ({', '.join(objectives)}): give one per objective, in their "
        f"order, each minimize or maximize ({like})"
    )


def _listed(values: list[str], sep: str) -> str:
    return values[0] if len(values) == 1 else f"[{sep.join(values)}]"


def _against_metrics(objectives: list[str], directions: list[str], hub: Hub) -> list[str]:
    """A warning for each objective given the direction against the one its metric declares
    (objective=modes direction=minimize looks for the runs that cover the fewest modes)."""
    metrics = [entry.obj for entry in hub.metrics]
    notes = []
    for objective, way in zip(objectives, directions, strict=True):
        known = direction_of(objective, metrics)
        if known is not None and known != way:
            notes.append(f"direction={way} for objective {objective}, which is better when "
                         f"{'higher' if known == 'maximize' else 'lower'}: the study looks for "
                         f"the worst runs ({known} is its metric's own direction)")  # fmt: skip
    return notes


def _unknown_objective(name: str, hub: Hub, said: str | None = None) -> str:
    """objective=NAME whose direction is not known: a typo of a known one, a metric's name
    rather than a value it reports, or a metric of another package (then say which way).
    `said`: the search file's `FILE: objective:` when the file named it."""
    known = known_objectives([entry.obj for entry in hub.metrics])
    hint = did_you_mean(name, known)
    if name in hub.metrics:
        reports = [key for key, way in hub.metrics.get(name).better.items() if way]
        listed = f": {', '.join(repr(k) for k in reports[:8])}" if reports else ""
        hint = (
            f" ('{name}' is a metric's name: an objective is a value a metric reports, "
            f"as ganhub run prints them{listed})"
        )
    if said is not None:
        return (
            f"{one_line(said)} {one_line(name, 60)}: direction unknown{hint}; add "
            "'direction: maximize' or 'direction: minimize' to the file if the run reports it"
        )
    return (
        f"objective={one_line(name, 60)}: direction unknown{hint}; add direction=maximize or "
        "direction=minimize if the run reports it"
    )
