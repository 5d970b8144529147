"""What `ganhub plugins` says about a plugin that fails to load: the fix that fits the
failure (never a blind `pip install` of a name its code mistyped), and where it failed."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest

from ganhub.plugins import Hub


@pytest.mark.parametrize(
    ("code", "status", "error", "fix"),
    [
        ("from ganhub.tricks import Trik\n", "error",
         "cannot import name 'Trik' from 'ganhub.tricks'", "another ganhub version"),
        ("import numpyy_not_there\n", "error",
         "its code imports 'numpyy_not_there', which is not installed and not among ganhub's "
         "declared dependencies", "a typo, or a dependency its authors did not declare"),
        ("def f():\n  x = 1\n    return x\n", "error", "IndentationError: unexpected indent (",
         "report it to"),
    ],
)  # fmt: skip
def test_a_plugin_that_fails_to_import_gets_the_fix_that_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str, status: str, error: str, fix: str
) -> None:
    """`from ganhub.tricks import Trik` said "fix: pip install ganhub" (installed); `import
    numpyy` said "pip install numpyy" (a typo made into an install line for any name); an
    IndentationError was located in importlib, not in the plugin."""
    module = f"faulty_{abs(hash(code))}"
    (tmp_path / f"{module}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = Hub()
    hub._load("faulty", module, dist="ganhub", version="0")
    info = hub.plugins["faulty"]
    assert info.status == status and error in info.error and fix in info.fix, info
    assert "pip install" not in info.fix
    if "Indentation" in error:
        assert f"{module}.py:3)" in info.error, info.error


def test_an_entry_point_naming_a_missing_object_or_a_module_without_hooks_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`module:nothere` was an AttributeError located in importlib.metadata; a module without
    hooks was an ImportError telling the user to look for a shadowing file."""
    (tmp_path / "hookless_plugin.py").write_text('"""Hooks not written yet."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = Hub()
    entry = md.EntryPoint(name="missobj", value="hookless_plugin:nothere", group="ganhub")
    hub._load("missobj", entry.value, dist="ganhub-x", version="1", entry_point=entry)
    info = hub.plugins["missobj"]
    assert info.status == "error" and info.error == (
        "PluginError: its entry point names 'nothere' in module 'hookless_plugin', which has no "
        "such object"
    )
    assert info.fix == "correct the entry point in ganhub-x's pyproject.toml and install it again"
    entry = md.EntryPoint(name="empty", value="hookless_plugin", group="ganhub")
    hub._load("empty", entry.value, dist="ganhub-x", version="1", entry_point=entry)
    info = hub.plugins["empty"]
    assert "implements no ganhub hook" in info.error and "ImportError" not in info.error
    assert info.fix.startswith("point the entry point at the module whose functions carry")


def test_a_module_without_hooks_from_outside_its_distribution_is_reported_as_shadowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The distribution installs its module (with hooks); a stray file of the same name earlier
    on the path is what imports, and it has none."""
    module = f"shadowed_{tmp_path.name}"  # unique: no earlier import of the name is reused
    site = tmp_path / "site"
    info = site / "ganhub_shadowed-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-shadowed\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[ganhub]\nshadow = {module}\n")
    (info / "RECORD").write_text(f"{module}/__init__.py,,\n")
    (site / module).mkdir()
    (site / module / "__init__.py").write_text(
        "from ganhub.hookspecs import hookimpl\n@hookimpl\ndef after_train(run, summary): pass\n"
    )
    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / f"{module}.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(tmp_path / "stray"))
    # the distribution's own entry point (not a search of every installed one)
    (entry,) = [e for e in md.PathDistribution(info).entry_points if e.name == "shadow"]
    hub = Hub()
    hub._load("shadow", entry.value, dist="ganhub-shadowed", version="0.1", entry_point=entry)
    info_ = hub.plugins["shadow"]
    assert info_.status == "error" and "implements no ganhub hook" in info_.error
    assert info_.fix == (
        f"a file or package outside ganhub-shadowed shadows '{module}': rename or remove it"
    )


def test_a_run_names_a_plugin_that_failed_to_load(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hooks object with one misspelt hook was refused whole, and the run trained without its
    hooks and without a word (the refusal showed only in `ganhub plugins`)."""
    import ganhub
    from ganhub.hookspecs import hookimpl

    from .conftest import TINY_TOY

    class Watcher:
        @hookimpl
        def after_steps(self, step: int) -> None:  # after_step, misspelt
            raise AssertionError("never called")

    ganhub.train(TINY_TOY, hub=Hub.discover(extra=(("watcher", Watcher()),)))
    err = capsys.readouterr().err
    assert err.count("plugin 'watcher' failed to load") == 1, err
    assert "did you mean 'after_step'?" in err and "GANHUB_DISABLE_PLUGINS=watcher" in err
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "watcher")  # switched off: no warning
    ganhub.train([*TINY_TOY, "name=off"], hub=Hub.discover(extra=(("watcher", Watcher()),)))
    assert "watcher" not in capsys.readouterr().err
