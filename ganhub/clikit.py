"""Helpers for commands, built-in and from plugins, so every command has the same shape.

The shape: generic verbs for every domain (`ganhub run|sample|eval|report ...`), a domain's
own verbs under its name (`ganhub stylegan mix RUN_DIR`), config as `key=value`, command
options as `--flags`. Light on purpose: importing it loads click only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ganhub.config.schema import MAX_SEED

HELP = {"help_option_names": ["-h", "--help"]}
# a run directory argument: it must exist and be a folder (load() checks it holds a run)
RUN_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


class _SeedRange(click.IntRange):
    """The range of the `seed` key: a value out of it, or no whole number, is refused in one
    ganhub line naming the option and what is valid (`--seed abc: seeds the random draws: give
    a whole number from 0 to 4294967295`), not click's "'abc' is not a valid integer"."""

    name = "integer"  # click's IntRange says "'abc' is not a valid integer range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ganhub.errors import UsageError, one_line

        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            option = param.opts[0] if param is not None and param.opts else "seed"
            shown = one_line(str(value), 40) or repr(value)
            raise UsageError(
                f"{option} {shown}: seeds the random draws: give a whole number from 0 to "
                f"{MAX_SEED}"
            ) from None


SEED = _SeedRange(0, MAX_SEED)


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
    ctx = click.get_current_context(silent=True)
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key in legacy:
            source = ctx.get_parameter_source(key) if ctx is not None else None
            if source == ParameterSource.COMMANDLINE:
                # both: one of them would be dropped without a word
                raise click.UsageError(f"'{item}' and --{key} both given; keep --{key}")
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


def note_repeated_keys(items: Sequence[str]) -> None:
    """A note on stderr for each key that one command line gives two values
    (`trainer.steps=5 trainer.steps=7`, `tricks=[ema] tricks=[r1]`), naming the one used. The
    items are ordered overrides, the last one wins (as in Hydra, and as scripts that add to a
    base command rely on), but a newcomer's slip was taken without a word. The same value twice,
    `config=FILE` (files merge in order) and items that are no override (the config's own
    error says why) are not noted. Under torchrun, rank 0 says it once."""
    from ganhub.config.overrides import CONFIG_KEY, dotted_items, parse_override
    from ganhub.console import speaks_for_job
    from ganhub.errors import ConfigError, one_line

    if not speaks_for_job():
        return
    seen: dict[str, tuple[str, Any]] = {}
    noted: set[str] = set()
    for item in items:
        try:
            path, value = parse_override(item)
        except ConfigError:
            continue
        key = ".".join(path)
        if key == CONFIG_KEY:
            continue
        # `trick={r1: {gamma: 5}}` gives trick.r1.gamma as `trick.r1.gamma=5` does
        leaves = dotted_items(value, f"{key}.") if isinstance(value, dict) and value else None
        for leaf, typed in leaves or [(key, value)]:
            if leaf in seen and seen[leaf][1] != typed and leaf not in noted:
                last = next(i for i in reversed(items) if _gives(i, leaf))
                click.echo(
                    f"ganhub: note: '{one_line(leaf, 100)}' is given more than once "
                    f"({one_line(seen[leaf][0], 60)}, then {one_line(item, 60)}): the last, "
                    f"{one_line(last, 60)}, is used",
                    err=True,
                )
                noted.add(leaf)
            seen[leaf] = (item, typed)


def _gives(item: str, leaf: str) -> bool:
    """Whether the override `item` sets the dotted key `leaf` (itself or a section above it)."""
    key = item.partition("=")[0].strip()
    return leaf == key or leaf.startswith(f"{key}.")


class KeyValueCommand(click.Command):
    """A command that takes key=value items (and paths) among its options: click passes an
    unknown `--flag` through to them, where it was taken for an override or a DATA path and
    failed with a message that never said so. Here it is refused as click refuses one, naming
    the closest real option, before anything else is checked (a required option included)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse a mistyped option, then parse as click does."""
        options = [p for p in self.params if isinstance(p, click.Option)]
        known = {name: p for p in options for name in (*p.opts, *p.secondary_opts)}
        takes_value = {name for name, p in known.items() if not p.is_flag and not p.count}
        skip = False
        for item in args:
            if skip:  # the value of the option before it (it may start with "-")
                skip = False
                continue
            if item == "--":
                break
            name = item.split("=", 1)[0]
            if name in known:
                skip = name in takes_value and "=" not in item
            elif name[:1] == "-" and name not in ("-", "-h", "--help") and not name[1:2].isdigit():
                close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
                raise click.NoSuchOption(name, possibilities=close, ctx=ctx)
        return super().parse_args(ctx, args)


def device_option(help_text: str = "cpu, cuda, cuda:N, mps or auto.") -> Callable[[Any], Any]:
    """A command's `--device` option (default cpu): one this machine cannot give is refused in
    one line naming `--device` and the devices there are, before the command loads anything."""
    return click.option(
        "--device", default="cpu", show_default=True, help=help_text, callback=_checked_device
    )


def _checked_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """`device_option`'s check (torch is imported here, not when the CLI starts)."""
    import torch

    from ganhub.engine.environment import select_device
    from ganhub.errors import ConfigError, UsageError, one_line

    try:
        select_device(value)
    except ConfigError as exc:
        # the engine's reason without its `device=VALUE: ` head and its `; use ...` tail
        reason = str(exc).removeprefix(f"device={value}: ").split("; use ")[0]
        have = ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
        have += ["mps"] if torch.backends.mps.is_available() else []
        raise UsageError(
            f"--device {one_line(value, 40)}: {one_line(reason, 120)}; available here: "
            f"{', '.join(have)} or auto"
        ) from None
    return value


# `write_samples` draws its samples as one batch into one artifact (a grid, a text file, a
# set of volumes): 10,000 is a 100 x 100 grid, far past what a grid is read for
MAX_WRITTEN_SAMPLES = 10_000


__all__ = [
    "HELP",
    "MAX_WRITTEN_SAMPLES",
    "RUN_DIR",
    "SEED",
    "KeyValueCommand",
    "deprecated_alias",
    "device_option",
    "domain_group",
    "note_repeated_keys",
    "split_overrides",
]
