"""Which tricks and loggers a merged config enables, and the option sections it keeps.

Options the user gave for a trick or logger that is not enabled are refused in one line (they
would be silently ignored), with a suggestion that is itself accepted; options a preset, a
default or a saved config gave for one are dropped, so a saved config opens wherever its
enabled tricks and loggers are installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganhub.config.overrides import dotted_items, one_line
from ganhub.config.schema import RunConfig
from ganhub.errors import ConfigError, did_you_mean, without_credentials
from ganhub.plugins import Hub


def enabled_tricks(
    merged: dict[str, Any], base: type[RunConfig], user: Mapping[str, Any], hub: Hub
) -> tuple[str, ...]:
    """The tricks a merged config enables; drops option sections of the others from `merged`.

    Options the user gave for a trick that is not enabled are refused (they would be silently
    ignored); options a preset or a default gave for it are dropped, so the saved config holds
    the enabled tricks' options only and opens wherever those tricks are installed.
    """
    names = merged.get("tricks", base.model_fields["tricks"].get_default(call_default_factory=True))
    if not isinstance(names, list | tuple | set | frozenset) or not all(
        isinstance(n, str) for n in names
    ):
        return ()  # not a list of names: pydantic reports it with the key
    for name in names:
        if name not in hub.tricks:
            raise hub.tricks.unknown(one_line(name))
    given = user.get("trick")
    if isinstance(given, Mapping):
        for name, options in given.items():
            keys = (
                ", ".join(f"trick.{one_line(name, 60)}.{one_line(k, 60)}" for k in options)
                if isinstance(options, Mapping)
                else f"trick.{one_line(name, 60)}"
            )
            if not isinstance(name, str) or name not in hub.tricks:  # "valid keys: none"
                raise ConfigError(f"{keys} set, but that is an {hub.tricks.unknown(str(name))}")
            if name not in names:
                # a suggestion that is itself refused helps nobody: leave out what it excludes
                clash = [n for n in names if _exclusive(hub, n, name)]
                listed = ",".join([*(n for n in names if n not in clash), name])
                instead = f" (instead of {','.join(clash)})" if clash else ""
                raise ConfigError(
                    f"{keys} set, but trick '{name}' is not enabled (tricks=[{','.join(names)}]); "
                    f"enable it with tricks=[{listed}]{instead} or drop the option"
                )
    options = merged.get("trick")
    if isinstance(options, dict):
        merged["trick"] = {k: v for k, v in options.items() if k in names or k not in hub.tricks}
    return tuple(names)


def _exclusive(hub: Hub, a: str, b: str) -> bool:
    """Whether tricks `a` and `b` exclude each other (either one may declare it)."""
    return b in hub.tricks.get(a).excludes or a in hub.tricks.get(b).excludes


def enabled_loggers(
    merged: dict[str, Any],
    base: type[RunConfig],
    user: Mapping[str, Any],
    hub: Hub,
    *,
    training: bool = True,
) -> tuple[str, ...]:
    """The registered loggers a merged config enables; drops the others' option sections.

    As for tricks: options the user gave for a logger that is not enabled are refused, options
    a saved config gave for it are dropped. Reopening a finished run (`training=False`) does not
    check logger names, so the options of a logger not installed here are dropped too.
    """
    default = base.model_fields["loggers"].get_default(call_default_factory=True)
    names = merged.get("loggers", default)
    if not isinstance(names, list | tuple | set | frozenset) or not all(
        isinstance(n, str) for n in names
    ):
        return ()  # not a list of names: pydantic reports it with the key
    registered = set(hub.loggers.names())
    if training:
        for name in names:
            if name not in registered:
                raise hub.loggers.unknown(one_line(name))
    given = user.get("logger")
    given = given if isinstance(given, Mapping) else {}
    given_names = set(given)
    for name in sorted(given_names & registered - set(names)):
        keys = (
            ", ".join(f"logger.{name}.{k}" for k in given[name])
            if isinstance(given[name], Mapping)
            else f"logger.{name}"
        )
        raise ConfigError(
            f"{keys} set, but logger '{name}' is not enabled (loggers=[{','.join(names)}]); "
            f"enable it with loggers=[{','.join([*names, name])}] or drop the option"
        )
    for name in sorted(n for n in given_names - registered if isinstance(n, str)):
        # no logger has that name: the section check would list only the enabled loggers'
        # options ("valid keys under 'logger': none"), never the logger meant
        with_options = [n for n in sorted(registered) if hub.loggers.get(n).Config.model_fields]
        raise ConfigError(
            f"logger.{one_line(name, 60)}: no logger is named '{one_line(name, 60)}'"
            f"{did_you_mean(name, registered)}; loggers with options: "
            f"{', '.join(with_options) or 'none'}"
        )
    for name in sorted(given_names & registered & set(names)):
        if not hub.loggers.get(name).Config.model_fields:
            raise ConfigError(f"logger.{name}: logger '{name}' takes no options; drop the key")
    options = merged.get("logger")
    if isinstance(options, dict):
        # an unregistered name the user typed stays, so validation names it with a did-you-mean
        merged["logger"] = {
            k: v
            for k, v in options.items()
            if (k in registered and k in names) or (k in given_names and k not in registered)
        }
    return tuple(n for n in names if n in registered)


def refuse_saved_destinations(
    saved: Mapping[str, Any], user: Mapping[str, Any], loggers: Mapping[str, Any], origin: str
) -> None:
    """A run's saved config is untrusted (run directories travel): a logger option it holds
    that sends the run's data elsewhere (`Logger.destination_keys`: an MLflow tracking URI)
    is used only when the user gives it again; else one line says how."""
    saved_items, given = dict(dotted_items(saved)), dict(dotted_items(user))
    for name, logger_cls in loggers.items():
        for key in getattr(logger_cls, "destination_keys", ()):
            value = saved_items.get(f"logger.{name}.{key}")
            if value is None or given.get(f"logger.{name}.{key}") is not None:
                continue
            shown = one_line(without_credentials(str(value)), 200)  # config.yaml of old
            raise ConfigError(
                f"{origin} sends this run's data to logger.{name}.{key}={shown}; a run's "
                f"saved config is not trusted for where its data goes: give "
                f"logger.{name}.{key}={shown} again to keep it, or choose loggers=[...] "
                f"without {name}"
            )


__all__ = ["enabled_loggers", "enabled_tricks", "refuse_saved_destinations"]
