"""`ganhub generate` and `ganhub transfer`: added through `register_commands`; torch and
transformers are imported only when a command runs."""

from __future__ import annotations

from pathlib import Path

import click

from ganhub.errors import UsageError


@click.command(name="generate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("options", nargs=-1)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N, mps or auto.")
def generate_command(run_dir: Path, options: tuple[str, ...], device: str) -> None:
    """Print sentences from a trained textgan run (task=generate).

    \b
    ganhub generate RUN_DIR [n=20] [seed=0]
    """
    values = {"n": 20, "seed": 0}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in values:
            raise UsageError(f"'{option}': expected n=INT or seed=INT")
        try:
            values[key] = int(value)
        except ValueError:
            raise UsageError(f"{key}={value}: not an integer") from None
    from ganhub_textgan.api import generate

    for line in generate(run_dir, n=values["n"], seed=values["seed"], device=device):
        click.echo(line)


@click.command(name="transfer", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("texts", nargs=-1, required=True)
@click.option("--to", "to", required=True, help="Target style: a style name of the run, or 0/1.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N, mps or auto.")
def transfer_command(run_dir: Path, texts: tuple[str, ...], to: str, device: str) -> None:
    """Rewrite sentences into another style with a trained textgan run (task=transfer).

    \b
    ganhub transfer RUN_DIR --to positive "the food was awful" ["another sentence" ...]
    """
    from ganhub_textgan.api import transfer

    for line in transfer(run_dir, list(texts), to, device=device):
        click.echo(line)
