"""A plugin that fails to load is named once, where it failed, with the traceback behind
GANHUB_DEBUG=1; a name it would have registered is reported with it, from Python as from the
CLI; a hook argument its hook does not have lists the hook's arguments."""

from __future__ import annotations

import re
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest

from ganhub import testing
from ganhub.errors import PluginError, UnknownName
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.testing import ContractError

from .conftest import TINY_TOY

# another broken plugin installed here may be listed too
NOTE = r"\(plugins that failed to load: ([^;]*, )?boom(, [^;]*)?; see ganhub plugins\)$"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


# -- 1. strict mode names the plugin that failed, not the one whose commands were added ---------


def _hub_with_a_broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """Built-in commands first, then a plugin whose discovery hook raises (not yet run)."""
    module = f"broken_{tmp_path.name}"
    _write(tmp_path, {f"{module}.py": (
        "from ganhub.hookspecs import hookimpl\n"
        "@hookimpl\ndef register_losses(register):\n    1 / 0\n"
        "@hookimpl\ndef register_commands(cli):\n"
        "    import click\n    cli.add_command(click.Command('brokencmd'))\n"
    )})  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    hub = Hub()
    hub._load("ganhub.metrics.commands", "ganhub.metrics.commands", dist="ganhub", version="0")
    hub._load("broken", module, dist="ganhub-broken", version="0")
    return hub


def test_strict_mode_names_the_failing_plugin_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "plugin 'ganhub.metrics.commands' failed to load: PluginError: plugin 'mix1d'
    failed to load: ZeroDivisionError": the registries were filled while the built-in's
    commands were added, and the failure was re-raised as the built-in's."""
    hub = _hub_with_a_broken_plugin(tmp_path, monkeypatch)
    monkeypatch.setenv("GANHUB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as err:
        hub.add_commands(click.Group("ganhub"))
    message = str(err.value)
    assert message.startswith("plugin 'broken' failed to load: ZeroDivisionError: "), message
    assert message.count("failed to load") == 1 and "ganhub.metrics" not in message


def test_a_plugin_refused_while_loading_adds_no_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands of a plugin refused as the registries filled were added all the same."""
    hub = _hub_with_a_broken_plugin(tmp_path, monkeypatch)
    group = click.Group("ganhub")
    hub.add_commands(group)
    info = hub.plugins["broken"]
    assert info.status == "error" and "ZeroDivisionError" in info.error
    assert "brokencmd" not in group.commands and info.registered == {}
    assert "eval" in hub.plugins["ganhub.metrics.commands"].registered["commands"]


# -- 2. a missing import names the plugin's line, and GANHUB_DEBUG=1 its traceback -------------


@pytest.mark.parametrize(
    ("files", "line_in"),
    [
        ({"__init__.py": '"""A plugin."""\nimport nonexistent_pkg_xyz\n'}, "__init__.py:2"),
        ({"__init__.py": "from . import sub\n", "sub.py": "x = 1\nimport nonexistent_pkg_xyz\n"},
         "sub.py:2"),
        ({"__init__.py": "import helper_mod\n"}, "__init__.py:1"),  # not the helper's line
    ],
)  # fmt: skip
def test_a_missing_import_names_the_plugins_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], line_in: str
) -> None:
    """It said "its code imports 'nonexistent_pkg_xyz', which is not installed", not where."""
    package = f"pkg_{abs(hash(str(files)))}_{tmp_path.name}"
    _write(tmp_path, {f"{package}/{name}": text for name, text in files.items()})
    _write(tmp_path, {"helper_mod.py": "import nonexistent_pkg_xyz\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GANHUB_DEBUG", "1")
    hub = Hub()
    hub._load("faulty", package, dist="ganhub", version="0")
    info = hub.plugins["faulty"]
    assert info.status == "error" and "its code imports 'nonexistent_pkg_xyz'" in info.error
    assert info.error.endswith(f"({tmp_path / package / line_in})"), info.error
    assert "import nonexistent_pkg_xyz" in info.trace and "ModuleNotFoundError" in info.trace


def test_strict_mode_chains_the_plugins_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strict PluginError had no frame of the plugin: GANHUB_DEBUG=1 showed none."""
    package = f"pkg_strict_{tmp_path.name}"
    _write(tmp_path, {f"{package}/__init__.py": "import nonexistent_pkg_xyz\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GANHUB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as err:
        Hub()._load("faulty", package, dist="ganhub", version="0")
    assert str(err.value).endswith(f"({tmp_path / package / '__init__.py'}:1)")
    shown = "".join(traceback.format_exception(err.value))
    assert f'{package}/__init__.py", line 1' in shown and "ModuleNotFoundError" in shown


# -- 3. a name a failed plugin would have registered: the registry says so ----------------------


def _boom(register: Any) -> None:
    raise ZeroDivisionError("division by zero")


def test_an_unknown_name_from_python_mentions_the_plugins_that_failed() -> None:
    """From Python it said only "unknown loss ...; available: ..."; the CLI alone added it."""
    hub = Hub.discover(extra=(("boom", SimpleNamespace(register_losses=hookimpl(_boom))),))
    with pytest.raises(UnknownName) as err:
        hub.losses.get("boom_hinge")
    assert str(err.value).startswith("unknown loss 'boom_hinge'")
    assert re.search(NOTE, str(err.value)), err.value
    with pytest.raises(ContractError, match=r"^trick 'boom_clip': UnknownName: .*" + NOTE):
        testing.check_trick("boom_clip", TINY_TOY, hub=hub)
    assert "failed to load" not in str(Hub().registry("losses").unknown("x"))


def test_the_cli_says_it_once(cli: Any) -> None:
    from ganhub.plugins import get_hub, reset_hub

    try:
        get_hub().add("boom", SimpleNamespace(register_losses=hookimpl(_boom)))
        for args in (("run", "plugin=toy2d", "loss=boom_hinge"), ("run", "plugin=boom2d")):
            code, _, err = cli(*args)
            assert code == 2 and err.count("failed to load") == 1, err
            assert re.search(NOTE, err.strip()) and len(err.strip().splitlines()) == 1
    finally:
        reset_hub()


# -- 4. a hook argument the hook does not have ---------------------------------------------------


def _after_step(run: Any, step: int, metricz: Any) -> None:
    return None


def _register_tricks(register: Any, extra: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("plugin", "unknown", "valid"),
    [
        (SimpleNamespace(after_step=hookimpl(_after_step)), "{'metricz'}",
         "after_step takes any of: run, step, metrics (did you mean 'metrics'?)"),
        (SimpleNamespace(register_tricks=hookimpl(_register_tricks)), "{'extra'}",
         "register_tricks takes any of: register"),
    ],
)  # fmt: skip
def test_a_hook_argument_the_hook_lacks_lists_its_arguments(
    monkeypatch: pytest.MonkeyPatch, plugin: Any, unknown: str, valid: str
) -> None:
    """pluggy's bare "Argument(s) {'metricz'} are declared in the hookimpl but can not be found
    in the hookspec", with "fix it in ...": neither the valid arguments nor docs/hooks.md."""
    info = Hub.discover(extra=(("argy", plugin),)).plugins["argy"]
    assert info.status == "error" and info.fix == "see docs/hooks.md for every hook"
    assert f"Argument(s) {unknown} are declared in the hookimpl" in info.error
    assert valid in info.error and info.error.endswith("(see docs/hooks.md)"), info.error
    monkeypatch.setenv("GANHUB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as err:
        Hub.discover(extra=(("argy", plugin),))
    message = str(err.value)
    assert message.startswith("plugin 'argy' failed to load: PluginError: its @hookimpl ")
    assert valid in message and "docs/hooks.md" in message and len(message.splitlines()) == 1


def test_a_hook_taking_fewer_arguments_or_defaults_still_loads() -> None:
    def after_step(step: int, flag: bool = True) -> None:
        return None

    info = Hub.discover(extra=(("few", SimpleNamespace(after_step=hookimpl(after_step))),))
    assert info.plugins["few"].status == "ok"


def test_an_unknown_name_in_a_run_config_mentions_the_plugins_that_failed(workdir: Path) -> None:
    """`ganhub.train([..., 'loss=mix1d_soft_hinge'])` said only "unknown loss ..."."""
    import ganhub

    hub = Hub.discover(extra=(("boom", SimpleNamespace(register_losses=hookimpl(_boom))),))
    for key in ("loss=boom_hinge", "tricks=[boom_clip]", "eval.metrics=[boom_w1]"):
        with pytest.raises(UnknownName) as err:
            ganhub.train([*TINY_TOY, key], hub=hub)
        assert re.search(NOTE, str(err.value)), err.value
