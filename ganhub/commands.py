"""The built-in commands, added through `register_commands` like any plugin's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ganhub.hookspecs import hookimpl
from ganhub.registry import KINDS

_OVERRIDES = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


def _split(args: tuple[str, ...] | list[str]) -> tuple[list[str], bool]:
    wants_help = any(a in ("-h", "--help") for a in args)
    return [a for a in args if a not in ("-h", "--help")], wants_help


@click.command(context_settings=_OVERRIDES)
@click.option(
    "--config", "config_files", multiple=True, type=click.Path(), help="YAML file(s) merged first."
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, config_files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Train: ganhub run plugin=NAME [key.sub=value ...] [--config FILE].

    \b
    Overrides are dotted keys: trainer.steps=2000, optim.D.lr=4e-4, tricks=[ema,r1],
    trick.r1.gamma=5, data=folder data.path=DIR, preset=NAME, config=FILE.yaml,
    resume=RUN_DIR (continue a run). `ganhub run plugin=NAME --help` lists every key.
    """
    from ganhub.config.resolve import resolve

    items, wants_help = _split(overrides)
    if wants_help:
        click.echo(_plugin_help(ctx, items))
        return
    config = resolve(items, config_files)
    from ganhub.api import train

    summary = train(config)
    if summary["rank"] == 0:
        click.echo(_summary_line(summary))


def _plugin_help(ctx: click.Context, items: list[str]) -> str:
    from ganhub.config.overrides import merge_sources
    from ganhub.config.resolve import config_class, describe_keys
    from ganhub.plugins import get_hub

    hub = get_hub()
    plugin = merge_sources(items).get("plugin")
    if not plugin:
        domains = ", ".join(hub.domains.names())
        return (
            ctx.get_help() + f"\n\nDomains: {domains}\nKeys of one: ganhub run plugin=NAME --help"
        )
    domain = hub.require_domain(str(plugin))
    rows = describe_keys(config_class(domain.config_class, hub))
    width = max(len(r[0]) for r in rows)
    lines = [f"ganhub run plugin={plugin} [key=value ...]", "", domain.description, ""]
    if domain.presets:
        lines += [f"presets: {', '.join(domain.presets)} (preset=NAME)", ""]
    lines.append("keys (type, default): description")
    for key, typ, default, desc in rows:
        if key == "plugin":
            continue
        lines.append(
            f"  {key:<{width}}  {typ} = {default}"
            + (f"\n  {'':<{width}}    {desc}" if desc else "")
        )
    return "\n".join(lines)


def _summary_line(summary: dict[str, Any]) -> str:
    """One line: where training ended, how fast, where the outputs are, the final metrics."""
    rate = summary["steps_this_session"] / max(summary["seconds"], 1e-9)
    state = "stopped" if summary["stopped_early"] else "done"
    line = (
        f"ganhub: {state} at step {summary['steps']} ({summary['seconds']:.1f} s, {rate:.1f} steps/s); "
        f"outputs in {summary['run_dir']}"
    )
    if summary["samples"]:
        run_dir = summary["run_dir"].rstrip("/") + "/"
        line += f" (samples: {', '.join(s.removeprefix(run_dir) for s in summary['samples'])})"
    if summary["metrics"]:
        line += "; " + " ".join(f"{k}={_fmt(v)}" for k, v in summary["metrics"].items())
    if summary["stopped_early"]:
        line += f"\ncontinue with: ganhub run resume={summary['run_dir']}"
    return line


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@click.command(name="config", context_settings=_OVERRIDES)
@click.option(
    "--config", "config_files", multiple=True, type=click.Path(), help="YAML file(s) merged first."
)
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def config_cmd(
    ctx: click.Context, config_files: tuple[str, ...], overrides: tuple[str, ...]
) -> None:
    """Print the resolved config as YAML: ganhub config plugin=NAME [key=value ...]."""
    import yaml

    from ganhub.config.resolve import resolve

    items, wants_help = _split(overrides)
    if wants_help:
        click.echo(ctx.get_help())
        return
    config = resolve(items, config_files)
    click.echo(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False).rstrip())


@click.command()
def plugins() -> None:
    """List every plugin: version, distribution, status, and what it registers."""
    from ganhub.plugins import get_hub

    hub = get_hub()
    for info in hub.plugins.values():
        head = f"{info.name}  {info.dist} {info.version}  [{info.status}]"
        click.echo(head)
        for kind, names in info.registered.items():
            if names:
                click.echo(f"    {kind}: {', '.join(names)}")
        if info.status != "ok":
            click.echo(f"    error: {info.error}")
            click.echo(f"    fix:   {info.fix}")


@click.command(name="list")
@click.argument("kind", type=click.Choice(KINDS))
def list_cmd(kind: str) -> None:
    """List registry entries (domains, losses, tricks, metrics, loggers) with descriptions."""
    from ganhub.plugins import get_hub

    registry = getattr(get_hub(), kind)
    entries = list(registry)
    if not entries:
        click.echo(f"no {kind} registered")
        return
    width = max(len(e.name) for e in entries)
    for e in entries:
        click.echo(f"{e.name:<{width}}  {e.description}  [{e.plugin}]")


@click.command(context_settings={"allow_extra_args": True, "help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def sample(run_dir: Path, options: tuple[str, ...]) -> None:
    """Write samples of a trained run: ganhub sample RUN_DIR [n=64] [seed=0] [out=DIR] [device=cpu]."""
    from ganhub.api import load
    from ganhub.config.overrides import parse_override
    from ganhub.errors import UsageError

    opts: dict[str, Any] = {"n": 64, "seed": 0, "out": run_dir / "samples", "device": "cpu"}
    for item in options:
        (key, *rest), value = parse_override(item)
        if key not in opts or rest:
            raise UsageError(f"unknown option '{item.split('=')[0]}'; valid: n, seed, out, device")
        opts[key] = value
    n, seed = opts["n"], opts["seed"]
    if not isinstance(n, int) or n < 1:
        raise UsageError(f"n={n}: must be a positive integer")
    if not isinstance(seed, int):
        raise UsageError(f"seed={seed}: must be an integer")
    model = load(run_dir, device=str(opts["device"]))
    paths = model.write_samples(Path(str(opts["out"])), f"sample_seed{seed}_n{n}", n=n, seed=seed)
    click.echo("\n".join(str(p) for p in paths))


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the built-in commands."""
    for command in (run, config_cmd, plugins, list_cmd, sample):
        cli.add_command(command)
