"""Docs stay honest: every hook, loss, trick and command is documented."""

from __future__ import annotations

from pathlib import Path

from ganhub import hookspecs
from ganhub.plugins import get_hub

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_has_a_section_in_the_reference() -> None:
    text = (DOCS / "hooks.md").read_text()
    specs = [name for name, f in vars(hookspecs).items() if hasattr(f, "ganhub_spec")]
    missing = [name for name in specs if f"### `{name}`" not in text]
    assert not missing, f"docs/hooks.md lacks sections for: {missing}"


def test_every_builtin_loss_and_trick_is_documented() -> None:
    hub = get_hub()
    text = (DOCS / "tricks.md").read_text()
    for entry in list(hub.tricks) + list(hub.losses):
        if entry.plugin.startswith("ganhub."):
            assert f"`{entry.name}`" in text, f"docs/tricks.md does not describe {entry.name}"


def test_every_builtin_command_is_in_the_cli_page() -> None:
    text = (DOCS / "cli.md").read_text()
    for command in ("run", "config", "plugins", "list", "sample", "eval", "report", "features"):
        assert f"ganhub {command}" in text


def test_every_registered_command_is_in_the_cli_page() -> None:
    from ganhub.cli import build_cli

    text = (DOCS / "cli.md").read_text()
    for name, command in build_cli().commands.items():
        assert f"`ganhub {name}" in text, f"docs/cli.md does not describe `ganhub {name}`"
        for verb in getattr(command, "commands", {}):  # a domain's group: every verb too
            if name != "features":  # features train|list are described in prose
                assert f"`ganhub {name} {verb}" in text, f"docs/cli.md lacks `ganhub {name} {verb}`"
