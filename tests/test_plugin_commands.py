"""Plugins' CLI commands: a plugin adds its own, never replaces ganhub's or another plugin's,
and a plugin refused at this stage takes back everything it registered. Also the one-line
reasons `ganhub plugins` and `plugin=NAME` give for plugins refused over names."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import click

from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub


def _plugin(commands: Any, loss: str | None = None) -> SimpleNamespace:
    from ganhub.losses.adversarial import HingeLoss

    parts: dict[str, Any] = {"register_commands": hookimpl(commands)}
    if loss is not None:
        renamed = type("Loss", (HingeLoss,), {"name": loss})()  # a loss carries its own name
        parts["register_losses"] = hookimpl(lambda register: register(loss, renamed))
    return SimpleNamespace(**parts)


def _cli(hub: Hub) -> click.Group:
    group = click.Group("ganhub")
    hub.add_commands(group)
    return group


def _command(name: str) -> click.Command:
    return click.Command(name, callback=lambda: None)


def test_a_plugin_that_replaces_a_builtin_command_is_refused_whole() -> None:
    builtin = _cli(Hub.discover()).commands["run"]
    hijack = _plugin(lambda cli: cli.add_command(_command("run")), loss="hijack_loss")
    hub = Hub.discover(extra=(("hijack", hijack),))
    assert "hijack_loss" in hub.losses  # registered before its commands were asked for
    cli = _cli(hub)
    assert cli.commands["run"].callback is builtin.callback  # ganhub run is still ganhub's
    info = hub.plugins["hijack"]
    assert info.status == "error"
    assert "it replaces the command 'ganhub run' of ganhub itself" in info.error
    assert "hijack_loss" not in hub.losses and info.registered == {}


def test_a_plugin_cannot_replace_another_plugins_subcommand() -> None:
    def first(cli: click.Group) -> None:
        group = click.Group("spiral")
        group.add_command(_command("stats"))
        cli.add_command(group)

    def second(cli: click.Group) -> None:
        cli.commands["spiral"].add_command(_command("stats"))  # type: ignore[attr-defined]
        cli.add_command(_command("other"))

    hub = Hub.discover(extra=(("first", _plugin(first)), ("second", _plugin(second))))
    cli = _cli(hub)
    assert hub.plugins["first"].registered["commands"] == ["spiral"]
    assert "replaces the command 'ganhub spiral stats' of plugin 'first'" in (
        hub.plugins["second"].error
    )
    assert "other" not in cli.commands  # nothing of the refused plugin stays


def test_a_domains_command_group_is_its_own_plugins() -> None:
    """A plugin loaded first that made `ganhub toy2d` took the group, and the domain's own
    commands were then refused as replacing it (whichever plugin loaded first won)."""

    def squat(cli: click.Group) -> None:
        group = click.Group("toy2d")
        group.add_command(_command("stats"))
        cli.add_command(group)
        cli.add_command(_command("squatter-own"))

    hub = Hub.discover(extra=(("aaa", _plugin(squat, loss="squat_loss")),))
    cli = _cli(hub)
    assert "toy2d" not in cli.commands and "squatter-own" not in cli.commands
    info = hub.plugins["aaa"]
    assert info.status == "error" and "squat_loss" not in hub.losses
    assert (
        "it adds 'ganhub toy2d' to the commands of the 'toy2d' domain of ganhub itself; a "
        "domain's command group is its own plugin's" in info.error
    )
    assert hub.plugins["toy2d"].status == "ok"


def test_a_plugin_whose_command_hook_raises_registers_nothing() -> None:
    def boom(cli: click.Group) -> None:
        cli.add_command(_command("half"))
        raise RuntimeError("command hook exploded")

    hub = Hub.discover(extra=(("boom", _plugin(boom, loss="boom_loss")),))
    cli = _cli(hub)
    assert "half" not in cli.commands and "boom_loss" not in hub.losses
    assert "command hook exploded" in hub.plugins["boom"].error


def test_new_subcommands_of_an_existing_group_are_recorded() -> None:
    def extend(cli: click.Group) -> None:
        cli.commands["data"].add_command(_command("shuffle"))  # type: ignore[attr-defined]

    hub = Hub.discover(extra=(("extend", _plugin(extend)),))
    cli = _cli(hub)
    group = cli.commands["data"]
    try:
        assert hub.plugins["extend"].status == "ok"
        assert hub.plugins["extend"].registered["commands"] == ["data shuffle"]
        assert "shuffle" in group.commands  # type: ignore[attr-defined]
    finally:  # the `data` group is one object shared by every CLI this process builds
        group.commands.pop("shuffle", None)  # type: ignore[attr-defined]


def test_refusals_over_names_say_what_happened() -> None:
    from ganhub.errors import PluginError

    def register_twice(register: Any) -> None:
        register("dup", _Named("dup"))
        register("dup", _Named("dup"))

    twice = SimpleNamespace(register_losses=hookimpl(register_twice))
    module = SimpleNamespace(register_losses=hookimpl(lambda register: None))
    hub = Hub.discover(extra=(("twice", twice), ("first", module), ("second", module)))
    assert "plugin 'twice' registers loss 'dup' twice" in hub.plugins["twice"].error
    assert "its module is already loaded as plugin 'first'" in hub.plugins["second"].error
    # an entry point refused because another distribution took its name: plugin=NAME says so
    hub._refuse_name("spiral", "ganhub-spiral", "0.1", taken_by="ganhub-other")
    try:
        hub.require_domain("spiral")
    except PluginError as exc:
        assert str(exc).startswith("plugin 'spiral (ganhub-spiral)' failed to load: PluginError: ")
        assert "entry point name 'spiral' is taken by 'ganhub-other'" in str(exc)
    else:
        raise AssertionError("plugin=spiral was not explained")


def _Named(name: str) -> Any:
    from ganhub.losses.adversarial import HingeLoss

    loss = HingeLoss()
    loss.name = name  # type: ignore[misc]
    return loss


def test_a_discovery_hook_that_returns_its_objects_is_refused() -> None:
    """`return [MyLoss()]` instead of `register(...)` loaded as an empty plugin, silently."""
    from ganhub.losses.adversarial import HingeLoss

    returns = SimpleNamespace(register_losses=hookimpl(lambda register: [HingeLoss()]))
    info = Hub.discover(extra=(("returns", returns),)).plugins["returns"]
    assert info.status == "error"
    assert "its register_losses hook returned a value; call register(name, obj)" in info.error
