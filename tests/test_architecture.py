"""The structure the design promises, checked on the code itself.

* Capabilities are declared, never probed: no `isinstance` on a system or data-source class,
  no `hasattr` and no `getattr(obj, "name")` on a system or its data, anywhere in ganhub/ or
  plugins/.
* Layers point down: the engine (and the metrics, tricks, losses and data it runs) never
  imports plugin discovery; only the wiring (config resolution, API, CLI, commands) does.
* No import circles inside the ganhub package: every import counts, those inside functions and
  under `TYPE_CHECKING` too, so each module can be read (and replaced) from the bottom up.
* `ganhub --help` and `ganhub plugins` import no torch.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.joinpath("ganhub").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")])
# the engine's base classes of systems and data sources; subclasses are found below
BASES = {"GANSystem", "BatchSource", "UnconditionalGAN", "PairedTranslationGAN"}
# names a system or its data goes by in this code base
SYSTEM_NAMES = ("system", "source", "dataset", "data", "trained", "model", "translation")


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in SOURCES}


def _system_and_source_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """Every class deriving (transitively) from a system or data-source base."""
    parents: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                parents.setdefault(node.name, set()).update(names)
    found = set(BASES)
    changed = True
    while changed:
        changed = False
        for cls, bases in parents.items():
            if cls not in found and bases & found:
                found.add(cls)
                changed = True
    return found


def _terminal_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _names_in(node: ast.expr) -> set[str]:
    return {_terminal_name(n) for n in ast.walk(node) if isinstance(n, ast.Name | ast.Attribute)}


def _probes(trees: dict[Path, ast.Module]) -> list[str]:
    classes = _system_and_source_classes(trees)
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            fn, args = node.func.id, node.args
            if not args:
                continue
            subject = _terminal_name(args[0]).lower()
            about_system = subject.endswith(SYSTEM_NAMES)
            where = f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
            # every system is a GANSystem: checking for the root class (what a domain's
            # build() returned) tells nothing of what a system can do, so it is no probe
            root_check = len(args) == 2 and ast.unparse(args[1]) == "GANSystem"
            if (
                (
                    fn == "isinstance"
                    and len(args) == 2
                    and _names_in(args[1]) & classes
                    and not root_check
                )
                or (fn == "hasattr" and about_system)
                or (
                    fn == "getattr"
                    and about_system
                    and len(args) >= 2
                    and isinstance(args[1], ast.Constant)
                )
            ):
                found.append(where)
    return found


def test_no_capability_probes_on_systems_or_data() -> None:
    probes = _probes(_trees())
    assert not probes, "declare a capability instead of probing:\n" + "\n".join(probes)


def test_the_probe_finder_finds_probes(tmp_path: Path) -> None:
    """The check above can fail: it flags each kind of probe in a sample file."""
    code = (
        "class MySystem(GANSystem): pass\n"
        "def f(system, source):\n"
        "    isinstance(system, MySystem)\n"
        "    isinstance(system, GANSystem)\n"  # the contract of build(): not a probe
        "    hasattr(system, 'centers')\n"
        "    getattr(source, 'gather', None)\n"
        "    getattr(system, name)\n"  # a declared module name: not a probe
    )
    tree = ast.parse(code)
    probes = _probes({ROOT / "sample.py": tree})
    shown = "\n".join(probes)
    assert len(probes) == 3 and "getattr(system, name)" not in shown and "GANSystem)" not in shown


ENGINE = ["engine", "metrics", "tricks", "losses", "data", "loggers"]


@pytest.mark.parametrize("package", ENGINE)
def test_the_engine_never_imports_plugin_discovery(package: str) -> None:
    for path in sorted(ROOT.joinpath("ganhub", package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            module = ""
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
            elif isinstance(node, ast.Import):
                module = " ".join(a.name for a in node.names)
            # metrics/commands.py is CLI wiring that lives next to the metrics
            if path.name != "commands.py":
                assert "ganhub.plugins" not in module and "ganhub.wiring" not in module, (
                    f"{path.relative_to(ROOT)}:{node.lineno} imports discovery ({module})"
                )


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _engine_import_graph() -> dict[str, set[str]]:
    """ganhub module -> the ganhub modules it imports anywhere (a name taken from a package
    counts as its submodule when one of that name exists)."""
    paths = sorted(ROOT.joinpath("ganhub").rglob("*.py"))
    modules = {_module_of(path): path for path in paths}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                found = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            graph[name] |= {target for target in found if target in modules and target != name}
    return graph


def test_no_import_circles_in_the_ganhub_package() -> None:
    graph = _engine_import_graph()
    assert "ganhub.engine.loop" in graph["ganhub.api"]  # the graph sees function-level imports
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, f"modules that import each other in a circle: {circles}"


@pytest.mark.parametrize("args", [["--help"], ["plugins"]])
def test_help_and_plugins_load_no_torch(args: list[str]) -> None:
    code = (
        "import json, sys\n"
        "from ganhub.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"ganhub {' '.join(args)} imported {loaded[:5]}"


def test_mypy_checks_every_built_in_plugin_under_its_installed_name() -> None:
    """Every package the wheel installs is in mypy's `packages`, and each plugin has the link
    under .ci/mypy_path that lets mypy resolve its imports of its own modules."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installed = project["tool"]["setuptools"]["package-dir"]
    assert sorted(project["tool"]["mypy"]["packages"]) == sorted(installed)
    for name, folder in installed.items():
        if name == "ganhub":
            continue
        link = ROOT / ".ci" / "mypy_path" / name
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve(), name


def test_lazy_package_attributes_never_share_a_submodule_name() -> None:
    """A package's `__getattr__` name (ganhub_textgan.transfer, the function) that is also a
    submodule's name loses to the module once anything imports that submodule: the public
    API then raised "'module' object is not callable" after a transfer run had trained."""
    for init in SOURCES:
        if init.name != "__init__.py":
            continue
        for node in ast.walk(ast.parse(init.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                names = {c.value for c in ast.walk(node)
                         if isinstance(c, ast.Constant) and isinstance(c.value, str)}  # fmt: skip
                submodules = {p.stem for p in init.parent.glob("*.py")} | {
                    p.name for p in init.parent.iterdir() if (p / "__init__.py").is_file()
                }
                assert not names & submodules, (init, sorted(names & submodules))
