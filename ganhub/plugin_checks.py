"""What a plugin registers is checked when it loads, so a wrong part never fails deep in a
run: the kind of object (an instance or a class of the right base), its own name, and the
options its config classes hold."""

from __future__ import annotations

from typing import Any


def wrong_kind(kind: str, obj: Any) -> str | None:
    """Why `obj` cannot be registered as `kind` (None when it can): losses, metrics, domains
    and conditioners are instances of their base class; tricks and loggers are subclasses
    (built per run). Checked at registration, so a wrong kind never fails deep in training."""
    from ganhub.conditioning import Conditioner
    from ganhub.domain import Domain
    from ganhub.loggers import Logger
    from ganhub.losses import AdversarialLoss
    from ganhub.metrics import Metric
    from ganhub.tricks import Trick

    instances: dict[str, type] = {"domains": Domain, "losses": AdversarialLoss, "metrics": Metric,
                 "conditioners": Conditioner}  # fmt: skip
    classes: dict[str, type] = {"tricks": Trick, "loggers": Logger}
    if kind in instances and not isinstance(obj, instances[kind]):
        base = instances[kind]
        if isinstance(obj, type) and issubclass(obj, base):
            return f"as the class {obj.__name__}; register an instance: {obj.__name__}()"
        return f"as {type(obj).__name__}; it must be a {base.__module__}.{base.__name__} instance"
    if kind in classes and not (isinstance(obj, type) and issubclass(obj, classes[kind])):
        base = classes[kind]
        if isinstance(obj, base):
            return f"as an instance; register the class itself: {type(obj).__name__}"
        return (
            f"as {type(obj).__name__}; it must be a subclass of {base.__module__}.{base.__name__}"
        )
    return _config_problem(kind, obj)


def misnamed(kind: str, name: str, obj: Any) -> str | None:
    """A trick whose own `name` is not the name it is registered under: a run keys each
    trick's checkpoint state and options by it, so an alias would collide with the original."""
    own = getattr(obj, "name", name)
    if kind == "tricks" and own != name:
        return f"whose name attribute is {own!r}; set name = {name!r} on the class"
    return None


def _config_problem(kind: str, obj: Any) -> str | None:
    """Why a trick's or logger's `Config`, or a domain's `config_class`, cannot hold a run's
    options (None when it can). A default that fails its own rules would train, then refuse
    the run's resume with an error about a key the user never typed."""
    import warnings

    from pydantic import ValidationError

    from ganhub.config.schema import RunConfig, Section

    if kind == "domains":
        config = obj.config_class
        if not (isinstance(config, type) and issubclass(config, RunConfig)):
            return f"whose config_class {config!r} is not a ganhub.config.schema.RunConfig subclass"
        return _domain_defaults_problem(config, getattr(obj, "presets", {}))
    if kind not in ("tricks", "loggers"):
        return None
    if kind == "tricks" and getattr(obj, "modalities", None) is not None:
        from ganhub.capabilities import MODALITIES

        unknown = sorted(str(m) for m in obj.modalities if m not in MODALITIES)
        if unknown:  # a typo would refuse the trick on every run, blaming the data
            return f"whose modalities name '{unknown[0]}', not one of {', '.join(MODALITIES)}"
    config = obj.Config
    if not (isinstance(config, type) and issubclass(config, Section)):
        return f"whose Config {config!r} is not a ganhub.config.schema.Section subclass"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic warns when it serialises a wrong type
            config.model_validate(config().model_dump(mode="json"))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            return f"whose Config option '{key}' has no default (every option needs one)"
        return f"whose Config default {key}={error.get('input')!r} is not valid: {error['msg']}"
    except Exception as exc:  # a default factory that raises, a required field...
        return f"whose Config cannot be made with its defaults ({type(exc).__name__}: {exc})"
    return None


def hook_problem(plugin: object) -> str | None:
    """Why a plugin's hooks would silently never run (None when they would): an @hookimpl
    named after no ganhub hook (`after_steps`), an argument its hook does not have
    (`metricz`), or a function named like a hook without @hookimpl (pluggy ignores it)."""
    from ganhub import hookspecs
    from ganhub.errors import did_you_mean

    specs = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "ganhub_spec")]
    for attr in dir(plugin):
        obj = getattr(plugin, attr, None)
        options = getattr(obj, "ganhub_impl", None)
        if isinstance(options, dict):
            name = options.get("specname") or attr
            if name not in specs:
                return f"its @hookimpl '{name}' is no ganhub hook{did_you_mean(name, specs)}"
            valid = _required_arguments(getattr(hookspecs, name))
            unknown = [a for a in _required_arguments(obj) if a not in valid]
            if unknown:  # pluggy's own error names neither the hook's arguments nor the docs
                listed = ", ".join(repr(a) for a in unknown)
                return (
                    f"its @hookimpl '{name}': Argument(s) {{{listed}}} are declared in the "
                    f"hookimpl but can not be found in the hookspec; {name} takes any of: "
                    f"{', '.join(valid)}{did_you_mean(unknown[0], valid)} (see docs/hooks.md)"
                )
        elif attr in specs and callable(obj) and not hasattr(obj, "ganhub_spec"):
            return (
                f"its function '{attr}' is named like a ganhub hook but lacks @hookimpl "
                "(from ganhub.hookspecs import hookimpl)"
            )
    return None


def _required_arguments(func: Any) -> list[str]:
    """The arguments pluggy passes by name: positional ones without a default (`self` of a
    bound method excluded), as pluggy's own check counts them."""
    import inspect

    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in positional and p.default is p.empty]


def _domain_defaults_problem(config: Any, presets: Any) -> str | None:
    """A section default that fails its own rules (every run would be refused over a key the
    user never typed), or a preset key the config does not have."""
    import warnings

    from pydantic import BaseModel, ValidationError

    for name, field in config.model_fields.items():
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        if not isinstance(default, BaseModel):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydantic warns when it serialises a wrong type
                type(default).model_validate(default.model_dump(mode="json"))
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join([name, *(str(part) for part in error["loc"])])
            return f"whose config default {key}={error.get('input')!r} is not valid: {error['msg']}"
    for preset, values in (presets or {}).items():
        unknown = _unknown_key(config, values) if isinstance(values, dict) else None
        if unknown:
            return f"whose preset '{preset}' sets {unknown}, which its config does not have"
    return None


def _unknown_key(model: Any, values: dict[str, Any], prefix: str = "") -> str | None:
    from pydantic import BaseModel

    for key, value in values.items():
        if prefix == "" and key in ("trick", "logger", "plugin", "preset"):
            continue  # the options of tricks and loggers are added per run
        field = model.model_fields.get(key)
        if field is None:
            return f"{prefix}{key}"
        sub = field.annotation
        if isinstance(value, dict) and isinstance(sub, type) and issubclass(sub, BaseModel):
            found = _unknown_key(sub, value, f"{prefix}{key}.")
            if found:
                return found
    return None
