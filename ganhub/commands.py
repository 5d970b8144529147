"""The built-in commands, added through `register_commands` like any plugin's commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ganhub.clikit import (
    MAX_WRITTEN_SAMPLES,
    RUN_DIR,
    SAMPLING_KEYS,
    SEED,
    TRAINING_ONLY,
    KeyValueCommand,
    WholeNumber,
    default_output,
    device_option,
    split_overrides,
)
from ganhub.hookspecs import hookimpl
from ganhub.registry import KINDS

_OVERRIDES = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


# a help flag of the command's own (click's would print the help before plugin=NAME is read)
def _help_flag(text: str) -> Callable[[Any], Any]:
    return click.option("-h", "--help", "wants_help", is_flag=True, help=text)


@click.command(cls=KeyValueCommand, context_settings=_OVERRIDES)
@click.option(
    "--config", "config_files", multiple=True, type=click.Path(), help="YAML file(s) merged first."
)
@_help_flag(
    "Show this message and exit; with plugin=NAME (or resume=RUN_DIR: its plugin), the keys of "
    "that plugin, then of its enabled tricks, with their values once the keys given apply (a "
    "mistake in them is an error, as in ganhub config), and the other tricks by name."
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context, config_files: tuple[str, ...], wants_help: bool, overrides: tuple[str, ...]
) -> None:
    """Train: ganhub run plugin=NAME [key.sub=value ...] [--config FILE].

    \b
    Overrides are dotted keys: trainer.steps=2000, optim.D.lr=4e-4, tricks=[ema,r1],
    trick.r1.gamma=5, data=folder data.path=DIR, preset=NAME, config=FILE.yaml,
    resume=RUN_DIR (continue a run). `ganhub run plugin=NAME --help` lists the keys.
    """
    from ganhub.config.resolve import resolve

    items = list(overrides)
    if wants_help:
        click.echo(_plugin_help(ctx, items, config_files))
        return
    config = resolve(items, config_files)
    from ganhub.api import train
    from ganhub.console import summary_line

    summary = train(config)
    if summary["rank"] == 0 and not config.trainer.progress:
        click.echo(summary_line(summary))  # a quiet run's one line (else the console's table)
    if summary["rank"] == 0 and config.resume and not summary["steps_this_session"]:
        _say_finished(summary)
    if summary["signal"]:  # stopped by SIGINT/SIGTERM after saving: the conventional status
        raise SystemExit(128 + summary["signal"])


def _say_finished(summary: dict[str, Any]) -> None:
    """A plain resume of a finished run trains nothing: say how to train on, as the refusal
    of a resume with fewer trainer.steps does (a run a signal stopped has steps left)."""
    if summary["stopped_early"]:
        return
    from ganhub.console import resume_command

    steps = summary["steps"]  # the torchrun line under torchrun, as a stopped run's
    click.echo(
        f"ganhub: note: the run had reached trainer.steps={steps}, so no step was trained; "
        f"to train on: {resume_command(summary)} trainer.steps=N (N above {steps})",
        err=True,
    )


def _plugin_help(ctx: click.Context, items: list[str], files: tuple[str, ...]) -> str:
    from ganhub.config.overrides import merge_sources
    from ganhub.plugins import get_hub
    from ganhub.run_help import plugin_help

    merged = merge_sources(items, files)
    plugin, resumed = merged.get("plugin"), merged.get("resume")
    if not plugin and resumed:  # `ganhub run resume=RUN --help`: the keys of the run's domain
        from ganhub.config.resolve import resolve

        plugin = resolve(items, files, training=False).plugin
    if not plugin:
        domains = ", ".join(get_hub().domains.names())
        return (
            ctx.get_help() + f"\n\nDomains: {domains}\nKeys of one: ganhub run plugin=NAME --help"
        )
    given = f"resume={resumed}" if resumed and "plugin" not in merged else f"plugin={plugin}"
    return plugin_help(items, files, str(plugin), given)


@click.command(name="config", cls=KeyValueCommand, context_settings=_OVERRIDES)
@click.option(
    "--config", "config_files", multiple=True, type=click.Path(), help="YAML file(s) merged first."
)
@_help_flag("Show this message and exit.")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def config_cmd(
    ctx: click.Context, config_files: tuple[str, ...], wants_help: bool, overrides: tuple[str, ...]
) -> None:
    """Print the resolved config as YAML: ganhub config plugin=NAME [key=value ...]; the
    warnings about its tricks and domain that ganhub run would give at the start go to
    stderr."""
    from ganhub.config.overrides import dump_yaml
    from ganhub.config.resolve import resolve
    from ganhub.config.schema import patience_warnings, with_absolute_paths
    from ganhub.errors import plugin_code
    from ganhub.plugin_guard import Owners, hub_hint, listed_text
    from ganhub.plugins import get_hub
    from ganhub.tricks import config_warnings

    items = list(overrides)
    if wants_help:
        click.echo(ctx.get_help())
        return
    hub = get_hub()
    config = resolve(items, config_files, hub)
    # before any output: a trick whose warnings() raises prints no half of the answer
    owners = Owners({"tricks": [hub.provider("tricks", name) for name in config.tricks]})
    classes = {name: hub.tricks.get(name) for name in config.tricks}
    warnings = config_warnings(config, hub.losses.get(config.loss), classes, owners)
    warnings += patience_warnings(config)
    # the domain's own (`Domain.warnings`), the lines a run prints before its start banner
    said, hint = f"domain '{config.plugin}': its warnings()", hub_hint(hub, "domain", config.plugin)
    with plugin_code(said, hint):
        found = hub.require_domain(config.plugin).warnings(config)
    warnings += listed_text(found, said, hint)
    data = with_absolute_paths(config, config.model_dump(mode="json"))  # as a run writes it
    click.echo(dump_yaml(data, sort_keys=False).rstrip())
    # on stderr, so that `ganhub config ... > run.yaml` keeps the YAML alone; last, so that
    # they are what a long config leaves on the screen
    for line in warnings:
        click.echo(line, err=True)


@click.command()
def plugins() -> None:
    """List every plugin: version, distribution, status, and what it registers."""
    from ganhub.errors import one_line
    from ganhub.plugin_fixes import misplaced_entry_points, other_environment
    from ganhub.plugins import get_hub

    hub = get_hub()
    hub.failures()  # run every plugin's discovery hooks, so what each registered is known
    elsewhere = other_environment()  # a --system-site-packages venv's plugins are not seen
    if elsewhere:
        click.echo(one_line(f"note: {elsewhere}", 2000))
    # an installed package's metadata and errors are its own text: control characters are
    # shown escaped, so no plugin can clear or retitle the terminal
    for info in hub.plugins.values():
        head = f"{info.name}  {info.dist} {info.version}  [{info.status}]"
        click.echo(one_line(head, 300))
        for kind, names in info.registered.items():
            if names:
                click.echo(one_line(f"    {kind}: {', '.join(names)}"))
        hooks = lifecycle_hooks(hub.pm, info.name)  # run in every run, whatever its domain
        if hooks:
            click.echo(one_line(f"    hooks: {', '.join(hooks)}"))
        if info.warning:  # it loads, under a name other than its domain's
            click.echo(one_line(f"    warning: {info.warning}", 2000))
        if info.status == "disabled":  # the user's choice, not an error
            click.echo(one_line(f"    off:   {info.error}; {info.fix}", 2000))
        elif info.status != "ok":
            click.echo(one_line(f"    error: {info.error}", 2000))
            click.echo(one_line(f"    fix:   {info.fix}", 2000))
            if info.trace:  # GANHUB_DEBUG=1: the plugin author's traceback, as it is
                click.echo(info.trace.rstrip())
    for line in misplaced_entry_points():  # never loaded: said, not left out
        click.echo(one_line(line, 2000))


def lifecycle_hooks(pm: Any, plugin: str) -> list[str]:
    """The lifecycle hooks (`before_train`, `after_step`...) the plugin `plugin` implements, in
    the order a run calls them; none for a plugin that is not registered (`pm`: pluggy's)."""
    from ganhub import hookspecs

    registered = pm.get_plugin(plugin)
    if registered is None:
        return []
    found = {caller.name for caller in pm.get_hookcallers(registered) or []}
    specs = [name for name, obj in vars(hookspecs).items() if hasattr(obj, "ganhub_spec")]
    return [name for name in specs if name in found and not name.startswith("register_")]


# `ganhub sample --n`: one line naming it and its range for a count it cannot draw
_SAMPLES = WholeNumber(1, MAX_WRITTEN_SAMPLES, "counts the samples to write")


class _Kind(click.Choice):
    """A registry kind; the singular (`trick`, `loss`) is taken for the plural."""

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> Any:
        """The kind, from its plural or singular name, in any case (`Tricks`)."""
        value = value.lower() if isinstance(value, str) else value
        for plural in (f"{value}s", f"{value}es"):
            if plural in self.choices:
                return plural
        return super().convert(value, param, ctx)


@click.command(name="list")
@click.argument("kind", type=_Kind(KINDS), metavar="KIND")
def list_cmd(kind: str) -> None:
    """List registry entries with descriptions: KIND is domains, losses, tricks, metrics,
    loggers or conditioners."""
    from ganhub.errors import one_line
    from ganhub.plugins import get_hub

    registry = getattr(get_hub(), kind)
    entries = list(registry)
    if not entries:
        click.echo(f"no {kind} registered")
        return
    width = max(len(e.name) for e in entries)
    for e in entries:
        click.echo(one_line(f"{e.name:<{width}}  {e.description}  [{e.plugin}]"))


@click.command(
    cls=KeyValueCommand,
    keys=SAMPLING_KEYS,
    context_settings={**_OVERRIDES, "help_option_names": ["-h", "--help"]},
)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--n", "n", type=_SAMPLES, default=None,
              help="Samples to write  [default: the domain's usual count, as in "
              "the run's own sample files: the run's sample.grid (stylegan), an 8 x 8 grid "
              "(dcgan), 2,500 points (toy2d), 20 lines (textgan)...; with --label, the run's "
              "sample.grid, else 64]")  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True, help="Sampling seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder  [default: RUN_DIR/samples; for an export, "
              "./samples-EXPORT]")  # fmt: skip
@device_option()
@click.option("--label", default=None,
              help="Conditional runs: samples of this class only (its name, or its index where "
              "names are not numbers; 1,2,3 for several label factors)  [default: a grid with "
              "one row per class]")  # fmt: skip
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def sample(
    run_dir: Path,
    n: int | None,
    seed: int,
    out: Path | None,
    device: str,
    label: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Write samples of a trained run: ganhub sample RUN_DIR [--n N] [--seed 0] [--out DIR].

    \b
    Any domain: the domain's own artifact (a PNG grid, text, NIfTI...) from its latest
    checkpoint (EMA weights when the run used ema), as many samples as the run's own sample
    files show unless --n says; conditional runs write one row per class, or, with --label,
    only a grid of that class (stylegan's mixing grid and GIF of one class: ganhub stylegan
    explore RUN_DIR --label L). key=value items change the run's config for sampling, e.g.
    sample.psi=0.5 for stylegan.
    """
    from ganhub.api import load
    from ganhub.errors import UsageError, one_line
    from ganhub.export import SAMPLES_FROM_DATA
    from ganhub.runfiles import check_run_destination

    # each old form checked as its option checks it, before the notice (clikit's)
    items, old = split_overrides(
        overrides, ("n", "seed", "out", "device", "label"), "ganhub sample"
    )
    for item in items:  # what only training reads would change nothing here
        key = item.partition("=")[0]
        if key.split(".")[0] in TRAINING_ONLY:
            raise UsageError(
                f"{one_line(key, 60)}: ganhub sample does not train or score, so it reads no "
                f"{key.split('.')[0]} key; give sampling keys (sample.*, model.*, data.*, device)"
            )
    n, seed, label = old.get("n", n), old.get("seed", seed), old.get("label", label)
    out = old.get("out", out)
    if out is not None:  # before the run is read: nothing is written where it is refused
        check_run_destination(out, run_dir, into=True)
        _refuse_unwritable(out, given=True)
    model = load(run_dir, device=str(old.get("device", device)), overrides=items)
    said = ""
    if out is None:
        data = model.exported and model.system.capabilities().can(SAMPLES_FROM_DATA)
        out, said = default_output(run_dir, model.exported, from_data=data)
        _refuse_unwritable(out, given=False)
    options = sample_options_stem(items)
    if label is not None:
        paths = [model.write_class(out, label, n=n, seed=seed, suffix=options)]
    else:
        # without --n the domain's usual count (the run's sample.grid...), named without it
        count = "" if n is None else f"_n{n}"
        paths = model.write_samples(out, f"sample_seed{seed}{count}{options}", n=n, seed=seed)
    if said:  # once they are written: an error first would make it two lines
        click.echo(said, err=True)
    click.echo("\n".join(str(p) for p in paths))


def _refuse_unwritable(out: Path, given: bool) -> None:
    """One line before any sample is drawn when `out` cannot take files (a run on a read-only
    mount, another user's run): the OS error named a hidden temporary file in it, and without
    --out it did not say that --out writes elsewhere."""
    import os

    from ganhub.errors import UsageError, one_line
    from ganhub.metrics.store import read_only

    for folder in (out, *out.parents):  # the nearest folder that exists must take files
        if not folder.exists():
            continue
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            shown = one_line(folder, 200)
            why = (
                f"{shown} is on a read-only file system"
                if read_only(folder)
                else (f"no permission to write in {shown}")
            )
            hint = "; give another --out" if given else "; give --out DIR to write them elsewhere"
            raise UsageError(f"samples cannot be written to '{one_line(out, 200)}': {why}{hint}")
        return


def sample_options_stem(items: Sequence[str]) -> str:
    """The `sample.*` and `model.*` keys given, for a file name (`_psi0.3_cutoff4`,
    `_inferencepaper`; a hash when long): a second call with other sampling options or
    another way of running the generator writes beside the first, not over it."""
    import hashlib

    shown = []
    for item in items:
        key, _, value = item.partition("=")
        if key.startswith(("sample.", "model.")):
            text = key.partition(".")[2] + value
            shown.append("".join(c if c.isalnum() or c in ".-" else "-" for c in text))
    joined = "_".join(shown)
    if len(joined) > 60:
        joined = "options" + hashlib.sha1(joined.encode()).hexdigest()[:8]
    return f"_{joined}" if joined else ""


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the built-in commands."""
    from ganhub.adapt import adapt_command
    from ganhub.data_commands import data_group
    from ganhub.export import export_command
    from ganhub.scaffold import new_plugin

    for command in (run, config_cmd, plugins, list_cmd, sample, data_group, new_plugin):
        cli.add_command(command)
    cli.add_command(export_command)
    cli.add_command(adapt_command)
