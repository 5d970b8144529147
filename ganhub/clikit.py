"""Helpers for commands, built-in and from plugins, so every command has the same shape.

The shape: generic verbs for every domain (`ganhub run|sample|eval|report ...`), a domain's
own verbs under its name (`ganhub stylegan mix RUN_DIR`), config as `key=value`, command
options as `--flags`. Light on purpose: importing it loads click only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ganhub.config.schema import MAX_SEED

HELP = {"help_option_names": ["-h", "--help"]}


class _RunDirectory(click.Path):
    """A run directory argument: it must exist and be a folder (load() checks it holds a run).
    One that is not is refused in ganhub's words, as `resume=` refuses it (`'runs/nope': no
    such run directory`), not click's "Invalid value for 'RUN_DIR': Directory ... does not
    exist."."""

    def __init__(self) -> None:
        super().__init__(exists=True, file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The path, or one line saying why it is no run directory."""
        import os

        from ganhub.errors import UsageError, one_line

        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            shown = f"'{one_line(os.fsdecode(value), 200)}'"
            if not os.path.lexists(value):
                why = f"{shown}: no such run directory"
            elif not os.path.exists(value):
                why = f"{shown} is a link to nothing, not a run directory"
            elif not os.path.isdir(value):
                from ganhub.config.saved import run_holding

                holder = run_holding(value)  # `ganhub report runs/x/metrics.jsonl`
                where = f"'{one_line(holder, 200)}'" if holder is not None else "the run's folder"
                why = f"{shown} is a file, not a run directory; give {where}"
            else:
                why = f"{shown}: no permission to read this run directory"
            raise UsageError(why) from None


RUN_DIR = _RunDirectory()


class WholeNumber(click.IntRange):
    """An integer option from `least` to `most` (None: no upper bound): a value out of it, or
    no whole number, is refused in one ganhub line naming the option, what it is for and what
    is valid (`--seed abc: seeds the random draws: give a whole number from 0 to 4294967295`),
    not click's "'abc' is not a valid integer range". `meaning` says what the option does, as
    a phrase with the option as its subject (`counts the samples to write`)."""

    name = "integer"  # click's IntRange says "'abc' is not a valid integer range"

    def __init__(self, least: int, most: int | None, meaning: str) -> None:
        super().__init__(least, most)
        self.meaning = meaning

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The whole number, or one line naming the option and its range."""
        from ganhub.errors import UsageError, one_line

        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            option = param.opts[0] if param is not None and param.opts else "value"
            shown = one_line(str(value), 40) or repr(value)
            span = (
                f"from {self.min} to {self.max}"
                if self.max is not None
                else f"of {self.min} or more"
            )
            raise UsageError(
                f"{option} {shown}: {self.meaning}: give a whole number {span}"
            ) from None


# the range of the `seed` key, for every command's --seed
SEED = WholeNumber(0, MAX_SEED, "seeds the random draws")


class RealNumber(click.ParamType):
    """A real-number option, finite, from `least` to `most` (None: no bound on that side;
    `above`: `least` itself excluded): a value out of it, nan, inf or no number is refused in
    one ganhub line naming the option, what it is for and what is valid (`--radius 0: is the
    lesion's radius in voxels: give a number above 0`), as `WholeNumber` refuses, not click's
    "'abc' is not a valid float"."""

    name = "float"

    def __init__(
        self, least: float | None, most: float | None, meaning: str, *, above: bool = False
    ) -> None:
        self.least, self.most, self.above, self.meaning = least, most, above, meaning

    def span(self) -> str:
        """The valid values in words (`from 0 to 1`, `above 0`, `of 1 or more`)."""
        low, high = self.least, self.most
        if low is None:
            return f"of at most {high:g}" if high is not None else "that is finite"
        if high is None:
            return f"above {low:g}" if self.above else f"of {low:g} or more"
        return f"above {low:g} and at most {high:g}" if self.above else f"from {low:g} to {high:g}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number as a float, or one line naming the option and its range."""
        import math

        from ganhub.errors import UsageError, one_line

        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        low, high = self.least, self.most
        fits = (
            math.isfinite(number)
            and (low is None or number > low or (number == low and not self.above))
            and (high is None or number <= high)
        )
        if fits:
            return number
        option = param.opts[0] if param is not None and param.opts else "value"
        shown = one_line(str(value), 40) or repr(value)
        raise UsageError(f"{option} {shown}: {self.meaning}: give a number {self.span()}")


def is_export(run_dir: Path) -> bool:
    """Whether RUN_DIR is a folder `ganhub export` wrote (it holds the export's manifest, as
    `ganhub.load` tells them apart), known before the run is loaded: a command picks its
    `default_output` and refuses what it would replace there before any work."""
    from ganhub.exported import MANIFEST

    return (run_dir / MANIFEST).is_file()


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
    items: Sequence[str], legacy: Sequence[str] | Mapping[str, Callable[[str], Any]], command: str
) -> tuple[list[str], dict[str, Any]]:
    """Separate `key=value` config overrides from old-style `option=value` command options.

    `legacy` names the options of the running command that used to be written `n=64` (now
    `--n 64`); such items still work, with a one-line notice, and come back in the second
    result. Each value is checked as its option checks it (its type, then its callback), all
    of them before any notice: `n=0` is refused in the one line `--n 0` gets. (A mapping of
    names to parsers, the older form, is read as its names; a parser serves only a name the
    command has no option of.)
    """
    ctx = click.get_current_context(silent=True)
    params = {p.name: p for p in ctx.command.params} if ctx is not None else {}
    overrides: list[str] = []
    options: dict[str, Any] = {}
    notices: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not (sep and key in legacy):
            overrides.append(item)
            continue
        if ctx is not None and _given(ctx, key):  # one of them would be dropped without a word
            raise click.UsageError(f"'{item}' and --{key} both given; keep --{key}")
        param = params.get(key)
        if param is not None and ctx is not None:
            options[key] = param.process_value(ctx, value)  # the line `--key value` gets
        elif isinstance(legacy, Mapping):
            try:
                options[key] = legacy[key](value)
            except ValueError:
                from ganhub.errors import UsageError, one_line

                raise UsageError(f"{one_line(item, 60)}: not a valid {key}") from None
        else:  # the plugin author's mistake, not the user's
            raise ValueError(f"{command} has no option --{key} to take '{key}=' for")
        notices.append(f"ganhub: '{item}' is deprecated for {command}; write --{key} {value}")
    for line in notices:  # once every value is known good: a refusal is the one line said
        click.echo(line, err=True)
    return overrides, options


def _given(ctx: click.Context, name: str) -> bool:
    """Whether option `name` was given on the command line, to this command or to the
    deprecated alias that invoked it (`ganhub generate`: same options, one level up)."""
    for level in (ctx, ctx.parent):
        if (
            level is not None
            and any(p.name == name for p in level.command.params)
            and level.get_parameter_source(name) == ParameterSource.COMMANDLINE
        ):
            return True
    return False


# config sections only training reads (`eval` is scoring's): commands that neither train nor
# score refuse them as no-ops, and a `--flag` naming one of their keys is pointed at ganhub run
TRAINING_ONLY = frozenset(
    {"trainer", "optim", "loss", "tricks", "trick", "loggers", "logger", "eval", "resume",
     "init_from", "out_dir", "name"}
)  # fmt: skip


@dataclass(frozen=True)
class ConfigKeys:
    """The config keys a `KeyValueCommand` reads, for the hint on a `--flag` that is a config
    key: `command` (`ganhub sample`) reads a key whose first part is in `sections`, or every
    key but those of `TRAINING_ONLY` where `sections` is None; `says` names them for people
    (`sampling keys (sample.*, model.*, data.*, device)`)."""

    command: str
    says: str
    sections: frozenset[str] | None = None

    def reads(self, key: str) -> bool:
        """Whether the command takes `key=VALUE`."""
        section = key.split(".")[0]
        return section not in TRAINING_ONLY if self.sections is None else section in self.sections


# what `ganhub sample` and the commands that sample or explore a trained run read
SAMPLING_KEYS = ConfigKeys("ganhub sample", "sampling keys (sample.*, model.*, data.*, device)")


class KeyValueCommand(click.Command):
    """A command that takes key=value items (and paths) among its options: click passes an
    unknown `--flag` through to them, where it was taken for an override or a DATA path and
    failed with a message that never said so. Here it is refused as click refuses one, naming
    the closest real option, before anything else is checked (a required option included).

    A `--flag` that is a config key is refused naming the key to write instead (`--steps 5`:
    trainer.steps=5); `keys=ConfigKeys(...)` (`@click.command(cls=KeyValueCommand,
    keys=SAMPLING_KEYS)`) limits that to the keys the command reads, and names the command
    that takes the others (`--steps` to `ganhub sample`: a training key, for ganhub run)."""

    def __init__(self, *args: Any, keys: ConfigKeys | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = keys

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
                keys = _keys_named(name, args)
                if not keys:
                    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
                    raise click.NoSuchOption(name, possibilities=close, ctx=ctx)
                raise click.NoSuchOption(name, _as_keys(name, keys, args, self.keys), ctx=ctx)
        return super().parse_args(ctx, args)


def _keys_named(flag: str, args: Sequence[str]) -> list[str]:
    """The config keys an unknown `--flag` names by their last part (`--steps`:
    trainer.steps) or whole (`--trainer.steps`), those of the plugin=NAME given or else of
    every domain; keys of a trick's or logger's options only when no other key is named so."""
    from ganhub.config.resolve import config_class, describe_keys
    from ganhub.plugins import get_hub

    word = flag.lstrip("-").replace("-", "_")
    hub = get_hub()
    names = hub.domains.names()
    given = [a.partition("=")[2] for a in args if a.startswith("plugin=")]
    keys: set[str] = set()
    for name in [n for n in given[-1:] if n in names] or names:
        try:
            domain = hub.require_domain(name)
            keys.update(row[0] for row in describe_keys(config_class(domain.config_class, hub)))
        except Exception:  # a broken domain: the command says so, not the option's refusal
            continue
    found = sorted(k for k in keys if k == word or k.endswith(f".{word}"))
    return [k for k in found if k.split(".")[0] not in ("trick", "logger")] or found


def _as_keys(
    flag: str, keys: list[str], args: Sequence[str], reads: ConfigKeys | None = None
) -> str:
    """The one line refusing `flag` that names the config keys it may have meant, with the
    value given after it (`--steps 5`, `--steps=5`), else VALUE: of those keys, the ones the
    command `reads`; where it reads none, the command that does."""
    from ganhub.errors import one_line

    value = _value_of(flag, args)
    taken = keys if reads is None else [k for k in keys if reads.reads(k)]
    shown = " or ".join(f"{k}={one_line(value, 40) or 'VALUE'}" for k in (taken or keys)[:3])
    head = f"No such option '{one_line(flag, 60)}'"
    if taken or reads is None:
        return f"{head}: config keys are given as key=value: {shown}"
    return (
        f"{head}: {shown} is for {_reader(keys[0])}, not {reads.command}, which takes {reads.says}"
    )


def _value_of(flag: str, args: Sequence[str]) -> str:
    """The value given with an unknown `flag` (`--steps 5`, `--steps=5`: 5), or ""."""
    at = args.index(flag) if flag in args else -1
    item = args[at] if at >= 0 else next((a for a in args if a.startswith(f"{flag}=")), "")
    value = item.partition("=")[2]
    if not value and 0 <= at < len(args) - 1:
        after = args[at + 1]
        if "=" not in after and (after[:1] != "-" or after[1:2].isdigit()):
            value = after
    return value


# the names that scripts of the literature (NVIDIA's stylegan2-ada and stylegan3 generate.py,
# their forks) give a ganhub option: `--class 3` is pointed at --label, where the command has it
OPTION_ALIASES: dict[str, tuple[str, ...]] = {
    "--label": ("--class", "--class-idx", "--class_idx"),
    "--psi": ("--trunc", "--truncation", "--truncation-psi", "--truncation_psi"),
    "--out": ("--outdir", "--out-dir", "--output", "--output-dir"),
    "--seed": ("--seeds",),  # only to a command that takes one seed
}


def alias_line(flag: str, command: click.Command, path: str, args: Sequence[str]) -> str:
    """The one line refusing an unknown `flag` that another tool's users give for an option
    `command` (called as `path`, `ganhub stylegan mix`) has (`No such option '--class'; ganhub
    stylegan mix calls it --label (--label 3)`), or "" where it has no such option."""
    from ganhub.errors import one_line

    for option, aliases in OPTION_ALIASES.items():
        if flag not in aliases:
            continue
        param = next((p for p in command.params if option in p.opts), None)
        if param is None or (option == "--seed" and param.multiple):
            continue
        value = one_line(_value_of(flag, args), 40)
        head = f"No such option '{flag}'; {path}"
        if option == "--seed":  # `--seeds 0-35` is a range: one seed a call here
            shown = value if value.isdigit() else "N"
            return f"{head} takes one seed per call, as --seed ({option} {shown})"
        return f"{head} calls it {option} ({option} {value or 'VALUE'})"
    return ""


def _reader(key: str) -> str:
    """The command that reads a config key (`ganhub run` for trainer.steps)."""
    section = key.split(".")[0]
    if section == "eval":
        return "ganhub eval (or ganhub run, which scores as it trains)"
    if section in TRAINING_ONLY:
        return "ganhub run (training only)"
    return "ganhub sample" if section == "sample" else "ganhub run"


def device_option(
    help_text: str = "Device the run is loaded on: cpu, cuda, cuda:N, mps or auto.",
) -> Callable[[Any], Any]:
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


def default_output(
    run_dir: Path,
    exported: bool,
    *,
    from_data: bool = False,
    name: str = "samples",
    what: str = "samples",
) -> tuple[Path, str]:
    """(where a command writes without --out, a note on it or ''): RUN_DIR/NAME, but not into
    an export (`exported`, a TrainedGAN's): it is made for sharing (and may be on a read-only
    share), so the output goes beside it, to ./NAME-EXPORT (`samples-EXPORT`; NAME `eval.json`
    gives `eval-EXPORT.json`). The note says so, `what` naming the output, and also where the
    samples show or are made from the user's data (`from_data`: the run's system declares
    `ganhub.export.SAMPLES_FROM_DATA`), which an export holds none of."""
    from ganhub.errors import one_line

    if not exported:
        return run_dir / name, ""
    stem, dot, suffix = name.partition(".")
    out = Path(f"{stem}-{run_dir.resolve().name or 'export'}{dot}{suffix}")
    why = (
        f", and these {what} show or are made from your data: they"
        if from_data
        else f": the {what}"
    )
    choose = "--out FILE" if dot else "--out DIR"
    return out, (
        f"ganhub: note: '{one_line(run_dir)}' is an export, made for sharing{why} are in "
        f"'{one_line(out)}', not in the export ({choose} to choose)"
    )


# `write_samples` draws its samples as one batch into one artifact (a grid, a text file, a
# set of volumes): 10,000 is a 100 x 100 grid, far past what a grid is read for
MAX_WRITTEN_SAMPLES = 10_000


__all__ = [
    "HELP",
    "MAX_WRITTEN_SAMPLES",
    "OPTION_ALIASES",
    "RUN_DIR",
    "SAMPLING_KEYS",
    "SEED",
    "TRAINING_ONLY",
    "ConfigKeys",
    "KeyValueCommand",
    "RealNumber",
    "WholeNumber",
    "alias_line",
    "default_output",
    "deprecated_alias",
    "device_option",
    "domain_group",
    "is_export",
    "split_overrides",
]
