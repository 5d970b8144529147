"""Which plugins a run directory needs (its requires.json), and the one line that says what to
install when one is missing. The file is written by the run and read as untrusted input."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ganhub.errors import PluginError, one_line
from ganhub.plugin_switch import DISABLE_ENV

REQUIRES_FILE = "requires.json"  # which plugins and distributions a run directory needs

CONDITIONER_KEYS = ("generator", "discriminator")  # condition.* keys that name a conditioner
_DIST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def require_installed(
    run_dir: Path,
    saved: Mapping[str, Any],
    hub: Any,
    used: Mapping[str, Collection[str] | None] | None = None,
) -> None:
    """Raise a one-line error naming the first plugin part a saved run needs and lacks (`hub`:
    a `ganhub.plugins.Hub`, untyped here so that the engine can import this module): its
    domain, loss, tricks and conditioners (config.yaml), and the loggers it wrote to and metrics it
    evaluated (requires.json) that the command will use: `used` maps "loggers" and "metrics"
    to those names (None: every one the run listed; a registry not in `used`: none, as for
    sampling, which needs neither).

    The pip line comes from the run's requires.json, which is untrusted: names are shown only
    when they look like distribution names and versions.
    """
    wanted = [("domain", "domains", saved.get("plugin")), ("loss", "losses", saved.get("loss"))]
    wanted += [("trick", "tricks", name) for name in _listed(saved.get("tricks"))]
    # the conditioning mechanisms config.yaml names (a plugin's: the model is built from it)
    condition = saved.get("condition")
    if isinstance(condition, Mapping):
        wanted += [("conditioner", "conditioners", condition.get(k)) for k in CONDITIONER_KEYS]
    # the loggers and metrics a run used, as its requires.json lists them (metrics: absent
    # before runs kept them; an exported folder's lists neither)
    requires = _read(run_dir / REQUIRES_FILE)
    for kind, registry in (("logger", "loggers"), ("metric", "metrics")):
        if used is None or registry not in used:
            continue
        names, entries = used[registry], _listed(requires.get(registry))
        wanted += [
            (kind, registry, e.get("name"))
            for e in entries
            if isinstance(e, dict) and (names is None or e.get("name") in names)
        ]
    for kind, registry, name in wanted:
        if not isinstance(name, str) or name in hub.registry(registry):
            continue
        if kind == "domain" and name in hub.plugins:
            hub.require_domain(name)  # a plugin that failed to load: its own fix line
        what = f"run '{one_line(run_dir, 200)}' uses {kind} '{one_line(name, 80)}'"
        entry = _entry(requires, registry, name)
        plugin = entry.get("plugin")
        info = hub.plugins.get(plugin) if isinstance(plugin, str) else None
        if getattr(info, "status", "") == "disabled":  # installed, and the user's choice
            raise PluginError(
                f"{what} of plugin '{plugin}', which {DISABLE_ENV} switches off; remove it from "
                f"{DISABLE_ENV} to open this run"
            )
        raise PluginError(f"{what}, which no installed plugin provides; {_install_hint(entry)}")


def _listed(value: object) -> list[Any]:
    """`value` when it is a list (an untrusted file's), else []."""
    return value if isinstance(value, list) else []


def _read(path: Path) -> dict[str, Any]:
    """requires.json as a dict ({} when it is missing, too large or no JSON object)."""
    import json

    from ganhub.errors import UsageError
    from ganhub.runfiles import read_regular

    try:  # at most 1 MiB: the file names a few distributions
        data = json.loads(read_regular(path, 1 << 20, "requires.json"))
    except (UsageError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _entry(requires: Mapping[str, Any], registry: str, name: str) -> dict[str, Any]:
    """The entry of requires.json (`requires`) for the part `name` of `registry`, or {}."""
    key = {"domains": "domain", "losses": "loss"}.get(registry, registry)  # one part: no list
    items = requires.get(key)
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    return {}


def _install_hint(entry: Mapping[str, Any]) -> str:
    """'it came from the distribution D: pip install D==V' from a requires.json entry ('pip
    install -e FOLDER' for one installed editable from FOLDER), or where to look instead."""
    from ganhub.failed_providers import editable_reinstall

    dist, version = entry.get("dist"), entry.get("version")
    local = editable_reinstall(entry)  # a plugin installed from a folder: never on an index
    if local:
        return local
    if isinstance(dist, str) and _DIST_NAME.match(dist):
        pin = f"=={version}" if isinstance(version, str) and _DIST_NAME.match(version) else ""
        return f"it came from the distribution '{dist}': pip install '{dist}{pin}'"
    return "install the plugin that provides it (`ganhub plugins` lists what is installed)"
