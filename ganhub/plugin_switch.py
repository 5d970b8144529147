"""The user's switch for installed plugins: ``GANHUB_DISABLE_PLUGINS=name1,name2`` leaves the
named plugins unloaded, so a plugin whose lifecycle hook breaks every run can be switched off
without uninstalling it. `ganhub plugins` shows such a plugin as disabled."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

DISABLE_ENV = "GANHUB_DISABLE_PLUGINS"


def disabled_plugins() -> set[str]:
    """The plugin names GANHUB_DISABLE_PLUGINS lists (separated by commas or spaces)."""
    return {name for name in re.split(r"[,\s]+", os.environ.get(DISABLE_ENV, "")) if name}


def switch_off(info: Any) -> bool:
    """Whether GANHUB_DISABLE_PLUGINS names the plugin of `info` (a `ganhub.plugins.PluginInfo`,
    then marked disabled: `ganhub plugins` lists it, and nothing of it is imported)."""
    if info.name not in disabled_plugins():
        return False
    info.status = "disabled"
    info.error = f"{DISABLE_ENV} names it, so none of it is loaded"
    info.fix = f"remove '{info.name}' from {DISABLE_ENV} to load it"
    return True


def warn_unknown(
    names: Iterable[str],
    plugins: Mapping[str, Any],
    domain_owners: Callable[[], Mapping[str, str]] | None = None,
) -> None:
    """One warning line on stderr for each name GANHUB_DISABLE_PLUGINS lists that switched no
    plugin off: no plugin has it, or it is one of ganhub's own modules (never switched off).

    `domain_owners` gives each registered domain's plugin (it runs the discovery hooks, which
    fill each plugin's `registered` names, so it is called only for a name no plugin has): the
    name of a domain, loss, trick... (`wisp`, `ema`) gets what it is, the plugin that registers
    it and the plugin name that switches it off, when there is one (`wsip` for the domain
    `wisp`; ganhub's own modules are always loaded). A name close to a plugin the variable
    switches off already (`wisp` next to `wsip`) is told that plugin is off, not offered it."""
    from ganhub.console import warn
    from ganhub.errors import did_you_mean, one_line

    owners: dict[str, list[tuple[str, str]]] | None = None
    for name in sorted(names):
        info = plugins.get(name)
        if info is not None and info.status == "disabled":
            continue
        if info is None:
            # the plugins one can switch off: not ganhub's own modules (ganhub.losses...)
            choices = [n for n, i in plugins.items() if _switchable(n, i)]
            if owners is None:
                owners = _owners(plugins, domain_owners)
            if name in owners:
                warn(
                    f"ganhub: warning: {DISABLE_ENV}: {_registered_by(name, owners[name], choices)}"
                )
                continue
            close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
            if close and plugins[close[0]].status == "disabled":
                warn(
                    f"ganhub: warning: {DISABLE_ENV}: no installed plugin is named "
                    f"'{one_line(name, 60)}', so it is ignored; plugin '{close[0]}', which "
                    f"{DISABLE_ENV} also names, is switched off with all it registers"
                )
                continue
            why = f"no installed plugin is named '{one_line(name, 60)}'{did_you_mean(name, close)}"
        else:
            why = f"'{name}' is part of ganhub itself and is always loaded"
        warn(  # every torchrun process reads the variable: rank 0 says it
            f"ganhub: warning: {DISABLE_ENV}: {why}; ignored (ganhub plugins lists the plugins)"
        )


_SINGULAR = {
    "domains": "domain",
    "losses": "loss",
    "tricks": "trick",
    "metrics": "metric",
    "loggers": "logger",
    "conditioners": "conditioner",
}


def _switchable(name: str, info: Any) -> bool:
    """Whether GANHUB_DISABLE_PLUGINS can switch the plugin off: not one of ganhub's own
    modules (`ganhub.losses.adversarial`), which are always loaded."""
    return bool(info.dist != "ganhub" or "." not in name)


def _owners(
    plugins: Mapping[str, Any], domain_owners: Callable[[], Mapping[str, str]] | None
) -> dict[str, list[tuple[str, str]]]:
    """Each registered name -> its (kind, plugin) pairs: the domains `domain_owners` gives
    (calling it runs the discovery hooks), then what every loaded plugin registered."""
    owners: dict[str, list[tuple[str, str]]] = {}
    for domain, plugin in (domain_owners() if domain_owners is not None else {}).items():
        owners.setdefault(domain, []).append(("domain", plugin))
    for plugin, info in plugins.items():
        if info.status != "ok":
            continue
        for kind, singular in _SINGULAR.items():
            for registered in info.registered.get(kind, ()):
                pair = (singular, plugin)
                if pair not in owners.setdefault(registered, []):
                    owners[registered].append(pair)
    return owners


def _registered_by(name: str, owners: list[tuple[str, str]], choices: list[str]) -> str:
    """What `name` is (a domain, loss, trick... of which plugin) and the plugin names that
    switch it off, in one line."""
    said = ", ".join(
        f"plugin '{plugin}' registers the {kind} '{name}'"
        if plugin in choices
        else f"'{name}' is a {kind} of ganhub itself ({plugin}), which is always loaded"
        for kind, plugin in owners
    )
    off = list(dict.fromkeys(plugin for _, plugin in owners if plugin in choices))
    them = "it" if len(off) == 1 else "them"
    setting = f"; {DISABLE_ENV}={','.join(off)} turns {them} off" if off else ""
    return f"no installed plugin is named '{name}', so it is ignored; {said}{setting}"


__all__ = ["DISABLE_ENV", "disabled_plugins", "switch_off", "warn_unknown"]
