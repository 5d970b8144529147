"""A trick, loss, metric, logger or domain that a plugin which failed to load would have
registered: the error said "unknown trick 'spiral_warmup' (did you mean 'spectral_norm'?);
available: <every trick> (plugins that failed to load: <every failed plugin>; ...)". Now it names
the failed plugin the name is named after or like, with its distribution, why it did not load
and the fix, in one line, and only counts the other failed plugins."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ganhub.errors import UnknownName
from ganhub.failed_providers import FailedPlugin, likely_provider
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub

from .conftest import TINY_TOY


def _zero(register: Any) -> None:
    raise ZeroDivisionError("division by zero")


def _escape(register: Any) -> None:
    raise ValueError("bad\x1b[2J value")


def _install(site: Path, plugin: str, code: str, version: str = "0.3") -> None:
    """A distribution `ganhub-PLUGIN` with the entry point PLUGIN, its module in `site`."""
    module = f"ganhub_{plugin}_{site.parent.name}".replace("-", "_")[:60]
    info = site / f"ganhub_{plugin}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: ganhub-{plugin}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[ganhub]\n{plugin} = {module}\n")
    (site / f"{module}.py").write_text(code)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """An installed plugin 'spiral' (ganhub-spiral 0.3) whose import raises, and an in-process
    plugin 'zeta' whose discovery hook raises."""
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "spiral", "from ganhub.hookspecs import hookimpl\n1 / 0\n")
    monkeypatch.syspath_prepend(str(site))
    return Hub.discover(extra=(("zeta", SimpleNamespace(register_tricks=hookimpl(_zero))),))


def _others(hub: Hub, but: str) -> str:
    """', and N other(s)': the failed plugins besides `but` (others may be installed here)."""
    n = len([p for p in hub.failures() if p.name != but])
    return f", and {n} other" + ("s" if n > 1 else "") if n else ""


@pytest.mark.parametrize(
    ("kind", "singular", "name"),
    [("tricks", "trick", "spiral_warmup"), ("losses", "loss", "spiral_hinge"),
     ("metrics", "metric", "spiral_fid"), ("loggers", "logger", "spiral")],
)  # fmt: skip
def test_the_plugin_a_name_is_named_after_is_said_in_full(
    hub: Hub, kind: str, singular: str, name: str
) -> None:
    message = str(hub.registry(kind).unknown(name))
    site = hub.plugins["spiral"].module
    assert message.startswith(
        f"unknown {singular} '{name}': it is named after plugin 'spiral' (ganhub-spiral 0.3), "
        "which did not load: ZeroDivisionError: division by zero ("
    ), message
    assert f"{site}.py:2). Fix: report it to the authors of 'ganhub-spiral', or leave " in message
    assert message.endswith(
        f"'{name}' out and set GANHUB_DISABLE_PLUGINS=spiral (plugins that failed to load: "
        f"spiral{_others(hub, 'spiral')}; see ganhub plugins)"
    ), message
    assert "available:" not in message and "zeta" not in message and "did you mean" not in message
    assert len(message.splitlines()) == 1


def test_a_name_named_like_a_failed_plugin_names_it(hub: Hub) -> None:
    """A domain named like the plugin (a prefix), or a close spelling of it."""
    domain = str(hub.domains.unknown("spiral2d"))
    assert domain.startswith("unknown domain 'spiral2d': it is named like plugin 'spiral' ")
    assert "leave" not in domain and "GANHUB_DISABLE_PLUGINS" not in domain  # a run needs it
    typo = str(hub.tricks.unknown("spirl_warmup"))
    assert typo.startswith("unknown trick 'spirl_warmup': it is named like plugin 'spiral' ")


def test_a_name_no_failed_plugin_is_named_like_counts_them(hub: Hub) -> None:
    """They may still register it (the naming rule is a rule, not a law): counted, not listed;
    a registered name close to it is offered as before."""
    n = len(hub.failures())
    many = "s" if n > 1 else ""
    message = str(hub.tricks.unknown("emaa"))
    assert message.startswith("unknown trick 'emaa' (did you mean 'ema'?); available: ")
    assert message.endswith(f" ({n} plugin{many} failed to load; see ganhub plugins)")
    assert "spiral" not in message and "zeta" not in message
    close = str(hub.tricks.unknown("zeta_emaa"))  # zeta's, and close to no registered name
    assert close.startswith("unknown trick 'zeta_emaa': it is named after plugin 'zeta' ")
    assert "(in-process), which did not load: ZeroDivisionError" in close  # not ((in-process))


def test_a_plugin_s_error_is_shown_as_one_escaped_line(workdir: Path) -> None:
    import ganhub

    hub = Hub.discover(extra=(("esc", SimpleNamespace(register_losses=hookimpl(_escape))),))
    with pytest.raises(UnknownName) as err:
        ganhub.train([*TINY_TOY, "loss=esc_hinge"], hub=hub)
    message = str(err.value)
    assert "which did not load: ValueError: bad\\x1b[2J value" in message, message
    assert message.isprintable()


def test_the_cli_says_it_in_one_line(cli: Any) -> None:
    from ganhub.plugins import get_hub, reset_hub

    try:
        get_hub().add("boom", SimpleNamespace(register_losses=hookimpl(_zero)))
        code, _, err = cli("run", "plugin=toy2d", "tricks=[boom_clip]")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert re.match(
            r"ganhub: error: unknown trick 'boom_clip': it is named after plugin 'boom' "
            r"\(in-process\), which did not load: ZeroDivisionError: division by zero", err
        ), err  # fmt: skip
    finally:
        reset_hub()


def test_which_names_a_plugin_is_named_for() -> None:
    """Its entry-point name, its distribution's and its module's, less `ganhub-`/`ganhub_`;
    never ganhub's own name, which every built-in shares."""
    plugin = FailedPlugin("mp", "ganhub_mine.hooks:plugin", "ganhub-mine-tools", "1.0")
    assert plugin.stems() == ["mp", "mine_tools", "mine"]
    assert likely_provider("mine_hinge", [plugin]) == (plugin, "named after")
    assert likely_provider("mine_tools_clip", [plugin]) == (plugin, "named after")
    builtin = FailedPlugin("ganhub.metrics.builtin", "ganhub.metrics.builtin", "ganhub", "0.1")
    assert builtin.stems() == [] and likely_provider("ganhub_fid", [builtin]) is None
    # the naming rule before a prefix: 'mine_x' is mine's, not 'min's
    other = FailedPlugin("min", "min_plugin", "ganhub-min")
    assert likely_provider("mine_x", [other, plugin]) == (plugin, "named after")
    assert likely_provider("warmup", [other, plugin]) is None
