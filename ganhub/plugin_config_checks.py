"""What a plugin's config classes must hold, checked when it registers them: every option has
a default that passes its own rules (a domain's `config_class`, a trick's or logger's `Config`),
and its presets set only keys its config has (`ganhub.plugin_checks.wrong_kind` asks)."""

from __future__ import annotations

from typing import Any


def config_problem(kind: str, obj: Any) -> str | None:
    """Why a trick's or logger's `Config`, or a domain's `config_class`, cannot hold a run's
    options (None when it can). A default that fails its own rules would train, then refuse
    the run's resume with an error about a key the user never typed."""
    import warnings

    from ganhub.config.schema import RunConfig, Section

    if kind == "domains":
        config = obj.config_class
        if callable(config) and not isinstance(config, type):  # `def config_class(self)`
            return (
                "whose config_class is a method, which ganhub reads as an attribute: mark it "
                "@property, or set config_class = YourConfig on the class"
            )
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
    except Exception as exc:  # an option without a default or with a bad one, a factory...
        return _unmade(config, exc, "Config")
    return None


def _option_problem(word: str, error: Any, prefix: str = "", model: Any = None) -> str:
    """'whose config option 'model.depth' has no default ...' for a pydantic error of it (of
    `model`, the class it validated: a section without a default is told how to declare one)."""
    key = prefix + ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        section = _section_class(model, [str(part) for part in error["loc"]])
        if section is not None:
            name, cls = key.rsplit(".", 1)[-1], section.__name__
            return (
                f"whose {word} section '{key}' has no default (every option needs one): declare "
                f"it as {name}: {cls} = Field(default_factory={cls})"
            )
        return f"whose {word} option '{key}' has no default (every option needs one)"
    from ganhub.config.messages import error_wording

    return f"whose {word} default {key}={error.get('input')!r} is not valid: {error_wording(error)}"


def _section_class(model: Any, loc: list[str]) -> type | None:
    """The config section class (a pydantic model) the field of `model` at `loc` holds, None
    when it holds a value (or `loc` names no field)."""
    from pydantic import BaseModel

    for part in loc:
        is_model = isinstance(model, type) and issubclass(model, BaseModel)
        field = model.model_fields.get(part) if is_model else None
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unmade(config: Any, exc: Exception, word: str) -> str:
    """Why `config` cannot be made with its defaults (`exc`, raised making it): the option of
    the section whose default factory failed, named with its full key (`model.depth`)."""
    from pydantic import ValidationError

    found = _failing_section(config)
    if found is not None:
        return _option_problem(word, *found)
    if isinstance(exc, ValidationError):
        return _option_problem(word, exc.errors()[0], model=config)
    return f"whose {word} cannot be made with its defaults ({type(exc).__name__}: {exc})"


def _failing_section(model: Any, prefix: str = "") -> tuple[Any, str, Any] | None:
    """(pydantic error, 'model.', its class) of the innermost section of `model` whose default
    factory raises a ValidationError (an option of it without a default), None when none does."""
    from pydantic import BaseModel, ValidationError

    for name, field in model.model_fields.items():
        if field.default_factory is None:
            continue
        try:
            field.default_factory()
        except ValidationError as exc:
            sub = field.annotation
            deeper = None
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                deeper = _failing_section(sub, f"{prefix}{name}.")
            return deeper or (exc.errors()[0], f"{prefix}{name}.", sub)
        except Exception:  # not a section's option (or a factory that takes the data): the
            continue  # caller's message says what
    return None


def _domain_defaults_problem(config: Any, presets: Any) -> str | None:
    """A default that fails its own rules, of a top-level option or a section's (every run
    would be refused over a key the user never typed, or trained and then refused to open
    again), an option without a default, or a preset key the config does not have."""
    import warnings

    from pydantic import ValidationError

    # `plugin` is the one option without a default: the run's plugin= (or its saved config's)
    given = {"plugin": "plugin"} if config.model_fields["plugin"].is_required() else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic warns when it serialises a wrong type
            data = config.model_construct(**given).model_dump(mode="json")
    except Exception as exc:  # a default factory that raises, a section's option without one
        return _unmade(config, exc, "config")
    try:
        config.model_validate(data)
        errors = []
    except ValidationError as exc:  # an error of no option is a validator of the whole config
        errors = [e for e in exc.errors() if e["loc"]]
    except Exception:  # a validator of the whole config reading what a run adds (its tricks'
        errors = []  # options, defaults_for's keys): each run checks it
    if errors:
        return _option_problem("config", errors[0], model=config)
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


__all__ = ["config_problem"]
