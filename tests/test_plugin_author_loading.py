"""Loading a plugin as its author does: installed editable (`pip install -e .`, as the docs
recommend), with a hook function that misses its @hookimpl, next to a plugin that takes one of
its names. What `ganhub plugins` says must fit the mistake and blame the plugin that made it."""

from __future__ import annotations

import importlib.metadata as md
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ganhub.hookspecs import hookimpl
from ganhub.losses.adversarial import HingeLoss
from ganhub.plugins import Hub

# -- 2. an editable install -----------------------------------------------------------------


def _editable(tmp_path: Path, how: str, code: str) -> md.EntryPoint:
    """A distribution installed editable the way `how` says (its RECORD lists only the
    editable hook, never the module), its module in project/src; its entry point."""
    module = f"ganhub_ed_{how}_{tmp_path.name}".replace("-", "_")
    project, site = tmp_path / "project", tmp_path / "site"
    (project / "src" / module).mkdir(parents=True)
    (project / "src" / module / "__init__.py").write_text(code)
    info = site / "ganhub_ed-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganhub-ed\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[ganhub]\ned = {module}\n")
    record = ["ganhub_ed-0.1.dist-info/METADATA,,", "ganhub_ed-0.1.dist-info/RECORD,,"]
    if how == "direct_url":  # pip's record of where it installed from
        url = {"url": project.as_uri(), "dir_info": {"editable": True}}
        (info / "direct_url.json").write_text(json.dumps(url))
        record.append("ganhub_ed-0.1.dist-info/direct_url.json,,")
    elif how == "pth":  # a path entry (setuptools' compat mode, hatchling, flit)
        (site / "__editable__.ganhub_ed-0.1.pth").write_text(f"{project / 'src'}\n")
        record.append("__editable__.ganhub_ed-0.1.pth,,")
    else:  # setuptools' import hook
        finder = "__editable___ganhub_ed_0_1_finder.py"
        mapping = {module: str(project / "src" / module)}
        (site / finder).write_text(f"import sys\nMAPPING: dict[str, str] = {mapping!r}\n")
        record.append(f"{finder},,")
    (info / "RECORD").write_text("\n".join(record) + "\n")
    (entry,) = [e for e in md.PathDistribution(info).entry_points if e.name == "ed"]
    return entry


@pytest.mark.parametrize("how", ["direct_url", "pth", "finder"])
def test_an_editable_plugin_without_hooks_is_not_called_shadowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Its module is not among the files the distribution records, yet it is its own: the fix
    said "a file or package outside ganhub-ed shadows it: rename or remove it"."""
    entry = _editable(tmp_path, how, '"""Hooks not written yet."""\n')
    monkeypatch.syspath_prepend(str(tmp_path / "project" / "src"))
    hub = Hub()
    hub._load("ed", entry.value, dist="ganhub-ed", version="0.1", entry_point=entry)
    info = hub.plugins["ed"]
    assert info.status == "error" and "implements no ganhub hook" in info.error
    assert "shadows" not in info.fix, info.fix
    assert info.fix.startswith("point the entry point at the module whose functions carry")


def test_an_editable_plugin_whose_hook_lacks_hookimpl_is_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`def register_loss(register)`: a near miss of register_losses, and no @hookimpl."""
    code = "def register_loss(register):\n    pass\n"
    entry = _editable(tmp_path, "direct_url", code)
    monkeypatch.syspath_prepend(str(tmp_path / "project" / "src"))
    hub = Hub()
    hub._load("ed", entry.value, dist="ganhub-ed", version="0.1", entry_point=entry)
    info = hub.plugins["ed"]
    assert info.status == "error" and len(info.error.splitlines()) == 1
    assert info.error.endswith(
        "implements no ganhub hook: its function 'register_loss' lacks @hookimpl and is named "
        "like no ganhub hook (did you mean 'register_losses'?)"
    ), info.error
    assert info.fix == (
        "name the function after its hook and mark it @hookimpl (see docs/hooks.md)"
    )


# -- 3. two plugins, one name ---------------------------------------------------------------


def _losses(*names: str) -> SimpleNamespace:
    def register_losses(register: Any) -> None:
        for name in names:
            register(name, type("Loss", (HingeLoss,), {"name": name})())

    return SimpleNamespace(register_losses=hookimpl(register_losses))


def _two(first: tuple[str, str, SimpleNamespace], second: tuple[str, str, Any]) -> Hub:
    hub = Hub()
    for name, dist, plugin in (first, second):
        hub.add(name, plugin, dist=dist, version="1")
    return hub


@pytest.mark.parametrize("oops_first", [True, False])
def test_the_plugin_that_takes_anothers_prefixed_name_is_refused_whatever_loads_first(
    oops_first: bool,
) -> None:
    """ganhub-oops loads first (its distribution sorts first) and registered
    spiral_squared_hinge: spiral, whose name it is, was refused "fix it in ganhub-spiral"."""
    oops = ("oops", "ganhub-oops", _losses("oops_hinge", "spiral_squared_hinge"))
    spiral = ("spiral", "ganhub-spiral", _losses("spiral_squared_hinge"))
    hub = _two(oops, spiral) if oops_first else _two(spiral, oops)
    assert hub.plugins["spiral"].status == "ok", hub.plugins["spiral"].error
    assert hub.losses.entry("spiral_squared_hinge").plugin == "spiral"
    info = hub.plugins["oops"]
    assert info.status == "error" and info.registered == {}
    assert "oops_hinge" not in hub.losses  # refused whole
    assert info.error == (
        "PluginError: plugin 'oops' registers loss 'spiral_squared_hinge', a name of plugin "
        "'spiral' (ganhub-spiral), which registers it too: a plugin's names start with its own "
        "name ('oops_...'; see docs/plugins.md)"
    )
    assert info.fix == "report it to the authors of 'ganhub-oops'"


@pytest.mark.parametrize("shared", ["shared_loss", "aaa_bbb"])
def test_a_clash_no_name_rule_decides_refuses_the_second_naming_both(shared: str) -> None:
    """Neither name starts with its plugin's name (`shared_loss`), or both do (`aaa_bbb` of
    plugins `aaa` and `aaa_bbb`): the second is refused, as before, but both are named."""
    second = "bbb" if shared == "shared_loss" else "aaa_bbb"
    hub = _two(("aaa", "ganhub-aaa", _losses(shared)),
               (second, f"ganhub-{second}", _losses(shared)))  # fmt: skip
    assert hub.plugins["aaa"].status == "ok"
    info = hub.plugins[second]
    assert info.status == "error"
    assert f"loss '{shared}' is registered twice: by 'aaa' and by '{second}'" in info.error
    assert "plugin 'aaa' (ganhub-aaa) loaded first" in info.error
    assert f"plugin '{second}' (ganhub-{second}) is refused" in info.error
    assert "'ganhub-aaa'" in info.fix and f"'ganhub-{second}'" in info.fix


def test_a_builtin_name_is_never_taken() -> None:
    """Built-ins keep their names even from a plugin whose prefix they carry."""
    hub = Hub.discover(extra=(("hinge", _losses("hinge")),))
    assert hub.losses.entry("hinge").plugin == "ganhub.losses.adversarial"
    assert hub.plugins["hinge"].status == "error"
    assert "registered twice: by 'ganhub.losses.adversarial' and by 'hinge'" in (
        hub.plugins["hinge"].error
    )


def test_installed_plugins_settle_a_clash_by_the_naming_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As installed: ganhub-oops sorts before ganhub-spiral, so it loads first."""
    hook = (
        "from ganhub.hookspecs import hookimpl\nfrom ganhub.losses.adversarial import HingeLoss\n"
        "class Loss(HingeLoss):\n    name = 'spiral_squared_hinge'\n"
        "@hookimpl\ndef register_losses(register):\n    register(Loss.name, Loss())\n"
    )
    for plugin in ("oops", "spiral"):
        root, module = tmp_path / plugin, f"ganhub_{plugin}_{tmp_path.name}"[:60]
        info = root / f"ganhub_{plugin}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: ganhub-{plugin}\nVersion: 0.1\n"
        )
        (info / "entry_points.txt").write_text(f"[ganhub]\n{plugin} = {module}\n")
        (root / f"{module}.py").write_text(hook)
        monkeypatch.syspath_prepend(str(root))
    hub = Hub.discover()
    assert hub.plugins["spiral"].status == "ok", hub.plugins["spiral"].error
    assert hub.losses.entry("spiral_squared_hinge").plugin == "spiral"
    assert "a name of plugin 'spiral' (ganhub-spiral)" in hub.plugins["oops"].error
    assert hub.plugins["oops"].fix == "report it to the authors of 'ganhub-oops'"


def test_a_misspelled_entry_point_of_an_editable_plugin_says_to_install_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ganhub reads entry points from what pip installed: the fix said only "correct the entry
    point in ganhub-ed's pyproject.toml", and the error stayed after the author corrected it."""
    _editable(tmp_path, "direct_url", '"""Hooks not written yet."""\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # where md.distribution finds it
    entry = md.EntryPoint(name="ed", value="ganhub_ed_mispelled", group="ganhub")
    hub = Hub()
    hub._load("ed", entry.value, dist="ganhub-ed", version="0.1", entry_point=entry)
    info = hub.plugins["ed"]
    project = tmp_path / "project"
    assert info.status == "error" and info.fix == (
        f"correct the entry point in {project / 'pyproject.toml'}, then install it again: "
        f"pip install -e {project}"
    )
