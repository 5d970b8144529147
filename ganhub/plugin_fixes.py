"""What to tell a user about a plugin that fails to load: the `pip install` line that adds a
missing dependency, where to fix a plugin installed editable, a typo in an entry point, an
entry point declared in a group ganhub does not read."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import re
import sysconfig
import traceback
from typing import Any

from ganhub.errors import PluginError, one_line
from ganhub.failed_providers import other_environment as other_environment  # commands'
from ganhub.failed_providers import pip_install
from ganhub.plugin_guard import where_in_plugin as where_in_plugin  # plugins.py's


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


def misplaced_entry_points() -> list[str]:
    """One line per installed entry point in a group named like ganhub's that ganhub does not
    read (`[project.entry-points."ganhub.plugins"]`): such a plugin is never loaded, so
    `ganhub plugins` names it with the fix instead of leaving it out without a word."""
    found = []
    for distribution in md.distributions():
        for entry in distribution.entry_points:
            if entry.group == "ganhub" or "ganhub" not in entry.group.lower():
                continue
            if entry.group.startswith("console_scripts") or entry.group == "gui_scripts":
                continue
            dist = one_line(distribution.metadata["Name"] or "a distribution", 100)
            found.append(
                f"{one_line(entry.name, 60)}  {dist}  [not loaded]: its entry point is in the "
                f"group '{one_line(entry.group, 100)}', which ganhub does not read; move it to "
                "[project.entry-points.ganhub] in its pyproject.toml and reinstall it"
            )
    return sorted(set(found))


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
    when its distribution is installed editable (most likely the user's own plugin); a plugin
    added in-process (`Hub.add`, dist "(in-process)") has no distribution: the code adding it."""
    if dist.startswith("("):
        return "correct the code that adds it in this process (Hub.add or Hub.discover(extra=...))"
    try:
        project = editable_project(md.distribution(dist))
    except md.PackageNotFoundError:
        project = None
    if project is not None:
        return f"fix it in {project} (installed editable from there)"
    return f"report it to the authors of '{dist}'"


def entry_point_fix(dist: str) -> str:
    """How to mend a misspelled entry point: ganhub reads entry points from what pip installed,
    so the corrected pyproject.toml counts only once the distribution is installed again."""
    try:
        project = editable_project(md.distribution(dist))
    except md.PackageNotFoundError:
        project = None
    if project is not None:
        return (
            f"correct the entry point in {os.path.join(project, 'pyproject.toml')}, then "
            f"install it again: {pip_install(project)}"
        )
    return f"correct the entry point in {dist}'s pyproject.toml and install it again"


def editable_project(distribution: md.Distribution) -> str | None:
    """The folder a distribution is installed editable from (its direct_url.json), else None."""
    import json
    from urllib.parse import unquote

    try:
        origin = json.loads(distribution.read_text("direct_url.json") or "{}")
    except (ValueError, OSError):
        origin = {}
    origin = origin if isinstance(origin, dict) else {}
    url, how = origin.get("url"), origin.get("dir_info")
    if isinstance(how, dict) and how.get("editable") is True and str(url).startswith("file://"):
        return unquote(str(url)[7:])
    return None


def _editable_roots(distribution: md.Distribution) -> list[str]:
    """The folders an editable install serves its modules from, none of them among its files:
    its project folder, the folders its .pth files add to the path, and the packages its
    editable finder (setuptools' `__editable___*_finder.py`) maps."""
    import ast

    roots = [editable_project(distribution) or ""]
    for file in distribution.files or []:
        name = file.name
        finder = name.startswith("__editable__") and name.endswith("_finder.py")
        if not (name.endswith(".pth") or finder):
            continue
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        if not finder:
            roots += [line.strip() for line in text.splitlines() if not line.startswith("import")]
            continue
        mapping = re.search(r"^MAPPING\b[^=]*=\s*(\{.*?\})\s*$", text, re.M | re.S)
        try:
            found = ast.literal_eval(mapping.group(1)) if mapping else {}
        except (ValueError, SyntaxError):
            found = {}
        roots += [str(v) for v in found.values()] if isinstance(found, dict) else []
    return [os.path.realpath(root) for root in roots if os.path.isabs(root)]


class NameClash(PluginError):
    """Two plugins register one name: `refused` is the plugin to refuse, `fix` its fix."""

    def __init__(self, message: str, refused: str, fix: str) -> None:
        super().__init__(message)
        self.refused, self.fix = refused, fix


def name_clash(singular: str, name: str, owner: Any, newcomer: Any) -> NameClash:
    """The clash of `newcomer` (a PluginInfo) registering the `singular` `name` that `owner`
    registered first. The plugin that breaks the naming rule (a plugin's names start with its
    own name) while the other keeps it is refused; otherwise the newcomer, naming both (a
    built-in's names are never taken)."""
    from ganhub.registry import follows_naming

    def text(info: Any) -> str:
        return f"plugin '{info.name}' ({info.dist})"

    if owner.dist != "ganhub":
        by_owner = follows_naming(name, owner.name, owner.dist)
        by_newcomer = follows_naming(name, newcomer.name, newcomer.dist)
        if by_owner != by_newcomer:
            keeps, breaks = (owner, newcomer) if by_owner else (newcomer, owner)
            return NameClash(
                f"plugin '{breaks.name}' registers {singular} '{name}', a name of {text(keeps)}, "
                f"which registers it too: a plugin's names start with its own name "
                f"('{breaks.name}_...'; see docs/plugins.md)", breaks.name,
                report_fix(breaks.dist),
            )  # fmt: skip
        both = (f" (neither plugin's name rule decides who keeps it: {text(owner)} loaded "
                f"first, {text(newcomer)} is refused)")  # fmt: skip
        fix = (f"one of them must rename it: {report_fix(newcomer.dist)}, or "
               f"{report_fix(owner.dist)}")  # fmt: skip
    else:  # a name of ganhub's own: the only way out is another name, after the plugin
        both = (f"; ganhub's built-in names are never taken over: name it after the plugin "
                f"('{newcomer.name}_{name}'; see docs/plugins.md)")  # fmt: skip
        fix = report_fix(newcomer.dist)
    return NameClash(
        f"{singular} '{name}' is registered twice: by '{owner.name}' and by '{newcomer.name}'"
        + both, newcomer.name, fix
    )  # fmt: skip


# import names whose distribution is named otherwise
_ALIASES = {
    "sklearn": "scikit-learn", "skimage": "scikit-image", "yaml": "pyyaml", "PIL": "pillow",
    "cv2": "opencv-python", "bs4": "beautifulsoup4", "attr": "attrs", "dateutil": "python-dateutil",
}  # fmt: skip


def _requirements(dist: str) -> list[tuple[str, str | None]] | None:
    """(normalised name, extra or None) of each requirement `dist` declares; None: unknown."""
    try:
        requires = md.requires(dist)
    except md.PackageNotFoundError:
        return None
    found = []
    for req in requires or []:
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", req)
        name = normalise(re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0])
        found.append((name, extra.group(1) if extra else None))
    return found


def missing_module(exc: ImportError) -> str:
    """The top-level module an ImportError says is missing ('' when it names none)."""
    return (getattr(exc, "name", None) or "").split(".")[0]


def undeclared(exc: ImportError, dist: str) -> bool:
    """Whether the module missing is none of `dist`'s declared requirements (known metadata
    only): a typo or a dependency its authors forgot, never a name to `pip install` blindly."""
    missing, requirements = missing_module(exc), _requirements(dist)
    if not missing or requirements is None:
        return False
    wanted = normalise(_ALIASES.get(missing, missing))
    return all(name != wanted for name, _ in requirements)


def fix_for_missing(exc: ImportError, dist: str) -> str:
    """The pip line that installs what `exc` says is missing, via the dist's extra if it has one."""
    missing = missing_module(exc)
    if not missing:
        return f"pip install --upgrade '{dist}'"
    wanted = normalise(_ALIASES.get(missing, missing))
    for name, extra in _requirements(dist) or []:
        if name == wanted and extra and extra != "all":
            return f"pip install '{dist}[{extra}]'"
    return f"pip install {_ALIASES.get(missing, missing)}"


def one_line_error(exc: BaseException) -> str:
    """'ZeroDivisionError: division by zero (plugin.py:3)': the first line, and where the
    plugin's own code raised it (not ganhub's, importlib's or the standard library's frames;
    a syntax error's own file and line)."""
    kind = "PluginError" if isinstance(exc, NameClash) else type(exc).__name__
    text = f"{kind}: {exc}".strip()
    first = text.splitlines()[0] if text else kind
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    own = [f for f in frames if not f.filename.startswith(("<", _GANHUB_DIR, _STDLIB_DIR))]
    return f"{first} ({own[-1].filename}:{own[-1].lineno})" if own else first


def resolves(target: str) -> bool:
    """Whether an entry point's `module:object.path` names an object (module imported)."""
    module, _, path = target.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for part in path.strip().split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def belongs(path: str, entry_point: md.EntryPoint) -> bool:
    """Whether file `path` is the entry point's distribution's (unknown: True): one of its
    files, or, installed editable (`pip install -e`), a file under the folders it serves."""
    distribution = entry_point.dist
    files = distribution.files if distribution is not None else None
    if distribution is None or not files:
        return True
    real = os.path.realpath(path)
    if any(os.path.realpath(str(f.locate())) == real for f in files):
        return True
    return any(real.startswith(root + os.sep) for root in _editable_roots(distribution))


def near_miss_hook(plugin: object) -> str | None:
    """For a plugin that implements no hook: its function named close to a hook, without
    @hookimpl (`def register_loss(register)`), as "its function 'x' ... (did you mean 'y'?)"."""
    import difflib
    import inspect

    from ganhub import hookspecs

    specs = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "ganhub_spec")]
    for attr in dir(plugin):
        if attr.startswith("_") or not inspect.isfunction(getattr(plugin, attr, None)):
            continue
        close = difflib.get_close_matches(attr, specs, n=1, cutoff=0.8)
        if close:
            return (
                f"its function '{attr}' lacks @hookimpl and is named like no ganhub hook (did "
                f"you mean '{close[0]}'?)"
            )
    return None


def empty_plugin(
    plugin: object, target: str, dist: str, entry_point: md.EntryPoint | None
) -> tuple[str, str]:
    """What is wrong with a plugin module that implements no ganhub hook, and the fix: a hook
    function without @hookimpl and a misspelled name (`def register_loss(register)`), a
    module of another package earlier on the path, or hooks not written yet."""
    where = getattr(plugin, "__file__", None) or repr(plugin)
    problem = f"'{target}' ({where}) implements no ganhub hook"
    near = near_miss_hook(plugin)
    if near:
        fix = "name the function after its hook and mark it @hookimpl (see docs/hooks.md)"
        return f"{problem}: {near}", fix
    if entry_point is not None and not belongs(where, entry_point):
        return problem, f"a file or package outside {dist} shadows '{target}': rename or remove it"
    return problem, ("point the entry point at the module whose functions carry @hookimpl, "
                     "or add them (see docs/plugins.md)")  # fmt: skip


_GANHUB_DIR = os.path.dirname(os.path.abspath(__file__))  # this package's folder
_STDLIB_DIR = sysconfig.get_paths()["stdlib"]
