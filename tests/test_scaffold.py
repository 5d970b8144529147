"""`ganhub new-plugin`: the package it writes installs, passes its own tests and trains; bad
names and existing folders are refused. docs/plugins.md, the tutorial built on it, shows
exactly the files it writes, and the files the tutorial adds install and pass their tests."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ganhub.errors import UsageError
from ganhub.scaffold import plugin_names, render, write_plugin

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "plugins.md"
NAME = "spiral"  # the tutorial's plugin
# a fenced block: ```language title="path"``` (the title is optional)
FENCE = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```$', re.M | re.S)
HAS_RUFF = importlib.util.find_spec("ruff") is not None


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    language: str
    title: str  # "path" for a whole file, "in path" for a part of one, "" for neither
    code: str


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    return [Block(m[1], m[2] or "", m[3]) for m in FENCE.finditer(text)]


def tutorial_blocks() -> list[Block]:
    """The code blocks of docs/plugins.md."""
    return blocks(TUTORIAL.read_text())


def tutorial_files() -> dict[str, str]:
    """The tutorial's package as it stands at the end: what `ganhub new-plugin spiral` writes,
    with each file the last whole-file block of the page gives."""
    files = render(plugin_names(NAME))
    for block in tutorial_blocks():
        if block.title and not block.title.startswith("in "):
            files[block.title] = block.code
    return files


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: text} under root; return root."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], capture_output=True, text=True, timeout=120
    )


def install(package: Path, site: Path) -> dict[str, str]:
    """pip-install a package into its own folder (not site-packages); an env that uses it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(package)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return {**os.environ, "PYTHONPATH": str(site)}


def ganhub(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ganhub", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def pytest_in(env: dict[str, str], cwd: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, paths)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


# -- the command ----------------------------------------------------------------------------


def test_help_says_what_it_writes(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("new-plugin", "--help")
    assert code == 0
    assert "ganhub new-plugin NAME [--dir DIR]" in out and "--dir DIRECTORY" in out
    for promise in ("pyproject.toml", "NAME_squared_hinge", "NAME_clip", "ganhub.testing"):
        assert promise in out


def test_it_writes_the_package_the_tutorial_shows(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("new-plugin", NAME)
    assert code == 0, err
    expected = render(plugin_names(NAME))
    written = {
        str(p.relative_to(workdir / "ganhub-spiral")): p.read_text()
        for p in (workdir / "ganhub-spiral").rglob("*")
        if p.is_file()
    }
    assert written == expected
    (shown,) = [b.code for b in tutorial_blocks() if b.code.startswith("created ganhub-spiral/")]
    assert out == shown


def test_git_ignores_the_runs_and_caches_made_inside_the_package(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Following the tutorial (`cd ganhub-spiral`, `ganhub run ...`) writes runs/ inside the
    package: its .gitignore keeps run directories and caches out of the plugin's commits."""
    import subprocess

    assert cli("new-plugin", NAME)[0] == 0
    package = workdir / "ganhub-spiral"
    for made in ("runs/spiral-1/metrics.jsonl", "ganhub_spiral/__pycache__/x.pyc"):
        (package / made).parent.mkdir(parents=True, exist_ok=True)
        (package / made).write_text("x")
    subprocess.run(["git", "init", "-q", str(package)], check=True)
    status = subprocess.run(
        ["git", "-C", str(package), "status", "--porcelain", "--untracked-files=all"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert ".gitignore" in status and "ganhub_spiral/system.py" in status, status
    assert "runs/" not in status and "__pycache__" not in status, status


def test_dir_chooses_where(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("new-plugin", "gan2d", "--dir", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / "ganhub-gan2d/ganhub_gan2d/system.py").is_file()
    assert f"pip install -e {tmp_path / 'ganhub-gan2d'}" in out
    code, _, err = cli("new-plugin", "gan2d", "--dir", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("My-GAN", "did you mean 'my_gan'?"),
        ("2d", "starting with a letter"),
        ("spiral_", "not ending with an underscore"),
        ("", "lowercase letters, digits and underscores"),
        ("x" * 41, "at most 40 characters"),
        ("../evil", "did you mean 'evil'?"),
        ("a\nb", "'a\\nb'"),
        ("ganhub_spiral", "leave out the 'ganhub' prefix (ganhub new-plugin spiral"),
        ("toy2d", "'toy2d' is taken by ganhub's built-in plugin"),
        ("run", "'RunConfig' in ganhub_run/config.py would hide a name"),
        ("sample", "'sample' is the command 'ganhub sample'; its own commands would clash"),
        ("new_plugin", "is the command 'ganhub new-plugin'"),
    ],
)
def test_a_bad_name_is_refused_in_one_line(workdir: Path, cli, name: str, says: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("new-plugin", name)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("ganhub: error: plugin name") and says in line
    assert list(workdir.iterdir()) == []  # nothing written


@pytest.mark.parametrize("existing", ["folder", "file", "link"])
def test_an_existing_folder_is_never_overwritten(workdir: Path, cli, existing: str) -> None:  # type: ignore[no-untyped-def]
    target = workdir / "ganhub-spiral"
    if existing == "folder":
        target.mkdir()
        (target / "mine.py").write_text("keep me\n")
    elif existing == "file":
        target.write_text("keep me\n")
    else:
        target.symlink_to(workdir / "elsewhere")  # dangling: exists() is False
    code, out, err = cli("new-plugin", NAME)
    assert code == 2 and out == ""
    assert err.strip() == (
        "ganhub: error: 'ganhub-spiral' already exists; nothing was written "
        "(choose another NAME or --dir)"
    )
    if existing == "folder":
        assert [p.name for p in target.iterdir()] == ["mine.py"]
    elif existing == "file":
        assert target.read_text() == "keep me\n"
    else:
        assert target.is_symlink() and not (workdir / "elsewhere").exists()


@pytest.mark.skipif(not HAS_RUFF, reason="ruff is not installed (pip install -e '.[dev]')")
@pytest.mark.parametrize("name", [NAME, "a", "gan2d", "my_long_plugin_name_" + "x" * 20])
def test_the_generated_code_passes_ruff(tmp_path: Path, name: str) -> None:
    """With ganhub's rules, which the generated pyproject.toml carries."""
    root = write_tree(tmp_path / f"ganhub-{name}", render(plugin_names(name)))
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    checked = ruff("check", "--no-cache", str(root))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if name == NAME:  # longer names make longer lines, which the formatter would wrap
        formatted = ruff("format", "--check", "--no-cache", str(root))
        assert formatted.returncode == 0, formatted.stdout + formatted.stderr


# -- the tutorial ---------------------------------------------------------------------------


def test_the_tutorial_shows_every_generated_file_as_written() -> None:
    """The first block of each generated file is that file; each part of a file (`in path`)
    is in the file's last block; every Python block compiles."""
    generated = render(plugin_names(NAME))
    found = tutorial_blocks()
    whole = [b for b in found if b.title and not b.title.startswith("in ")]
    first: dict[str, str] = {}
    for block in whole:
        first.setdefault(block.title, block.code)
    missing = sorted(set(generated) - set(first) - {"README.md"})
    assert not missing, f"docs/plugins.md does not show {missing}"
    for path, code in first.items():
        if path in generated:
            assert code == generated[path], f"docs/plugins.md shows another {path}"
    final = tutorial_files()
    parts = [b for b in found if b.title.startswith("in ")]
    assert parts
    for block in parts:
        path = block.title.removeprefix("in ")
        assert block.code in final[path], f"a part of {path} differs from its whole file"
    for block in found:
        if block.language == "python":
            compile(block.code, block.title or "docs/plugins.md", "exec")


@pytest.mark.skipif(not HAS_RUFF, reason="ruff is not installed (pip install -e '.[dev]')")
def test_the_tutorial_code_passes_ruff(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "ganhub-spiral", tutorial_files())
    checked = ruff("check", "--no-cache", str(root))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = ruff("format", "--check", "--no-cache", str(root))
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_the_tutorial_plugin_registers_what_it_says(tmp_path: Path) -> None:
    """Imported in-process, the final package registers each kind the way section 3 says."""
    import click

    from ganhub.plugins import Hub

    root = write_tree(tmp_path / "ganhub-spiral", tutorial_files())
    sys.path.insert(0, str(root))
    try:
        import ganhub_spiral

        hub = Hub.discover(extra=(("spiral", ganhub_spiral),))
        info = hub.plugins["spiral"]
        assert info.status == "ok", info.error
        assert info.registered == {
            "domains": ["spiral"],
            "losses": ["spiral_squared_hinge"],
            "tricks": ["spiral_clip", "spiral_drift"],
            "metrics": ["spiral_swd"],
            "loggers": ["spiral_text"],
            "conditioners": [],
        }
        cli = click.Group("ganhub")
        hub.add_commands(cli)
        group = cli.commands["spiral"]
        assert isinstance(group, click.Group) and list(group.commands) == ["stats"]
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.split(".")[0] == "ganhub_spiral"]:
            del sys.modules[module]


# -- installed, in a process of its own (slow) ----------------------------------------------


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """`ganhub new-plugin spiral` run by the CLI, installed into its own folder."""
    root = tmp_path_factory.mktemp("scaffold")
    made = ganhub(dict(os.environ), root, "new-plugin", NAME)
    assert made.returncode == 0, made.stderr
    return root / "ganhub-spiral", install(root / "ganhub-spiral", root / "site")


@pytest.mark.slow
def test_the_scaffolded_plugin_passes_its_own_tests(
    scaffolded: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    package, env = scaffolded
    proc = pytest_in(env, tmp_path, package / "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout


@pytest.mark.slow
def test_the_scaffolded_plugin_is_listed_and_trains(
    scaffolded: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = scaffolded
    listing = ganhub(env, tmp_path, "plugins")
    assert listing.returncode == 0, listing.stderr
    (shown,) = [b.code for b in tutorial_blocks() if b.code.startswith("spiral  ganhub-spiral")]
    assert shown in listing.stdout
    trained = ganhub(
        env, tmp_path, "run", f"plugin={NAME}", "loss=spiral_squared_hinge", "trainer.steps=20",
        "trainer.progress=false", "loggers=[jsonl]", "name=first",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "runs/first/samples/step_0000020.png").is_file()
    for args in (["--help"], ["plugins"]):  # registering the plugin loads no torch
        probe = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom ganhub.cli import main\ntry:\n"
             f"    main({args!r})\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert probe.stdout.strip().endswith("NO-TORCH"), (args, probe.stdout, probe.stderr)


@pytest.mark.slow
def test_the_tutorial_plugin_installs_and_passes_its_tests(tmp_path: Path) -> None:
    """The package at the end of the tutorial: its added tests pass, every `ganhub run` line
    of the page resolves, its commands exist, the trick clash it quotes is the one ganhub
    prints, and the in-process snippet runs from the package's folder, uninstalled."""
    package = write_tree(tmp_path / "ganhub-spiral", tutorial_files())
    env = install(package, tmp_path / "site")
    work = tmp_path / "work"
    work.mkdir()
    proc = pytest_in(env, work, package / "tests" / "test_additions.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout

    lines = [line for b in tutorial_blocks() if b.language == "bash"
             for line in b.code.splitlines() if line.startswith("ganhub ")]  # fmt: skip
    runs = [shlex.split(line)[2:] for line in lines if line.startswith("ganhub run ")]
    assert len(runs) >= 6
    check = (
        "import json, sys\nfrom ganhub.config.resolve import resolve\n"
        "for args in json.loads(sys.argv[1]):\n    resolve(args)\nprint('resolved')\n"
    )
    resolved = subprocess.run(
        [sys.executable, "-c", check, json.dumps(runs)],
        env=env, cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resolved.stdout.strip() == "resolved", resolved.stderr
    for line in lines:
        if not line.startswith(("ganhub run ", "ganhub plugins")):
            verb = shlex.split(line)[1:3]  # `ganhub new-plugin`, `ganhub spiral stats`
            words = [w for w in verb if not w.startswith(("-", "runs/"))]
            assert ganhub(env, work, *words, "--help").returncode == 0, line
    clash = ganhub(env, work, "run", "plugin=spiral", "tricks=[spiral_clip,spectral_norm]")
    assert clash.returncode == 2
    assert "trick 'spiral_clip' cannot be combined with: spectral_norm" in clash.stderr
    assert "`trick 'spiral_clip' cannot be combined with: spectral_norm`" in TUTORIAL.read_text()

    (snippet,) = [b.code for b in tutorial_blocks() if b.language == "python" and not b.title]
    uninstalled = {**os.environ, "PYTHONPATH": str(package)}
    ran = subprocess.run(
        [sys.executable, "-c", snippet], env=uninstalled, cwd=package,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr


def test_the_parts_of_the_hook_module_are_whole_functions() -> None:
    """Each `in ganhub_spiral/__init__.py` block is one complete hook implementation."""
    for block in tutorial_blocks():
        if block.title == "in ganhub_spiral/__init__.py":
            (node,) = ast.parse(block.code).body
            assert isinstance(node, ast.FunctionDef) and node.name.startswith("register_")


def test_write_plugin_refuses_a_command_name_outside_the_cli(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is the command 'ganhub export'"):
        write_plugin("export", tmp_path)
    assert list(tmp_path.iterdir()) == []
