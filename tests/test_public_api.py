"""The plugin contract is explicit: what the built-in plugins import from ganhub is public.

Built-ins are plugins like any other. Every ganhub module a built-in plugin (or the example
plugin) imports, at module level, inside a function or under `TYPE_CHECKING`, has a docstring
and a page in the API reference (docs/reference/index.md), and every name it imports from one
is in that module's `__all__`. A built-in that needs anything else shows a hole in the contract:
make the name public (add it to `__all__`, document it), or stop using it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "docs" / "reference" / "index.md"
SOURCES = sorted(
    path
    for folder in ("plugins", "examples")
    for path in ROOT.joinpath(folder).rglob("*.py")
    if "build" not in path.relative_to(ROOT).parts
)

# Names a built-in imports that are not in their module's `__all__`, each with why. Keep it
# short: an entry is a hole in the contract, and one no plugin needs any more is an error.
UNDECLARED = "public (it has a reference page), but its module declares no __all__ yet"
ALLOWED: dict[tuple[str, str], str] = {
    ("ganhub.plugins", "Hub"): UNDECLARED,
    ("ganhub.plugins", "get_hub"): UNDECLARED,
    ("ganhub.data_commands", "check_command"): "a click command whose help text (`[--json]`) "
    "the reference renderer reads as a cross-reference; the plugins call it as `ganhub data "
    "check` does",
}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def ganhub_imports(trees: dict[str, ast.Module]) -> dict[tuple[str, str], list[str]]:
    """(module, name) -> where, for every import from ganhub in `trees` (where -> tree);
    name is "" for a module imported as such (`import ganhub.x`, `from ganhub import x`
    where x is a module)."""
    found: dict[tuple[str, str], list[str]] = {}
    for where, tree in trees.items():
        for node in ast.walk(tree):
            keys: list[tuple[str, str]] = []
            if isinstance(node, ast.Import):
                keys = [(a.name, "") for a in node.names if a.name.split(".")[0] == "ganhub"]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                module = node.module
                if module.split(".")[0] == "ganhub":
                    subs = [(f"{module}.{a.name}", a.name) for a in node.names]
                    keys = [(s, "") if _is_module(s) else (module, n) for s, n in subs]
            else:
                continue
            for key in keys:
                found.setdefault(key, []).append(f"{where}:{node.lineno}")
    return found


def _plugin_imports() -> dict[tuple[str, str], list[str]]:
    trees = {str(p.relative_to(ROOT)): ast.parse(p.read_text(), str(p)) for p in SOURCES}
    return ganhub_imports(trees)


def _reference_pages() -> dict[str, str]:
    """module -> the page docs/reference/index.md links it to (without an #anchor)."""
    rows = re.findall(r"^\| \[`([\w.]+)`\]\(([\w./-]+)(?:#[\w-]+)?\)", INDEX.read_text(), re.M)
    return dict(rows)


def _public(module: str) -> list[str] | None:
    return getattr(importlib.import_module(module), "__all__", None)


def test_the_import_finder_sees_every_form() -> None:
    """The survey below can fail: it finds imports at module level, in functions and under
    TYPE_CHECKING, and tells an imported submodule from an imported name."""
    code = (
        "from typing import TYPE_CHECKING\n"
        "import ganhub.engine.loop\n"
        "from ganhub.metrics import store, Metric\n"
        "from .local import thing\n"
        "if TYPE_CHECKING:\n"
        "    from ganhub.engine.run import Run\n"
        "def f():\n"
        "    from ganhub.errors import one_line\n"
    )
    found = ganhub_imports({"sample.py": ast.parse(code)})
    assert set(found) == {
        ("ganhub.engine.loop", ""),
        ("ganhub.metrics.store", ""),
        ("ganhub.metrics", "Metric"),
        ("ganhub.engine.run", "Run"),
        ("ganhub.errors", "one_line"),
    }
    assert found[("ganhub.errors", "one_line")] == ["sample.py:8"]


def test_every_ganhub_module_a_plugin_imports_has_a_docstring_and_a_reference_page() -> None:
    pages = _reference_pages()
    modules = sorted({module for module, _ in _plugin_imports()})
    assert len(modules) > 40, "the survey found too few modules: are the plugins moved?"
    missing, unrendered, undocumented = [], [], []
    for module in modules:
        if not importlib.import_module(module).__doc__:
            undocumented.append(module)
        if module not in pages:
            missing.append(module)
            continue
        page = (INDEX.parent / pages[module]).read_text()
        if not re.search(rf"^::: {re.escape(module)}(\.\w+)*$", page, re.M):
            unrendered.append(f"{module} ({pages[module]})")
    assert not missing, f"docs/reference/index.md lacks (add a page as the others): {missing}"
    assert not unrendered, f"reference pages that do not render their module: {unrendered}"
    assert not undocumented, f"modules without a docstring: {undocumented}"


def test_every_name_a_plugin_imports_is_in_its_modules_all() -> None:
    bad = []
    for (module, name), where in sorted(_plugin_imports().items()):
        if not name or (module, name) in ALLOWED:
            continue
        public = _public(module)
        if public is None:
            bad.append(f"{module} has no __all__ (imported by {where[0]})")
        elif name not in public:
            bad.append(f"{module}.{name} is not in its __all__ (imported by {where[0]})")
    assert not bad, "built-in plugins use names outside the public contract:\n" + "\n".join(
        sorted(set(bad))
    )


def test_the_allow_list_holds_only_what_a_plugin_still_needs() -> None:
    """An entry whose import is gone, or whose name is now in `__all__`, is deleted."""
    imported = _plugin_imports()
    stale = [
        f"{module}.{name}"
        for module, name in ALLOWED
        if (module, name) not in imported or name in (_public(module) or [])
    ]
    assert not stale, f"delete these ALLOWED entries: {stale}"


@pytest.mark.parametrize("module", sorted(_reference_pages()))
def test_every_name_in_a_documented_modules_all_exists(module: str) -> None:
    """What `__all__` promises is there (a renamed function must not leave a stale name)."""
    public = _public(module) or []
    assert not [n for n in public if not hasattr(importlib.import_module(module), n)]
