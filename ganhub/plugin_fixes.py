"""What to tell a user about a plugin that fails to load: the `pip install` line that adds a
missing dependency, where to fix a plugin installed editable, a typo in an entry point, an
entry point declared in a group ganhub does not read."""

from __future__ import annotations

import importlib.metadata as md
import re

from ganhub.errors import one_line


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def in_another_group(name: str) -> str | None:
    """An installed entry point called `name` in a group ganhub does not read ('ganhub.plugins'
    for 'ganhub'): the likely reason a plugin's domain is unknown."""
    for distribution in md.distributions():
        for entry in distribution.entry_points:
            if entry.name != name or entry.group == "ganhub" or "ganhub" not in entry.group:
                continue
            dist = one_line(distribution.metadata["Name"] or "a distribution", 100)
            return (
                f"unknown domain '{name}': {dist} declares it in the entry-point group "
                f"'{one_line(entry.group, 100)}'; move it to [project.entry-points.ganhub] in "
                "its pyproject.toml (the group ganhub reads) and reinstall it"
            )
    return None


def own_module_missing(exc: ImportError, target: str) -> bool:
    """Whether the module an entry point names is itself what is missing (a typo in the
    entry point, not a dependency to install)."""
    module = target.split(":")[0].strip()
    missing = getattr(exc, "name", None) or ""
    return bool(missing) and (module == missing or module.startswith(missing + "."))


def own_submodule_missing(exc: ImportError, target: str) -> bool:
    """Whether what is missing is a module of the plugin's own package (`from .losss import`:
    a typo in its code, not a dependency that `pip install` could add)."""
    package = target.split(":")[0].strip().split(".")[0]
    missing = getattr(exc, "name", None) or ""
    return bool(package) and missing.startswith(package + ".")


def modules_of(dist: str) -> str:
    """' (it has: a, b)': the top-level modules a distribution installs, when known."""
    try:
        names = (md.distribution(dist).read_text("top_level.txt") or "").split()
    except (md.PackageNotFoundError, OSError):
        names = []
    return f" (it has: {', '.join(sorted(names)[:5])})" if names else ""


def report_fix(dist: str) -> str:
    """What to do about a plugin that breaks: report it to its authors, or fix it where it is
    when its distribution is installed editable (most likely the user's own plugin)."""
    import json

    try:
        origin = json.loads(md.distribution(dist).read_text("direct_url.json") or "{}")
    except (md.PackageNotFoundError, ValueError, OSError):
        origin = {}
    origin = origin if isinstance(origin, dict) else {}
    url, how = origin.get("url"), origin.get("dir_info")
    if isinstance(how, dict) and how.get("editable") is True and str(url).startswith("file://"):
        from urllib.parse import unquote

        return f"fix it in {unquote(str(url)[7:])} (installed editable from there)"
    return f"report it to the authors of '{dist}'"


def fix_for_missing(exc: ImportError, dist: str) -> str:
    """The pip line that installs what `exc` says is missing, via the dist's extra if it has one."""
    missing = (getattr(exc, "name", None) or "").split(".")[0]
    if not missing:
        return f"pip install --upgrade '{dist}'"
    aliases = {"sklearn": "scikit-learn", "skimage": "scikit-image", "yaml": "pyyaml"}
    wanted = normalise(aliases.get(missing, missing))
    try:
        requires = md.requires(dist) or []
    except md.PackageNotFoundError:
        requires = []
    for req in requires:
        req_name = normalise(re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0])
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", req)
        if req_name == wanted and extra and extra.group(1) != "all":
            return f"pip install '{dist}[{extra.group(1)}]'"
    return f"pip install {aliases.get(missing, missing)}"
