"""`ganhub textgan generate` and `ganhub textgan transfer`, added through `register_commands`.

The old top-level `ganhub generate` / `ganhub transfer` stay for one release as deprecated
aliases. Imports click only: torch and transformers load when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import click
from ganhub_textgan.temperature import MAX_TEMPERATURE, MIN_TEMPERATURE

from ganhub.clikit import (
    HELP,
    RUN_DIR,
    SEED,
    RealNumber,
    WholeNumber,
    default_output,
    deprecated_alias,
    device_option,
    domain_group,
    is_export,
    split_overrides,
)
from ganhub.errors import UsageError

# refused in one line naming the option, the value and the range (not click's wording)
_SENTENCES = WholeNumber(1, None, "counts the sentences to print")
_PER_TEMPERATURE = WholeNumber(1, None, "counts the samples scored per temperature")
# sample.temperature's range, one for the option, the key and the API
_TEMPERATURE = RealNumber(
    MIN_TEMPERATURE,
    MAX_TEMPERATURE,
    "is the softmax temperature of sampling, as sample.temperature (near 0: "
    "greedy decoding; below 1: safer, less varied sentences)",
)


def _echo_samples(lines: list[str]) -> None:
    """Print one sample a line (`sample_line`: an empty one as `(empty)`, a line break inside
    one escaped), as samples/*.txt holds them."""
    from ganhub_textgan.textfile import sample_line

    for line in lines:
        click.echo(sample_line(line))


@click.command(name="generate", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--n", "n", type=_SENTENCES, default=20, show_default=True,
              help="Sentences to print.")  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True, help="Sampling seed.")
@click.option("--temperature", type=_TEMPERATURE, default=None,
              help="Softmax temperature, 1.2e-38 to 100 (below 1: safer, less varied "
                   "sentences)  [default: the run's sample.temperature (1 unless it set "
                   "one)]")  # fmt: skip
@device_option()
@click.argument("legacy", nargs=-1, metavar="")
def generate_command(
    run_dir: Path, n: int, seed: int, temperature: float | None, device: str,
    legacy: tuple[str, ...],
) -> None:  # fmt: skip
    """Print sentences from a trained textgan run (task=generate).

    \b
    ganhub textgan generate RUN_DIR [--n 20] [--seed 0] [--temperature 0.8]
    """
    # the old n=20 seed=0: checked as --n and --seed check them, before the notice
    rest, old = split_overrides(legacy, ("n", "seed"), "ganhub textgan generate")
    if rest:
        raise UsageError(
            f"'{rest[0]}': unexpected; options are --n INT, --seed INT and --temperature FLOAT"
        )
    n, seed = old.get("n", n), old.get("seed", seed)
    from ganhub_textgan.api import generate
    from ganhub_textgan.temperature import check_temperature

    if temperature is not None:  # the range and message of the config's sample.temperature
        temperature = check_temperature(temperature, "--temperature")

    _echo_samples(generate(run_dir, n=n, seed=seed, device=device, temperature=temperature))


@click.command(name="transfer", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.argument("texts", nargs=-1, required=True)
@click.option("--to", "to", required=True, help="Target style: a style name of the run, or 0/1.")
@device_option()
def transfer_command(run_dir: Path, texts: tuple[str, ...], to: str, device: str) -> None:
    """Rewrite sentences into another style with a trained textgan run (task=transfer).

    \b
    ganhub textgan transfer RUN_DIR --to positive "the food was awful" ["another sentence" ...]
    """
    from ganhub_textgan.api import transfer_texts

    _echo_samples(transfer_texts(run_dir, list(texts), to, device=device, option="--to"))


# the curve's two axes and their BLEU counterparts, as the table shows them (all in the JSON)
CURVE_COLUMNS = ("nll_oracle", "nll_gen", "nll_div", "bleu3", "self_bleu3")


@click.command(name="curve", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--temperature", "temperatures", type=_TEMPERATURE, multiple=True, required=True,
              help="A sampling temperature, 1.2e-38 to 100; repeat it for a curve.")  # fmt: skip
@click.option("--n", "n", type=_PER_TEMPERATURE, default=None,
              help="Samples per temperature  [default: the run's eval.n_samples]")  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True, help="Sampling seed.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="JSON file to write  [default: RUN_DIR/temperatures.json; for an export, "
                   "./temperatures-EXPORT.json beside it]")  # fmt: skip
@device_option()
def curve_command(
    run_dir: Path, temperatures: tuple[float, ...], n: int | None, seed: int, out: Path | None,
    device: str,
) -> None:  # fmt: skip
    """Score a task=generate run at other sampling temperatures (quality-diversity curve).

    \b
    ganhub textgan curve RUN_DIR --temperature 0.8 [--temperature 1.2 ...] [--n N] [--out F]

    Each temperature is scored as `ganhub eval` scores the run at its own sample.temperature
    (text_nll, text_bleu); the run's eval.json is left as it is. Without --out the scores go
    to RUN_DIR/temperatures.json, or for an export (left as exported) to
    ./temperatures-EXPORT.json beside it.
    """
    import sys

    from ganhub_textgan.api import score_temperatures
    from ganhub_textgan.temperature import check_temperature

    from ganhub.console import Console
    from ganhub.metrics.store import check_output_file, write_json
    from ganhub.runfiles import check_run_destination

    for t in temperatures:  # before anything is opened: the config key's range and message
        check_temperature(t, "--temperature")
    note = ""
    if out is not None:  # not a file of a checkpoint, removed when it is pruned
        check_run_destination(out, run_dir)
    target = out
    if target is None:  # RUN_DIR/temperatures.json, or beside an export (made for sharing)
        target, note = default_output(run_dir, is_export(run_dir), name="temperatures.json",
                                      what="scores")  # fmt: skip
    check_output_file(target, "" if out is not None else "; give --out FILE to write elsewhere")
    with Console(file=sys.stderr).session():  # each metric's progress on stderr
        result = score_temperatures(
            run_dir, temperatures, n=n, seed=seed, device=device, option="--temperature"
        )
    write_json(target, result)
    points = result["points"]
    shown = [c for c in CURVE_COLUMNS if any(c in p for p in points)]
    click.echo("".join(f"{c:>12}" for c in ("temperature", *shown)))
    for p in points:
        cells = [f"{p[c]:>12.4g}" if c in p else f"{'-':>12}" for c in shown]
        click.echo(f"{p['temperature']:>12g}" + "".join(cells))
    if note:
        click.echo(note, err=True)
    click.echo(f"{result['n_samples']} samples per temperature, seed {seed}; written to {target}")


def add_commands(cli: click.Group) -> None:
    """`ganhub textgan generate|transfer`, and the old names for one release."""
    group = domain_group(
        cli,
        "textgan",
        "Text GANs (HF transformers): print samples of a run, transfer style, score it at "
        "other temperatures.",
    )
    group.add_command(generate_command)
    group.add_command(transfer_command)
    group.add_command(curve_command)
    deprecated_alias(cli, "generate", generate_command, "textgan generate")
    deprecated_alias(cli, "transfer", transfer_command, "textgan transfer")
