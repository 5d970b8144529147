"""What a non-editable install ships: every package and data file of the source tree.

An editable install (the README's) imports from the working tree, so a package left out of
pyproject.toml's list only shows in a wheel: `ganhub.loggers.trackers` was missing there, and
with it every built-in logger ("unknown logger 'jsonl'" on a machine that installed ganhub
with `pip install .`)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def installed_name(folder: Path) -> str:
    """The import name a source folder is installed under (package-dir maps plugins/NAME)."""
    relative = folder.relative_to(ROOT)
    for name, source in SETUPTOOLS["package-dir"].items():
        if relative == Path(source) or Path(source) in relative.parents:
            rest = relative.relative_to(source).parts
            return ".".join([name, *rest])
    raise AssertionError(f"{relative} is under no package-dir entry")


def test_every_package_of_the_tree_is_installed() -> None:
    folders = [p.parent for top in ("ganhub", "plugins") for p in (ROOT / top).rglob("__init__.py")]
    missing = sorted({installed_name(f) for f in folders} - set(SETUPTOOLS["packages"]))
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_data_file_of_a_package_is_installed() -> None:
    """Non-Python files under a package (templates, py.typed) match its package-data."""
    data = SETUPTOOLS["package-data"]
    for name, source in SETUPTOOLS["package-dir"].items():
        folder = ROOT / source
        files = [p for p in folder.rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}]
        for path in files:
            relative = path.relative_to(folder)
            if "__pycache__" in relative.parts:
                continue
            patterns = data.get(name, [])
            assert any(relative.match(p) or _glob(relative, p) for p in patterns), (
                f"{path.relative_to(ROOT)} is not in [tool.setuptools.package-data] {name}"
            )


def _glob(relative: Path, pattern: str) -> bool:
    """setuptools' `**` patterns: any depth."""
    head, _, tail = pattern.partition("**/")
    return bool(tail) and str(relative).startswith(head) and relative.match(tail)
