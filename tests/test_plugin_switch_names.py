"""GANHUB_DISABLE_PLUGINS takes plugin names, which are entry-point names: a user who names the
domain of a plugin whose entry point is misspelt (`wsip` for the domain `wisp`) is told which
plugin registers it and the setting that switches it off, not only a did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganhub.plugin_switch import warn_unknown
from ganhub.plugins import Hub
from tests.test_plugin_names import _install


def _disable_wisp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wsip` (domain `wisp`) installed on sys.path, and GANHUB_DISABLE_PLUGINS=wisp."""
    _install(tmp_path, "wsip", "wisp", editable=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "wisp")


def _domain_owners(hub: Hub) -> dict[str, str]:
    return {entry.name: entry.plugin for entry in hub.domains}


def test_a_domain_name_names_the_plugin_that_registers_it_and_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _disable_wisp(tmp_path, monkeypatch)
    hub = Hub.discover()
    capsys.readouterr()
    warn_unknown({"wisp", "toy2dd"}, hub.plugins, lambda: _domain_owners(hub))
    assert capsys.readouterr().err.splitlines() == [
        "ganhub: warning: GANHUB_DISABLE_PLUGINS: no installed plugin is named 'toy2dd' (did "
        "you mean 'toy2d'?); ignored (ganhub plugins lists the plugins)",
        "ganhub: warning: GANHUB_DISABLE_PLUGINS: no installed plugin is named 'wisp', so it "
        "is ignored; plugin 'wsip' registers the domain 'wisp'; GANHUB_DISABLE_PLUGINS=wsip "
        "turns it off",
    ]
    assert hub.plugins["wsip"].status == "ok"  # the name switched nothing off


def test_the_domains_are_not_registered_for_names_that_are_plugins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Registering the domains runs every plugin's hooks: only a name no plugin has asks."""
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "toy2d")
    hub = Hub.discover()
    asked: list[str] = []

    def owners() -> dict[str, str]:
        asked.append("owners")
        return _domain_owners(hub)

    warn_unknown({"toy2d"}, hub.plugins, owners)
    assert asked == [] and capsys.readouterr().err == ""


def test_discover_names_the_plugin_of_a_disabled_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hub passes its domains' owners: the line reaches the user of any command."""
    _disable_wisp(tmp_path, monkeypatch)
    Hub.discover()
    said = "plugin 'wsip' registers the domain 'wisp'; GANHUB_DISABLE_PLUGINS=wsip turns it off"
    assert said in capsys.readouterr().err
