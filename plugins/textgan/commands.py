"""`ganhub textgan generate` and `ganhub textgan transfer`, added through `register_commands`.

The old top-level `ganhub generate` / `ganhub transfer` stay for one release as deprecated
aliases. Imports click only: torch and transformers load when a command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ganhub.clikit import (
    HELP,
    RUN_DIR,
    SEED,
    deprecated_alias,
    device_option,
    domain_group,
    split_overrides,
)
from ganhub.errors import UsageError

DEVICE_HELP = "cpu, cuda, cuda:N, mps or auto."


@click.command(name="generate", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--n", "n", type=click.IntRange(min=1), default=20, show_default=True,
              help="Sentences to print.")  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True, help="Sampling seed.")
@click.option("--temperature", type=click.FloatRange(min=0, max=100, min_open=True), default=None,
              help="Softmax temperature (below 1: safer, less varied sentences)  "
                   "[default: the run's sample.temperature (1 unless it set one)]")  # fmt: skip
@device_option(DEVICE_HELP)
@click.argument("legacy", nargs=-1, metavar="")
def generate_command(
    run_dir: Path, n: int, seed: int, temperature: float | None, device: str,
    legacy: tuple[str, ...],
) -> None:  # fmt: skip
    """Print sentences from a trained textgan run (task=generate).

    \b
    ganhub textgan generate RUN_DIR [--n 20] [--seed 0] [--temperature 0.8]
    """
    parsers: dict[str, Callable[[str], Any]] = {"n": int, "seed": int}
    rest, old = split_overrides(legacy, parsers, "ganhub textgan generate")
    if rest:
        raise UsageError(
            f"'{rest[0]}': unexpected; options are --n INT, --seed INT and --temperature FLOAT"
        )
    n, seed = old.get("n", n), old.get("seed", seed)
    from ganhub_textgan.api import generate

    for line in generate(run_dir, n=n, seed=seed, device=device, temperature=temperature):
        click.echo(line)


@click.command(name="transfer", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.argument("texts", nargs=-1, required=True)
@click.option("--to", "to", required=True, help="Target style: a style name of the run, or 0/1.")
@device_option(DEVICE_HELP)
def transfer_command(run_dir: Path, texts: tuple[str, ...], to: str, device: str) -> None:
    """Rewrite sentences into another style with a trained textgan run (task=transfer).

    \b
    ganhub textgan transfer RUN_DIR --to positive "the food was awful" ["another sentence" ...]
    """
    from ganhub_textgan.api import transfer_texts

    for line in transfer_texts(run_dir, list(texts), to, device=device, option="--to"):
        click.echo(line)


def add_commands(cli: click.Group) -> None:
    """`ganhub textgan generate|transfer`, and the old names for one release."""
    group = domain_group(
        cli, "textgan", "Text GANs (HF transformers): print samples of a run, transfer style."
    )
    group.add_command(generate_command)
    group.add_command(transfer_command)
    deprecated_alias(cli, "generate", generate_command, "textgan generate")
    deprecated_alias(cli, "transfer", transfer_command, "textgan transfer")
