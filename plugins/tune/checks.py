"""Checks of a study's space before the first trial: its keys are config keys, every value a
trial could set (each categorical choice, each reachable end of a numeric range) is valid for
its key as `ganhub run key=value` would find it, and its objectives are computed by the runs."""

from __future__ import annotations

import math
from typing import Any

from ganhub_tune.defaults import TIMING_DIRECTIONS
from ganhub_tune.space import Param, close_key, encode

from ganhub.config.messages import error_wording
from ganhub.config.resolve import config_class, describe_keys
from ganhub.config.schema import RunConfig
from ganhub.errors import ConfigError, did_you_mean, one_line
from ganhub.metrics import reported_by
from ganhub.plugins import Hub

# config keys whose values name registered things: one name, or a list of names
REGISTRY_KEYS: dict[str, tuple[str, str]] = {
    "plugin": ("domains", "domain"),
    "loss": ("losses", "loss"),
    "tricks": ("tricks", "trick"),
    "eval.metrics": ("metrics", "metric"),
    "loggers": ("loggers", "logger"),
}


def check_reported(
    objectives: list[str], params: list[Param], config: RunConfig, hub: Hub, said: str | None = None
) -> None:
    """An objective only a metric the runs do not compute reports (eval.metrics=[] of a tiny
    preset, `kid` beside dcgan's default metrics, `fd_digits` of a text run) would stop the
    study after its first trial: refuse it before any trial. `said`: the search file's
    `FILE: objective:` when the file named the objectives (the line names it)."""
    if any(p.key == "eval.metrics" for p in params):
        return  # searched: known per run only
    wanted = [o for o in objectives if o not in TIMING_DIRECTIONS]
    reporters = {o: [e for e in hub.metrics if reported_by(o, [(e.name, e.obj)])] for o in wanted}
    if not any(reporters.values()):
        return  # timing, or values of undeclared metrics: known once a trial reports them
    import torch

    from ganhub.engine.prepare import prepare_system
    from ganhub.wiring import components

    # what the runs will be: the metrics that apply to them, the domain's default ones
    system, _ = prepare_system(config, components(config, hub), torch.device("cpu"))
    caps = system.capabilities()
    names = config.eval.metrics
    computed = f"eval.metrics={encode(names)}"
    if names is None:
        names = system.default_metrics()
        computed = f"the {config.plugin} defaults {encode(names)}"
    for objective in wanted:
        named = f"{said} {objective}" if said else f"objective={objective}"
        found = [e.name for e in reporters[objective]]
        applicable = [e.name for e in reporters[objective] if e.obj.supports(caps)]
        if found and not applicable:
            raise ConfigError(
                f"{named}: reported by the metric {' or '.join(found)}, which "
                f"does not apply to these {config.plugin} runs (see ganhub list metrics)"
            )
        if found and not set(applicable) & set(names):
            raise ConfigError(
                f"{named}: reported by the metric {' or '.join(applicable)}, and "
                f"the runs compute {computed}; add eval.metrics=[{applicable[0]}]"
            )


def check_keys(params: list[Param], config: RunConfig, hub: Hub) -> None:
    keys = {row[0] for row in describe_keys(config_class(type(config), hub))}
    sections = {k.rsplit(".", i)[0] for k in keys for i in range(1, k.count(".") + 1)}
    for p in params:
        for key in p.keys:
            if key not in keys and key not in sections:
                what = f"param '{key}'" if key == p.key else f"'{key}' (also of param '{p.key}')"
                raise ConfigError(f"{p.origin}: {what} is not a config key of {config.plugin}"
                                  f"{close_key(key, keys)}; see ganhub run "
                                  f"plugin={config.plugin} --help")  # fmt: skip


def check_choices(params: list[Param], config: RunConfig, hub: Hub) -> None:
    """Every value a trial could set is valid before the first trial runs: categorical choices
    that name a loss, trick, metric, logger or domain are registered ones, every other choice
    fits its key's type and bounds, each end of a numeric range a trial can reach (and a value
    between them) fits the bounds of each key it sets, and each `when` value is a choice of the
    param it names."""
    model = config_class(type(config), hub)
    by_key = {p.key: p for p in params}
    for p in params:
        where = f"{p.origin}: param '{p.key}'"
        for key, allowed in p.when.items():
            other = by_key.get(key)
            if other is None or other.type != "categorical":
                continue
            valid = [encode(c) for c in other.choices]
            for value in allowed:
                if encode(value) not in valid:
                    raise ConfigError(
                        f"{where}: when: {{{key}: {show(value)}}} never holds: "
                        f"{show(value)} is not a choice of '{key}' "
                        f"({', '.join(map(show, other.choices))})"
                    )
        for key in p.keys:  # a value must suit every key it sets
            if p.type == "categorical":
                _check_choice_types(p, key, model, hub)
            else:
                _check_range(p, key, model)


def _check_range(p: Param, key: str, model: type) -> None:
    """The least and the greatest value a numeric param can take (its `high` less what a
    `step` cannot reach), and for a float one that is no integer, are valid for `key`, as
    `ganhub run key=value` validates them (the schema's bounds: an lr > 0, grad_accum >= 1),
    each refusal in the words `ganhub run` uses (`must be above 0`)."""
    from pydantic import TypeAdapter, ValidationError

    annotation, field = _annotation(model, key), _field(model, key)
    if annotation is None or p.low is None or p.high is None:
        return
    adapter = TypeAdapter(annotation)
    where = f"{p.origin}: param '{p.key}'" + (f" (for '{key}')" if key != p.key else "")
    low, high = (int(p.low), int(p.high)) if p.type == "int" else (float(p.low), float(p.high))
    top = high
    if p.step and not p.log:  # Optuna samples low, low + step, ... up to high
        top = low + math.floor((high - low) / p.step + 1e-9) * p.step
        top = int(top) if p.type == "int" else top
    ends = [("low", low), ("high" if top == high else "the highest value it reaches", top)]
    for label, value in ends:
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            shown = (
                f"{label}={show(value)}" if label in ("low", "high") else f"{label} {show(value)}"
            )
            wording = error_wording(exc.errors()[0], field)
            raise ConfigError(f"{where}: {shown} is not valid: {wording}") from None
    inner = low + p.step if p.step else math.nextafter(low, high)
    if p.type == "float" and low < inner <= high:  # a value between the ends: an int key's type
        try:
            adapter.validate_python(inner)
        except ValidationError as exc:
            error = exc.errors()[0]
            hint = "; use type: int" if str(error["type"]).startswith("int") else ""
            raise ConfigError(f"{where}: a float range sets values such as {show(inner)}, "
                              f"which is not valid: {error_wording(error, field)}{hint}"
                              ) from None  # fmt: skip


def _check_choice_types(p: Param, key: str, model: type, hub: Hub) -> None:
    """Each choice of a categorical names registered things and fits the type of `key`."""
    from pydantic import TypeAdapter, ValidationError

    where = f"{p.origin}: param '{p.key}'" + (f" (for '{key}')" if key != p.key else "")
    annotation = _annotation(model, key)
    adapter = TypeAdapter(annotation) if annotation is not None else None
    for choice in p.choices:
        if key in REGISTRY_KEYS:
            kind, singular = REGISTRY_KEYS[key]
            registry = getattr(hub, kind)
            names = [choice] if isinstance(choice, str) else choice
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                continue  # the type check below says what is wrong with it
            for name in names:
                if name not in registry:
                    listing = ", ".join(sorted(registry.names()))
                    raise ConfigError(
                        f"{where}: choice {show(choice)} names {singular} "
                        f"'{one_line(name, 60)}', which is not registered"
                        f"{did_you_mean(name, registry.names())}; registered: {listing}"
                    )
        if adapter is None:
            continue
        try:
            adapter.validate_python(choice)
        except ValidationError as exc:
            error = exc.errors()[0]
            at = ".".join(map(str, error["loc"]))
            wording = error_wording(error, _field(model, key))
            first = f"{wording}{f' (item {at})' if at else ''}"
            if error["type"] == "literal_error" and isinstance(choice, str):  # 'bacth'
                first += did_you_mean(choice, _literals(annotation))
            raise ConfigError(f"{where}: choice {show(choice)} is not valid: {first}") from None


def _literals(annotation: Any) -> list[str]:
    """The choices of a `Literal` type, or of the `Literal` in a union or `Annotated` type."""
    import typing

    if typing.get_origin(annotation) is typing.Literal:
        return [str(choice) for choice in typing.get_args(annotation)]
    return [c for arg in typing.get_args(annotation) for c in _literals(arg)]


def _annotation(model: type, key: str) -> Any:
    """The type (with its bounds) of a dotted config key, None when it is not one field."""
    from typing import Annotated

    info = _field(model, key)
    return None if info is None else Annotated[info.annotation, info]


def _field(model: type, key: str) -> Any:
    """The pydantic FieldInfo of a dotted config key (its type and bounds), None when it is
    not one field."""
    from pydantic import BaseModel

    node: Any = model
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = node.model_fields if isinstance(node, type) and issubclass(node, BaseModel) else {}
        info = fields.get(part)
        if info is None:
            return None
        if i == len(parts) - 1:
            return info
        node = _model_in(info.annotation)
    return None


def _model_in(annotation: Any) -> Any:
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def show(value: Any) -> str:
    return one_line(encode(value) if not isinstance(value, str) else f"'{value}'", 80)


def counted(n: int, noun: str) -> str:
    """`1 trial`, `2 trials`: a count and its noun, plural unless one."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
