"""Helpers for commands, built-in and from plugins, so every command has the same shape.

The shape: generic verbs for every domain (`ganhub run|sample|eval|report ...`), a domain's
own verbs under its name (`ganhub stylegan mix RUN_DIR`), config as `key=value`, command
options as `--flags`. Light on purpose: importing it loads click only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ganhub.config.schema import MAX_SEED

HELP = {"help_option_names": ["-h", "--help"]}
# a run directory argument: it must exist and be a folder (load() checks it holds a run)
RUN_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
SEED = click.IntRange(0, MAX_SEED)  # the range of the `seed` key


def domain_group(cli: click.Group, domain: str, help_text: str) -> click.Group:
    """The `ganhub <domain>` group for a domain's own verbs (created on first use)."""
    existing = cli.commands.get(domain)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(name=domain, help=help_text, context_settings=HELP)
    cli.add_command(group)
    return group


def deprecated_alias(cli: click.Group, old: str, command: click.Command, new: str) -> None:
    """Keep `ganhub <old>` working for one release: a one-line notice, then `ganhub <new>`."""

    def callback(**kwargs: Any) -> Any:
        click.echo(
            f"ganhub: '{old}' is deprecated and goes in the next release; use 'ganhub {new}'",
            err=True,
        )
        return click.get_current_context().invoke(command, **kwargs)

    cli.add_command(
        click.Command(
            old,
            params=list(command.params),
            callback=callback,
            help=f"Deprecated name of `ganhub {new}`.",
            hidden=True,
            context_settings=command.context_settings,
        )
    )


def split_overrides(
    items: tuple[str, ...] | list[str], legacy: dict[str, Callable[[str], Any]], command: str
) -> tuple[list[str], dict[str, Any]]:
    """Separate `key=value` config overrides from old-style `option=value` command options.

    `legacy` maps option names that used to be written `n=64` (now `--n 64`) to a parser;
    such items still work, with a one-line notice, and come back in the second result.
    """
    overrides: list[str] = []
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key in legacy:
            click.echo(
                f"ganhub: '{item}' is deprecated for {command}; write --{key} {value}", err=True
            )
            try:
                options[key] = legacy[key](value)
            except ValueError:
                raise click.BadParameter(f"{item}: not a valid {key}") from None
        else:
            overrides.append(item)
    return overrides, options


# `write_samples` draws its samples as one batch into one artifact (a grid, a text file, a
# set of volumes): 10,000 is a 100 x 100 grid, far past what a grid is read for
MAX_WRITTEN_SAMPLES = 10_000


__all__ = [
    "HELP",
    "MAX_WRITTEN_SAMPLES",
    "RUN_DIR",
    "deprecated_alias",
    "domain_group",
    "split_overrides",
]
