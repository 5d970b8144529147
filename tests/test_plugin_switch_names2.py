"""GANHUB_DISABLE_PLUGINS takes plugin names. A user who writes the name of something a plugin
registers (the trick `reweight`, the loss `hinge`) is told what it is, which plugin registers
it and the setting that switches that plugin off (none for ganhub's own); a name next to the
plugin the variable already switches off (`wisp,wsip`) is not offered that plugin again."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganhub.plugins import Hub
from tests.test_plugin_names import _install

WARNING = "ganhub: warning: GANHUB_DISABLE_PLUGINS: no installed plugin is named"


def test_a_trick_or_loss_name_says_whose_it_is_and_what_switches_it_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "reweight,ema,hinge,mode_coverage_2d")
    hub = Hub.discover()
    assert capsys.readouterr().err.splitlines() == [
        f"{WARNING} 'ema', so it is ignored; 'ema' is a trick of ganhub itself "
        "(ganhub.tricks.builtin), which is always loaded",
        f"{WARNING} 'hinge', so it is ignored; 'hinge' is a loss of ganhub itself "
        "(ganhub.losses.adversarial), which is always loaded",
        f"{WARNING} 'mode_coverage_2d', so it is ignored; plugin 'toy2d' registers the metric "
        "'mode_coverage_2d'; GANHUB_DISABLE_PLUGINS=toy2d turns it off",
        f"{WARNING} 'reweight', so it is ignored; plugin 'fairness' registers the trick "
        "'reweight'; GANHUB_DISABLE_PLUGINS=fairness turns it off",
    ]
    assert hub.plugins["fairness"].status == "ok" and "reweight" in hub.tricks  # nothing is off


def test_a_domain_next_to_its_switched_off_plugin_gets_no_did_you_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wsip` (the misspelt entry point of the domain `wisp`) is switched off, its domain with
    it; `wisp` was answered "did you mean 'wsip'?", the name the user had just written."""
    _install(tmp_path, "wsip", "wisp", editable=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    monkeypatch.setenv("GANHUB_DISABLE_PLUGINS", "wisp,wsip")
    hub = Hub.discover()
    assert capsys.readouterr().err.splitlines() == [
        f"{WARNING} 'wisp', so it is ignored; plugin 'wsip', which GANHUB_DISABLE_PLUGINS also "
        "names, is switched off with all it registers"
    ]
    assert hub.plugins["wsip"].status == "disabled" and "wisp" not in hub.domains
