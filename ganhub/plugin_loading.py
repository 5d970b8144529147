"""What ganhub makes of one installed plugin as it loads: why its import failed (the status,
the one-line error and the fix `ganhub plugins` shows), and whether its entry point's name is
the name of the domain it registers (a misspelt `wsip = "ganhub_wisp"` loads, under a name no
user would look for)."""

from __future__ import annotations

import difflib
import importlib.metadata as md
import importlib.util
import os

from ganhub.errors import PluginError
from ganhub.failed_providers import pip_install
from ganhub.plugin_fixes import (
    editable_project,
    entry_point_fix,
    fix_for_missing,
    missing_module,
    modules_of,
    own_module_missing,
    own_submodule_missing,
    report_fix,
    resolves,
    undeclared,
    where_in_plugin,
)

__all__ = ["as_error", "entry_name_warning", "import_failure", "importable"]


def import_failure(
    exc: BaseException, target: str, dist: str, entry_point: bool
) -> tuple[str, BaseException, str]:
    """(status, error, fix) for a plugin whose import raised `exc`: `target` is the module (or
    `module:object`) it names, `entry_point` whether an installed entry point named it (else
    it is one of ganhub's own modules). Status `unavailable` for a dependency to install,
    `error` for a mistake in the plugin or its entry point."""
    if isinstance(exc, ImportError):
        return _import_error(exc, target, dist, entry_point)
    if isinstance(exc, AttributeError):  # `module:object` whose object is not there
        missing_object = entry_point and ":" in target and not resolves(target)
        if missing_object and importable(target.split(":")[0].strip()):
            module, obj = (part.strip() for part in target.split(":", 1))
            problem = PluginError(
                f"its entry point names '{obj}' in module '{module}', which has no such object"
            )
            return "error", problem, entry_point_fix(dist)
    return "error", as_error(exc), report_fix(dist)  # a plugin cannot end the process at import


def _import_error(
    exc: ImportError, target: str, dist: str, entry_point: bool
) -> tuple[str, BaseException, str]:
    if entry_point and own_module_missing(exc, target):
        typo = PluginError(f"its entry point names module '{target.split(':')[0]}', "
                           f"which is not installed{modules_of(dist)}")  # fmt: skip
        return "error", typo, entry_point_fix(dist)
    if entry_point and own_submodule_missing(exc, target):
        return "error", exc, report_fix(dist)
    if not isinstance(exc, ModuleNotFoundError) and importable(exc.name or ""):
        # "cannot import name 'X' from 'M'": M is installed, the name is not in it
        ours = exc.name == "ganhub" or (exc.name or "").startswith("ganhub.")
        hint = " (a plugin for another ganhub version?)" if ours else ""
        return "error", exc, f"{report_fix(dist)}{hint}"
    if undeclared(exc, dist):  # a typo or a forgotten dependency: no blind pip line
        problem = PluginError(
            f"its code imports '{missing_module(exc)}', which is not installed and not "
            f"among {dist}'s declared dependencies{where_in_plugin(exc, target)}"
        )
        problem.__cause__ = exc  # GANHUB_DEBUG=1 shows the plugin's own traceback
        fix = f"{report_fix(dist)} (a typo, or a dependency its authors did not declare)"
        return "error", problem, fix
    return "unavailable", exc, fix_for_missing(exc, dist)


def as_error(exc: BaseException) -> BaseException:
    """SystemExit as a reportable error: what the plugin tried to do."""
    return PluginError(f"it called sys.exit({exc.code!r})") if isinstance(exc, SystemExit) else exc


def importable(module: str) -> bool:
    """Whether `module` can be imported here (found, not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def entry_name_warning(name: str, target: str, dist: str, domains: list[str]) -> str:
    """'' when the entry point `name` (naming `target`, of the distribution `dist`) is the name
    of a domain its plugin registers, or the plugin registers none (tricks, commands); else
    one line naming the entry point, the package and the domains, and how to rename it.

    The docs' naming rule (docs/plugins.md, "Names") keeps the entry-point name equal to the
    domain's: a misspelt one loads all the same, but `ganhub plugins`, GANHUB_DISABLE_PLUGINS
    and the plugin's clash errors then know it by a name no user would type."""
    if not domains or name in domains:
        return ""
    wanted = (difflib.get_close_matches(name, domains, 1, 0.0) or domains)[0]
    listed = ", ".join(f"'{d}'" for d in domains)
    what = f"the domain {listed}" if len(domains) == 1 else f"the domains {listed}"
    try:
        project = editable_project(md.distribution(dist))
    except md.PackageNotFoundError:
        project = None
    if project is not None:  # the author's own checkout: ganhub reads what pip installed
        pyproject = os.path.join(project, "pyproject.toml")
        fix = (
            f'name it after its domain: {wanted} = "{target}" under '
            f"[project.entry-points.ganhub] in {pyproject}, then install it again: "
            f"{pip_install(project)}"
        )
    else:
        fix = f"ask the authors of '{dist}' to name the entry point '{wanted}' after its domain"
    return (
        f"entry point '{name}' of {dist} (module {target}) registers {what} under the plugin "
        f"name '{name}' (`ganhub plugins` and GANHUB_DISABLE_PLUGINS know it as '{name}'); {fix}"
    )
