"""From overrides to a validated config: resolve the plugin first, then validate with its class.

Order of precedence (later wins): the domain's defaults, the defaults that depend on the
user's choices (`Domain.defaults_for`), its preset, YAML files, `key=value`; an optimizer option
that only layers below the user's optimizer choice set, and it ignores, is reset (`optim_layers`).
With `resume=RUN_DIR`, the run's saved `config.yaml` replaces the defaults and the preset
(derived defaults the new keys change are derived again: `ganhub.config.rederive`).
The `trick` and `logger` sections hold the options of the enabled tricks and loggers only, so
a saved config names nothing the run did not use.
"""

from __future__ import annotations

import contextlib
import functools
import re
import typing
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from ganhub.config.enabled import enabled_loggers, enabled_tricks, refuse_saved_destinations
from ganhub.config.given import KnowsGiven, given_context, keys_given
from ganhub.config.messages import (
    as_model,
    blame,
    format_validation_error,
    key_of_message,
    type_text,
)
from ganhub.config.optim_layers import merge_layers
from ganhub.config.overrides import (
    deep_merge,
    dotted_items,
    dotted_keys,
    expand_named,
    expand_shorthands,
    forget_key,
    merge_sources,
    not_text,
    one_line,
    source_of,
)
from ganhub.config.rederive import no_longer_derived, rederived, section_defaults
from ganhub.config.saved import kept_parts, read_given, read_saved, refuse_fixed_changes
from ganhub.config.schema import LoggerOptions, RunConfig, TrickOptions, expand_path_text
from ganhub.config.sources import merge_given, nest_dotted, trace_key
from ganhub.errors import ConfigError, PluginError, UnknownName, did_you_mean, unknown_choice
from ganhub.plugin_checks import restriction_mistake
from ganhub.plugin_guard import hub_fault, hub_hint, listed_text
from ganhub.plugins import Hub, get_hub
from ganhub.provenance import require_installed

if typing.TYPE_CHECKING:
    from ganhub.tricks import Trick


def resolve(
    overrides: Iterable[str] | Mapping[str, Any] = (),
    files: Iterable[str | Path] = (),
    hub: Hub | None = None,
    *,
    training: bool = True,
    saved: Mapping[str, Any] | None = None,
    origin: str = "the saved config",
    added: Iterable[str] = (),
    saved_given: Iterable[str] | None = None,
) -> RunConfig:
    """Merge files and overrides, resolve the plugin and validate into its config class.

    `saved` is a run's own config.yaml (as a dict; `origin` names it in errors): it is
    complete, so it replaces the domain's defaults and preset, and the overrides change it.
    `added` lists the keys of `saved` a command set, not its file (an error about one of
    them does not name `origin`). `saved_given`: every key the user gave `saved` (its run's
    record, with the keys a command set: `ganhub adapt`), which the config then knows with
    the overrides' as complete; None: unknown (only the overrides' count as given).
    `training=False` reopens a finished run: the domain's own checks (its data folder
    exists...) and the names of loggers and metrics it may not need any more are not checked.
    """
    hub = hub or get_hub()
    sources: dict[str, str] = {}  # which file gave a key, for its errors
    if isinstance(overrides, Mapping):  # `{"trainer.steps": 5}` is {"trainer": {"steps": 5}}
        given = nest_dotted(overrides, "the config dict")
        raw = merge_given(merge_sources((), files, sources), given)
        for key, value in dotted_items(given):
            trace_key(sources, raw, key, value, None)
    else:
        raw = merge_sources(list(overrides), files, sources)
    return validate(
        raw, hub, training=training, saved=saved, origin=origin, sources=sources, added=added,
        saved_given=saved_given,
    )  # fmt: skip


def validate(
    raw: dict[str, Any],
    hub: Hub,
    *,
    training: bool = True,
    saved: Mapping[str, Any] | None = None,
    origin: str = "the saved config",
    sources: Mapping[str, str] | None = None,
    added: Iterable[str] = (),
    saved_given: Iterable[str] | None = None,
) -> RunConfig:
    """Validate a merged dict (`_validate`, which says how). An exception a plugin's code
    raises on the way (a config validator's KeyError, defaults_for's, a trick's problems()'s)
    is one line naming the part, its method and its plugin, as build()'s is; a validator's
    ValueError or AssertionError stays pydantic's refusal of a value, naming the key."""
    try:
        return _validate(raw, hub, training, saved, origin, sources, added, saved_given)
    except Exception as exc:
        hub_fault(exc, hub, raw.get("plugin") or (saved or {}).get("plugin"))
        raise


def _validate(
    raw: dict[str, Any],
    hub: Hub,
    training: bool,
    saved: Mapping[str, Any] | None,
    origin: str,
    sources: Mapping[str, str] | None,
    added: Iterable[str],
    saved_given: Iterable[str] | None = None,
) -> RunConfig:
    """Validate a merged dict: plugin, layers of defaults, pydantic fields, cross-registry checks.

    Layers, later wins: the domain's section defaults (toy2d's trainer: 2000 steps, batch 256),
    the defaults that depend on the user's choices (`Domain.defaults_for`), the preset, then
    the user's keys. Validating `trainer: {steps: 3}` alone would silently fall back to the
    generic TrainerConfig defaults for every other trainer key. A saved run's config (resume,
    `ganhub.load`) replaces the first three layers. `sources` names the file that gave a key
    of `raw` (`merge_sources`); an error about a key of the saved config names `origin`, unless
    `added` lists it (a command's default, not the file's). The config keeps the keys the user
    gave (`ganhub.config.given`): a resume adds those its run recorded (`read_given`), a
    new run made from `saved` those of `saved_given`.
    """
    # the keys a resumed run's user gave as it started (None: no record)
    recorded = None if saved_given is None else frozenset(saved_given)
    if raw.get("resume"):
        saved = read_saved(raw["resume"])
        run_dir = Path(expand_path_text(str(raw["resume"])))
        origin = str(run_dir / "config.yaml")
        recorded = read_given(run_dir)
        # a missing plugin: the pip line that adds it (loggers and metrics the resume keeps)
        require_installed(run_dir, saved, hub, used=kept_parts(raw, saved))
    if saved is not None and raw.get("plugin") not in (None, saved.get("plugin")):
        raise ConfigError(
            f"plugin={one_line(raw['plugin'], 60)}: {origin} is a "
            f"'{one_line(saved.get('plugin'), 60)}' run, and a run's plugin cannot change"
        )
    plugin = raw.get("plugin") or (saved or {}).get("plugin")
    if not plugin:
        names = ", ".join(hub.domains.names()) or "none installed"
        raise ConfigError(f"no plugin given: add plugin=NAME (available: {names})")
    # one_line: a name with a newline or control character names nothing, and the error that
    # says so must stay on one line (unknown_choice shows the name as it is given)
    domain = hub.require_domain(one_line(plugin))
    sources = dict(sources or {})
    refuse_renamed(raw, domain.renamed_keys, sources=sources)
    if saved is not None:
        refuse_renamed(saved, domain.renamed_keys, where=origin)
        shown = origin if origin == "the saved config" else f"config file '{one_line(origin, 200)}'"
        saved_sources = dict.fromkeys(dotted_keys(saved), shown)
        for key in [*dotted_keys(raw), *added]:  # given again: the user's, not the file's
            forget_key(saved_sources, key)
        sources = saved_sources | sources
    base = domain.config_class
    user = expand_named(raw, base, sources)  # a single value beside keys: refused, with its file
    if raw.get("resume") and saved is not None:
        refuse_fixed_changes(domain, saved, user, origin)
    if saved is not None:
        kept = no_longer_derived(domain, base, saved, user)
        layers = [kept, rederived(domain, base, saved, user), user]
    else:
        chosen = []
        preset = raw.get("preset")
        if preset is not None:
            if not isinstance(preset, str) or preset not in domain.presets:
                error = unknown_choice(f"{plugin} preset", one_line(preset, 100), domain.presets)
                where = sources.get("preset")
                raise UnknownName(f"{where}: {error}") if where else error
            chosen.append(expand_shorthands(domain.presets[preset], base))
        chosen.append(user)
        dependent = domain.defaults_for(functools.reduce(deep_merge, chosen))
        layers = [section_defaults(base), expand_shorthands(dependent, base), *chosen]
    merged = merge_layers(layers, base, reset=saved is None)  # see ganhub.config.optim_layers
    with naming_source(sources):
        enabled = enabled_tricks(merged, base, user, hub)
        loggers = enabled_loggers(merged, base, user, hub, training=training)
    if saved is not None and training:
        refuse_saved_destinations(saved, user, {n: hub.loggers.get(n) for n in loggers}, origin)
    cls = config_class(base, hub, enabled, loggers)
    # every key the user gave: a new run's, or a resumed one's recorded and typed again
    keys = [*(recorded or ()), *keys_given(user)]
    context = given_context(keys, complete=saved is None or recorded is not None)
    try:
        with naming_source(sources):  # a validator's ConfigError about a key a file gave
            config = cls.model_validate(merged, context=context)
    except ValidationError as exc:
        message = format_validation_error(exc, cls, sources)
        if saved is None:  # a key only the domain's defaults_for set is its plugin's mistake
            given = {key for layer in chosen for key, _ in dotted_items(layer)}
            derived = {key for key, _ in dotted_items(dependent)} - given
            blamed = next(
                (k for k in derived if re.match(rf"(unknown keys? )?'?{re.escape(k)}\b", message)),
                None,
            )
            if blamed is not None:
                message = (
                    f"domain '{plugin}' derived {message}: a bug of its plugin's defaults_for(), "
                    "not of your keys (see ganhub plugins for who provides it)"
                )
        raise ConfigError(message) from None
    with naming_source(sources):
        check_cross(config, hub, training=training)
        _refuse_unsaved_paths(config)
    return config


def _refuse_unsaved_paths(config: RunConfig) -> None:
    """Refuse a path that a run's config.yaml, which holds it absolute, could not hold as
    UTF-8 text (`data.path=.` in a folder whose name is not UTF-8): the run would not resume."""
    from ganhub.config.schema import with_absolute_paths  # beside the others: a long line

    typed = dict(dotted_items(config.model_dump(mode="json")))
    for key, value in dotted_items(with_absolute_paths(config, config.model_dump(mode="json"))):
        for full in value if isinstance(value, list) else [value]:
            if isinstance(full, str) and (problem := not_text(full)):
                given = one_line(typed.get(key), 100)
                raise ConfigError(f"{key}={given}: '{one_line(full, 160)}' in full {problem}")


@contextlib.contextmanager
def naming_source(sources: Mapping[str, str]) -> Iterator[None]:
    """Start a ConfigError about a key a file gave with that file, as a field's error does."""
    try:
        yield
    except ConfigError as exc:
        message = str(exc)
        key = key_of_message(message)
        where = source_of(key, sources) if key and sources else None
        if not sources or (where is not None and message.startswith(where)):
            raise
        where, said = blame(message, where, sources)
        if where is None and said == message:
            raise
        named = type(exc)(f"{where}: {said}" if where else said)
        named.__cause__, named.__suppress_context__ = exc.__cause__, True
        raise named from exc.__cause__


def refuse_renamed(
    raw: Mapping[str, Any],
    renamed: Mapping[str, str],
    *,
    where: str | None = None,
    sources: Mapping[str, str] | None = None,
) -> None:
    """Raise a one-line error for the first key of an earlier release (`Domain.renamed_keys`);
    `where` names a saved config that holds it, `sources` the file that gave each key."""
    if not renamed:
        return
    for key, value in dotted_items(raw):
        new = renamed.get(key)
        if new is None:
            section = next(
                (p for p in renamed if p.endswith(".*") and key.startswith(p[:-1])), None
            )
            if section is None:
                continue
            new = renamed[section].removesuffix("*") + key.removeprefix(section[:-1])
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        line = (
            f"{key}={shown}: {new}"
            if " " in new
            else f"{key} was renamed {new}; write {new}={shown}"
        )
        if where is not None:
            line = f"{where} was written by an earlier ganhub: {line} (edit the file)"
        elif sources and source_of(key, sources):
            line = f"{source_of(key, sources)}: {line}"
        raise ConfigError(line)


def config_class(
    base: type[RunConfig],
    hub: Hub,
    tricks: Iterable[str] | None = None,
    loggers: Iterable[str] | None = None,
) -> type[RunConfig]:
    """The domain's config class with a `trick` section for the given tricks' options and a
    `logger` section for the given loggers' options (None: every registered one, as `--help`
    lists them)."""
    names = hub.tricks.names() if tricks is None else list(tricks)
    logger_names = hub.loggers.names() if loggers is None else list(loggers)
    logger_options = ((n, hub.loggers.get(n).Config) for n in logger_names)
    return _with_options(
        base,
        tuple((n, hub.tricks.get(n).Config) for n in names),
        # a logger without options gets no section: every run's config.yaml stays free of {}s
        tuple((n, cfg) for n, cfg in logger_options if cfg.model_fields),
    )


@lru_cache(maxsize=64)
def _with_options(
    base: type[RunConfig],
    tricks: tuple[tuple[str, type], ...],
    loggers: tuple[tuple[str, type], ...] = (),
) -> type[RunConfig]:
    fields: dict[str, Any] = {name: (cfg, cfg()) for name, cfg in tricks}
    options = create_model("TrickOptions", __base__=TrickOptions, **fields)
    per_logger: dict[str, Any] = {name: (cfg, cfg()) for name, cfg in loggers}
    logger = create_model("LoggerOptions", __base__=LoggerOptions, **per_logger)
    # the whole config keeps the keys the user gave too (`given_of(config)`), which a run
    # records beside its config.yaml (`ganhub.config.saved`)
    bases = typing.cast("tuple[type[RunConfig], ...]", (base, KnowsGiven))
    return create_model(
        base.__name__,
        __base__=bases,
        trick=(options, options()),
        logger=(logger, logger()),
    )


def _targets_unused(trick_cls: type[Trick], loss: str, hub: Hub) -> list[str]:
    """A trick that moves D's label targets (label smoothing) next to a loss that has none
    (`AdversarialLoss.uses_targets`): it would change nothing, so it is refused."""
    from ganhub.tricks import Trick

    if trick_cls.targets is Trick.targets:
        return []
    if hub.losses.get(loss).uses_targets:
        return []
    with_targets = sorted(e.name for e in hub.losses if e.obj.uses_targets)
    return [
        f"trick '{trick_cls.name}' does not suit loss '{loss}': it moves D's label targets, "
        f"which this loss does not use (losses that do: {', '.join(with_targets)})"
    ]


def _tasks_missing(trick_cls: type[Trick], config: RunConfig, hub: Hub) -> list[str]:
    """A trick that relates auxiliary tasks (`Trick.relates_tasks`) in a run where no trick adds
    one would do nothing, so it is refused with the tricks that would give it a task."""
    if not trick_cls.relates_tasks:
        return []
    if any(n in hub.tricks and hub.tricks.get(n).auxiliary_task for n in config.tricks):
        return []
    tasks = sorted(e.name for e in hub.tricks if e.obj.auxiliary_task)
    return [
        f"trick '{trick_cls.name}' relates auxiliary tasks to the adversarial one, and no trick "
        f"of this run adds a task (tricks that do: {', '.join(tasks)})"
    ]


def check_cross(config: RunConfig, hub: Hub, *, training: bool = True) -> None:
    """Checks that need the registries: loss, tricks and their combinations, loggers, metrics."""
    if config.loss not in hub.losses:
        raise hub.losses.unknown(one_line(config.loss))
    problems: list[str] = []
    domain = hub.domains.get(config.plugin)
    for name in config.tricks:
        if name not in hub.tricks:
            raise hub.tricks.unknown(one_line(name))
        trick_cls = hub.tricks.get(name)
        mistake = restriction_mistake(trick_cls, config.loss, config.tricks, hub)
        if mistake:  # not "does not suit loss 'wasserstein' (it suits: wassersten)"
            raise PluginError(f"trick '{name}': {mistake} ({hub_hint(hub, 'trick', name)})")
        found = trick_cls.problems(getattr(config.trick, name), config, domain)
        problems += _listed(found, hub, "trick", name, "problems()")
        problems += _targets_unused(trick_cls, config.loss, hub)
        problems += _tasks_missing(trick_cls, config, hub)
    request = domain.conditioning(config)
    if request is not None:
        from ganhub.conditioning import ConditionRequest, check_request, packs_classes

        if not isinstance(request, ConditionRequest):
            raise PluginError(
                f"domain '{config.plugin}': its conditioning() returned "
                f"{type(request).__name__}, not a ganhub.conditioning.ConditionRequest or None "
                f"({hub_hint(hub, 'domain', config.plugin)})"
            )
        registered = {e.name: e.obj for e in hub.conditioners}
        problems += check_request(request, registered, f"plugin={config.plugin}")
        # a packed D input would mix classes (PacGAN): refused by declaration, nothing built
        packing = [n for n in config.tricks if hub.tricks.get(n).packs_inputs]
        problems += packs_classes(packing, config.plugin)
    if training:
        for name in config.loggers:
            if name not in hub.loggers:
                raise hub.loggers.unknown(one_line(name))
            logger_cls = hub.loggers.get(name)
            options = getattr(config.logger, name, None) or logger_cls.Config()
            found = logger_cls.problems(options, config)  # a missing package, say
            problems += _listed(found, hub, "logger", name, "problems()")
        from ganhub.metrics import reported_by

        for name in config.eval.metrics or []:
            if name not in hub.metrics:
                reporter = reported_by(name, [(e.name, e.obj) for e in hub.metrics])
                if reporter:  # fd_digits, class_acc: a key a metric reports, not a metric
                    raise UnknownName(
                        f"eval.metrics: '{one_line(name, 60)}' is a value the metric "
                        f"'{reporter}' reports, not a metric; use eval.metrics=[{reporter}]"
                    )
                raise hub.metrics.unknown(one_line(name))
        keep = config.trainer.keep_best  # which of the run's metrics report it: at its start
        if keep is not None and not reported_by(keep, [(e.name, e.obj) for e in hub.metrics]):
            scores = sorted({key for e in hub.metrics for key in e.obj.scores()})
            raise ConfigError(
                f"trainer.keep_best={one_line(keep, 60)}: no metric reports that score"
                f"{did_you_mean(keep, scores)}; ganhub list metrics names them"
            )
        problems += _listed(domain.check(config), hub, "domain", config.plugin, "check()")
    if problems:
        raise ConfigError("; ".join(problems))


def _listed(found: Any, hub: Hub, kind: str, name: str, method: str) -> list[str]:
    """A part's reasons (`problems()`, `check()`), or one line saying it returned no list."""
    return listed_text(found, f"{kind} '{name}': its {method}", hub_hint(hub, kind, name))


# -- help ------------------------------------------------------------------------------------


def describe_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every leaf key of a config class."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = as_model(field.annotation)
        if sub is not None:
            rows.extend(describe_keys(sub, key + "."))
            continue
        default = (
            "(required)"
            if field.is_required()
            else default_text(field.get_default(call_default_factory=True))
        )
        rows.append((key, type_text(field.annotation), default, field.description or ""))
    return rows


def default_text(value: Any) -> str:
    """A value as `--help` shows it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


__all__ = [
    "check_cross", "config_class", "default_text", "describe_keys", "format_validation_error",
    "naming_source", "read_saved", "refuse_fixed_changes", "refuse_renamed",
    "refuse_saved_destinations", "resolve", "validate",
]  # fmt: skip
