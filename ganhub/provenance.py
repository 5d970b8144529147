"""Which plugins a run directory needs (its requires.json), and the one line that says what to
install when one is missing. The file is written by the run and read as untrusted input."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganhub.errors import PluginError, one_line

REQUIRES_FILE = "requires.json"  # which plugins and distributions a run directory needs

_DIST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def require_installed(run_dir: Path, saved: Mapping[str, Any], hub: Any) -> None:
    """Raise a one-line error naming the first plugin part a saved run needs and lacks (`hub`:
    a `ganhub.plugins.Hub`, untyped here so that the engine can import this module).

    The pip line comes from the run's requires.json, which is untrusted: names are shown only
    when they look like distribution names and versions.
    """
    wanted = [("domain", "domains", saved.get("plugin")), ("loss", "losses", saved.get("loss"))]
    tricks = saved.get("tricks")
    wanted += [("trick", "tricks", t) for t in tricks] if isinstance(tricks, list) else []
    for kind, registry, name in wanted:
        if not isinstance(name, str) or name in hub.registry(registry):
            continue
        if kind == "domain" and name in hub.plugins:
            hub.require_domain(name)  # a plugin that failed to load: its own fix line
        where = install_hint(run_dir / REQUIRES_FILE, registry, name)
        raise PluginError(
            f"run '{one_line(run_dir, 200)}' uses {kind} '{one_line(name, 80)}', which no "
            f"installed plugin provides; {where}"
        )


def install_hint(path: Path, registry: str, name: str) -> str:
    """'install it: pip install DIST==VERSION' from requires.json, or where to look instead."""
    import json

    fallback = "install the plugin that provides it (`ganhub plugins` lists what is installed)"
    from ganhub.errors import UsageError
    from ganhub.runfiles import read_regular

    try:  # at most 1 MiB: the file names a few distributions
        data = json.loads(read_regular(path, 1 << 20, "requires.json"))
    except (UsageError, ValueError):
        return fallback
    key = {"domains": "domain", "losses": "loss", "tricks": "tricks"}[registry]
    items = data.get(key) if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict) and item.get("name") == name:
            dist, version = item.get("dist"), item.get("version")
            if isinstance(dist, str) and _DIST_NAME.match(dist):
                pin = (
                    f"=={version}" if isinstance(version, str) and _DIST_NAME.match(version) else ""
                )
                return f"it came from the distribution '{dist}': pip install '{dist}{pin}'"
    return fallback
