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


def _blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of one language in a Markdown text."""
    parts = text.split("```" + language + "\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


def test_conditional_page_runs_as_written(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Its `ganhub run` lines resolve, and its Python snippets run (in a scratch folder)."""
    import shlex

    from ganhub.config.resolve import resolve

    text = (DOCS / "conditional.md").read_text()
    runs = [line for block in _blocks(text, "bash") for line in block.splitlines()
            if line.startswith("ganhub run ")]  # fmt: skip
    assert runs
    for line in runs:
        assert resolve(shlex.split(line.split("#")[0])[2:]).model.conditional  # type: ignore[attr-defined]
    monkeypatch.chdir(tmp_path)
    for block in _blocks(text, "python"):
        exec(
            compile(
                block.replace(
                    "trainer__steps=100",
                    "trainer__steps=4, trainer__progress=False, eval__metrics=[]",
                ),
                "conditional.md",
                "exec",
            ),
            {},
        )
    assert (tmp_path / "out").is_dir()


def test_user_facing_text_speaks_of_ganhub_not_of_how_it_was_made() -> None:
    """Docs, README, help texts and messages never cite the project's own notes ("the seed's
    two-step rule", "the seed's defaults table") or its issue numbers."""
    import re

    root = DOCS.parent
    internal = re.compile(
        r"\bthe seed's\b|\bthe seed (?:article|text|digest)\b|seed[- ]digest|\bissue #?\d+\b", re.I
    )
    files = [root / "README.md", *DOCS.rglob("*.md"), *(root / "ganhub").rglob("*.py"),
             *(root / "plugins").rglob("*.py"), *(root / "ganhub").rglob("*.j2")]  # fmt: skip
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()[:80]}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if internal.search(line)
    ]
    assert not found, "internal wording in user-facing text:\n" + "\n".join(found)
