"""From overrides to a validated config: resolve the plugin first, then validate with its class.

Order of precedence (later wins): the domain's defaults, the defaults that depend on the
user's choices (`Domain.defaults_for`), its preset, YAML files, `key=value`.
With `resume=RUN_DIR`, the run's saved `config.yaml` replaces the defaults and the preset.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from ganhub.config.overrides import deep_merge, expand_shorthands, load_yaml, merge_sources
from ganhub.config.schema import RunConfig, TrickOptions
from ganhub.errors import ConfigError, did_you_mean, unknown_choice
from ganhub.plugins import Hub, get_hub


def resolve(
    overrides: Iterable[str] | Mapping[str, Any] = (),
    files: Iterable[str | Path] = (),
    hub: Hub | None = None,
    *,
    check_domain: bool = True,
) -> RunConfig:
    """Merge files and overrides, resolve the plugin and validate into its config class.

    `check_domain=False` skips the domain's own checks (e.g. that the training data folder
    exists), for reloading a finished run whose data has moved.
    """
    hub = hub or get_hub()
    if isinstance(overrides, Mapping):
        raw = deep_merge(merge_sources((), files), overrides)
    else:
        raw = merge_sources(list(overrides), files)
    return validate(raw, hub, check_domain=check_domain)


def validate(raw: dict[str, Any], hub: Hub, *, check_domain: bool = True) -> RunConfig:
    """Validate a merged dict: plugin, preset, pydantic fields, then cross-registry checks."""
    if raw.get("resume"):
        saved = Path(str(raw["resume"])) / "config.yaml"
        if not saved.is_file():
            raise ConfigError(
                f"resume={raw['resume']}: no run directory there ({saved} is missing)"
            )
        base = load_yaml(saved)
        base.pop("resume", None)
        raw = deep_merge(base, raw)
    plugin = raw.get("plugin")
    if not plugin:
        names = ", ".join(hub.domains.names()) or "none installed"
        raise ConfigError(f"no plugin given: add plugin=NAME (available: {names})")
    domain = hub.require_domain(str(plugin))
    cls = config_class(domain.config_class, hub)
    # Layers, later wins: the domain's section defaults (toy2d's trainer: 2000 steps, batch 256),
    # its preset, then the user's keys. Validating `trainer: {steps: 3}` alone would silently
    # fall back to the generic TrainerConfig defaults for every other trainer key.
    # Between the two sit the defaults that depend on the user's choices (per-task step counts).
    chosen = []
    preset = raw.get("preset")
    if preset is not None and not raw.get("resume"):
        if preset not in domain.presets:
            raise unknown_choice(f"{plugin} preset", str(preset), domain.presets)
        chosen.append(expand_shorthands(domain.presets[preset], cls))
    chosen.append(expand_shorthands(raw, cls))
    dependent = domain.defaults_for(functools.reduce(deep_merge, chosen))
    layers = [section_defaults(cls), expand_shorthands(dependent, cls), *chosen]
    raw = functools.reduce(deep_merge, layers)
    try:
        config = cls.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, cls)) from None
    check_cross(config, hub, check_domain=check_domain)
    return config


def section_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """The default value of every section (model-typed field) of a config class, as dicts."""
    out: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel):
            out[name] = value.model_dump()
    return out


def config_class(base: type[RunConfig], hub: Hub) -> type[RunConfig]:
    """The domain's config class with a `trick` section holding every registered trick's options."""
    tricks = tuple((e.name, e.obj.Config) for e in hub.tricks)
    return _with_tricks(base, tricks)


@lru_cache(maxsize=64)
def _with_tricks(base: type[RunConfig], tricks: tuple[tuple[str, type], ...]) -> type[RunConfig]:
    fields: dict[str, Any] = {name: (cfg, cfg()) for name, cfg in tricks}
    options = create_model("TrickOptions", __base__=TrickOptions, **fields)
    return create_model(base.__name__, __base__=base, trick=(options, options()))


def check_cross(config: RunConfig, hub: Hub, *, check_domain: bool = True) -> None:
    """Checks that need the registries: loss, tricks and their combinations, loggers, metrics."""
    if config.loss not in hub.losses:
        raise ConfigError(str(unknown_choice("loss", config.loss, hub.losses.names())))
    problems: list[str] = []
    domain = hub.domains.get(config.plugin)
    for name in config.tricks:
        if name not in hub.tricks:
            raise ConfigError(str(unknown_choice("trick", name, hub.tricks.names())))
        trick_cls = hub.tricks.get(name)
        problems += trick_cls.problems(getattr(config.trick, name), config, domain)
    for name in config.loggers:
        if name not in hub.loggers:
            raise ConfigError(str(unknown_choice("logger", name, hub.loggers.names())))
    for name in config.eval.metrics or []:
        if name not in hub.metrics:
            raise ConfigError(str(unknown_choice("metric", name, hub.metrics.names())))
    if check_domain:
        problems += domain.check(config)
    if problems:
        raise ConfigError("; ".join(problems))


# -- error messages -------------------------------------------------------------------------


def format_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line per problem: the full dotted key, the bad value, what would be valid."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = sorted(getattr(parent, "model_fields", {})) if parent else []
            where = f" under '{'.'.join(loc[:-1])}'" if len(loc) > 1 else ""
            prefix = ".".join(loc[:-1]) + "." if len(loc) > 1 else ""
            hint = did_you_mean(key, [prefix + v for v in valid])
            lines.append(f"unknown key '{key}'{hint}; valid keys{where}: " + ", ".join(valid))
            continue
        msg = err["msg"].removeprefix("Value error, ")
        shown = "" if err["type"] == "missing" else f"={_short(err.get('input'))}"
        lines.append(f"{key or '(config)'}{shown}: {msg}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) < 60 else text[:57] + "..."


def _model_at(model: type[BaseModel] | None, path: list[str]) -> type[BaseModel] | None:
    for part in path:
        if model is None:
            return None
        field = model.model_fields.get(part)
        model = _as_model(field.annotation) if field else None
    return model


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _as_model(arg)
        if found:
            return found
    return None


# -- help ------------------------------------------------------------------------------------


def describe_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every leaf key of a config class."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _as_model(field.annotation)
        if sub is not None:
            rows.extend(describe_keys(sub, key + "."))
            continue
        default = (
            "(required)"
            if field.is_required()
            else _default_text(field.get_default(call_default_factory=True))
        )
        rows.append((key, _type_text(field.annotation), default, field.description or ""))
    return rows


def _default_text(value: Any) -> str:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return (
            " or ".join(_type_text(a) for a in typing.get_args(annotation) if a is not type(None))
            + "?"
        )
    if origin in (list, tuple):
        inner = ",".join(_type_text(a) for a in typing.get_args(annotation) if a is not Ellipsis)
        return f"[{inner}]"
    return getattr(annotation, "__name__", str(annotation))
