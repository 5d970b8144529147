"""The error for a name no plugin registered while some plugins failed to load: which of them
most likely provides the name, and what to do about it.

The registries only know the names that are there. When a plugin fails to load (its import
raises, a hook breaks), every trick, loss or metric it would have registered is simply unknown,
and "unknown trick 'spiral_warmup'" followed by every failed plugin leaves the user to guess.
Third-party names follow docs/plugins.md's naming rule (the plugin's name, or it and '_'), so
the failed plugin a name is named after, or named like, is said in full: its distribution and
version, why it did not load, and the fix `ganhub plugins` gives. Other failed plugins are only
counted. Every text here comes from installed metadata or a plugin's error: shown as one line,
cut to a length.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ganhub.errors import UnknownName, did_you_mean, one_line, unknown_choice
from ganhub.plugin_switch import DISABLE_ENV

CLOSE = 0.8  # difflib's ratio from which a name counts as named like a plugin (or a typo of one)
_STATES = {"unavailable": "is unavailable"}  # else: did not load


@dataclass(frozen=True)
class FailedPlugin:
    """What the hub recorded of a plugin that failed to load (`ganhub.plugins.PluginInfo`)."""

    name: str
    module: str = ""
    dist: str = ""
    version: str = ""
    status: str = "error"
    error: str = ""
    fix: str = ""

    @classmethod
    def of(cls, record: Any) -> FailedPlugin:
        """From a hub's record, or from a bare name (where no record is at hand)."""
        if isinstance(record, str):
            return cls(record)
        fields = ("module", "dist", "version", "status", "error", "fix")
        found = {f: getattr(record, f, "") for f in fields}
        return cls(str(getattr(record, "name", "?")), **{k: str(v) for k, v in found.items()})

    def stems(self) -> list[str]:
        """The names this plugin's entries are expected to start with: its entry-point name,
        its distribution's name and its module's (top-level), less a `ganhub-`/`ganhub_`
        prefix; never ganhub's own, which every built-in shares."""
        module = self.module.split(":")[0].strip().split(".")[0]
        found = []
        for raw in (self.name.split(".")[0], self.dist, module):
            stem = re.sub(r"[-.]", "_", raw.lower()).removeprefix("ganhub_")
            if stem.isidentifier() and stem != "ganhub" and stem not in found:
                found.append(stem)
        return found


def likely_provider(name: str, failed: Sequence[FailedPlugin]) -> tuple[FailedPlugin, str] | None:
    """The failed plugin most likely to register `name`, and how it is named for it ("named
    after": the naming rule; "named like": a prefix or a close spelling), or None."""
    word = name.lower()
    head = word.split("_")[0]
    best: tuple[float, FailedPlugin, str] | None = None
    for plugin in failed:
        for stem in plugin.stems():
            if word == stem or word.startswith(stem + "_"):
                score, how = 2.0 + len(stem) / 100, "named after"  # the naming rule: sure
            elif min(len(head), len(stem)) >= 3 and (
                head.startswith(stem) or stem.startswith(head)
            ):
                score, how = 1.5, "named like"  # boom2d of plugin boom, med_dice of medgan
            else:
                ratio = max(
                    difflib.SequenceMatcher(None, word, stem).ratio(),
                    difflib.SequenceMatcher(None, head, stem).ratio(),
                )
                if ratio < CLOSE:
                    continue
                score, how = ratio, "named like"
            if best is None or score > best[0]:
                best = (score, plugin, how)
    return (best[1], best[2]) if best else None


def unknown_name(
    singular: str, name: str, registered: Iterable[str], records: Sequence[Any]
) -> UnknownName:
    """The one-line error for `name`, which no plugin registered as a `singular`: a did-you-mean
    of registered names; the failed plugin that likely provides it, said in full; the other
    failed plugins counted (`ganhub plugins` lists them)."""
    failed = [FailedPlugin.of(r) for r in records]
    names = sorted(registered)
    found = likely_provider(name, failed)
    if found is None:
        error = str(unknown_choice(singular, name, names))
        return UnknownName(f"{error}{_counted(failed)}{not_installed(name)}")
    plugin, how = found
    shown = one_line(name, 100)
    # a registered name this close is a typo the user may have made; a loose one is noise
    close = difflib.get_close_matches(name, names, n=1, cutoff=CLOSE)
    meant = did_you_mean(name, close) if close else ""
    where = " ".join(one_line(p, 60) for p in (plugin.dist, plugin.version) if p and p != "?")
    where = f" {where}" if where.startswith("(") else f" ({where})" if where else ""  # in-process
    state = _STATES.get(plugin.status, "did not load")
    fix = one_line(plugin.fix, 200) or "see ganhub plugins"
    # a run does without a trick, loss, metric or logger, never without its domain; ganhub's
    # own modules are always loaded
    builtin = plugin.dist == "ganhub" and "." in plugin.name
    switch = "" if builtin else f" and set {DISABLE_ENV}={one_line(plugin.name, 60)}"
    without = "" if singular == "domain" else f", or leave '{shown}' out{switch}"
    others = [p.name for p in failed if p is not plugin]
    tail = f", and {len(others)} other" + ("s" if len(others) > 1 else "") if others else ""
    return UnknownName(
        f"unknown {singular} '{shown}'{meant}: it is {how} plugin '{one_line(plugin.name, 60)}'"
        f"{where}, which {state}: {one_line(plugin.error, 300) or '(no message)'}. Fix: {fix}"
        f"{without} (plugins that failed to load: "
        f"{one_line(plugin.name, 60)}{tail}; see ganhub plugins)"
    )


def not_installed(name: str) -> str:
    """'; ganhub-comet/pyproject.toml declares plugin 'comet', ...': the plugin project here
    (the current folder, or a `ganhub-*` folder in it) whose entry point `name` is named
    after, when no installed distribution has that entry point: it was never `pip install`ed,
    and ganhub finds plugins only through installed entry points. Else, when ganhub runs from
    another Python than the active virtualenv's, that (`other_environment`); else ''."""
    import importlib.metadata as md
    from pathlib import Path

    try:
        import tomllib
    except ImportError:  # Python 3.10: no hint
        return ""
    here = Path.cwd()
    for pyproject in [here / "pyproject.toml", *sorted(here.glob("ganhub-*/pyproject.toml"))[:20]]:
        try:
            with pyproject.open("rb") as file:
                declared = tomllib.load(file)["project"]["entry-points"]["ganhub"]
        except (OSError, ValueError, KeyError, TypeError):  # no such file, not TOML, no plugin
            continue
        for plugin in declared if isinstance(declared, dict) else ():
            if not (name == plugin or name.startswith(f"{plugin}_")):
                continue
            if md.entry_points(group="ganhub", name=plugin):
                return ""  # installed (it failed, or registers no such name): said above
            folder = pyproject.parent
            shown = "." if folder == here else one_line(folder.relative_to(here), 100)
            return (
                f"; {one_line(pyproject.relative_to(here), 100)} declares plugin "
                f"'{one_line(plugin, 60)}', which is not installed: {pip_install(shown)}"
            )
    elsewhere = other_environment()  # `pip install -e .` in a venv this ganhub never reads
    return f"; {elsewhere}" if elsewhere else ""


def other_environment() -> str | None:
    """Why plugins `pip install`ed into the active virtualenv are not found: ganhub runs from
    another Python (a venv made with --system-site-packages has no `ganhub` command of its
    own, so the shell runs the base one). None when ganhub runs in the active env or none is."""
    import os
    import sys

    active = os.environ.get("VIRTUAL_ENV")
    if not active or os.path.realpath(active) == os.path.realpath(sys.prefix):
        return None
    return (
        f"ganhub runs from {one_line(sys.prefix, 200)}, not from the active virtualenv "
        f"{one_line(active, 200)}: plugins installed there are not found; run `python -m "
        "ganhub ...` there (a virtualenv that inherits ganhub has no `ganhub` command)"
    )


def pip_install(target: str) -> str:
    """`pip install -e TARGET`, or `<python> -m pip install -e TARGET` naming the interpreter
    ganhub runs from when it is not the active virtualenv's (whose `pip` would install where
    this ganhub never looks: `other_environment`)."""
    import shlex
    import sys

    pip = f"{shlex.quote(sys.executable)} -m pip" if other_environment() else "pip"
    return f"{pip} install -e {target}"


# what marks a folder as a project pip can install (`pip install -e FOLDER`)
_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def editable_reinstall(entry: Mapping[str, Any]) -> str | None:
    """How to install again the plugin a run's requires.json `entry` came from, when the run
    recorded that its distribution was installed editable (`project`: the folder): `pip
    install -e` that folder while it holds a project, else where to look (a local plugin
    was never on an index, so `pip install dist==version` finds nothing, or someone else's).
    None for an entry without a project. The file is untrusted: a project that is no absolute
    path of printable characters is not shown."""
    import shlex
    from pathlib import Path

    project = entry.get("project")
    if not isinstance(project, str) or one_line(project, 500) != project:
        return None
    folder = Path(project)
    if not folder.is_absolute():
        return None
    dist, version = (entry.get(k) for k in ("dist", "version"))
    named = f"'{one_line(dist, 100)}'" if isinstance(dist, str) and dist else "its distribution"
    if isinstance(version, str) and version and version != "?":
        named += f" {one_line(version, 40)}"
    said = f"it came from {named}, installed editable from {project}"
    try:
        there = folder.is_dir() and any((folder / f).is_file() for f in _PROJECT_FILES)
    except OSError:
        there = False
    if there:
        return f"{said}: {pip_install(shlex.quote(project))}"
    return (
        f"{said}, which holds no project any more: install it again from its project's "
        "folder (pip install -e FOLDER)"
    )


def _counted(failed: Sequence[FailedPlugin]) -> str:
    """' (2 plugins failed to load; see ganhub plugins)': none of them is named like the name,
    so they are counted, not listed (one of them may still register it)."""
    if not failed:
        return ""
    many = "s" if len(failed) > 1 else ""
    return f" ({len(failed)} plugin{many} failed to load; see ganhub plugins)"


__all__ = [
    "FailedPlugin",
    "editable_reinstall",
    "likely_provider",
    "not_installed",
    "other_environment",
    "pip_install",
    "unknown_name",
]
