"""The user's switch for installed plugins: ``GANHUB_DISABLE_PLUGINS=name1,name2`` leaves the
named plugins unloaded, so a plugin whose lifecycle hook breaks every run can be switched off
without uninstalling it. `ganhub plugins` shows such a plugin as disabled."""

from __future__ import annotations

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

    `domain_owners` gives each registered domain's plugin (it runs the discovery hooks, so it
    is called only for a name no plugin has): a domain's name, when its plugin's entry point
    is named otherwise (`wsip` for the domain `wisp`), gets the plugin name that switches it
    off."""
    from ganhub.console import warn
    from ganhub.errors import did_you_mean, one_line

    owners: Mapping[str, str] | None = None
    for name in sorted(names):
        info = plugins.get(name)
        if info is not None and info.status == "disabled":
            continue
        if info is None:
            # the plugins one can switch off: not ganhub's own modules (ganhub.losses...)
            choices = [n for n, i in plugins.items() if i.dist != "ganhub" or "." not in n]
            if owners is None:
                owners = domain_owners() if domain_owners is not None else {}
            owner = owners.get(name)
            if owner is not None and owner != name and owner in choices:
                why = (
                    f"no installed plugin is named '{name}', so it is ignored; plugin "
                    f"'{owner}' registers the domain '{name}'; {DISABLE_ENV}={owner} turns it off"
                )
                warn(f"ganhub: warning: {DISABLE_ENV}: {why}")
                continue
            close = did_you_mean(name, choices)
            why = f"no installed plugin is named '{one_line(name, 60)}'{close}"
        else:
            why = f"'{name}' is part of ganhub itself and is always loaded"
        warn(  # every torchrun process reads the variable: rank 0 says it
            f"ganhub: warning: {DISABLE_ENV}: {why}; ignored (ganhub plugins lists the plugins)"
        )


__all__ = ["DISABLE_ENV", "disabled_plugins", "switch_off", "warn_unknown"]
