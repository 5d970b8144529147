"""`ganhub interpret directions|features RUN`: the command line of the interpret plugin."""

from __future__ import annotations

from pathlib import Path

import click

from ganhub.clikit import HELP, RUN_DIR, SEED, WholeNumber, device_option

METHODS = ("sefa", "ganspace", "boundary")
# refused in one line naming the option, the value and the range (not click's wording)
_DIRECTIONS = WholeNumber(1, 64, "counts the directions to find and walk")
_CODES = WholeNumber(16, 100_000, "counts the codes sampled to fit and score the directions")
_IMAGES = WholeNumber(1, 16, "counts the samples shown")
_PROBE_CODES = WholeNumber(40, 100_000, "counts the codes sampled to fit and score the probes")


@click.group(context_settings=HELP)
def interpret() -> None:
    """Look inside a trained generator: latent directions, what its layers compute, and
    which factors linear probes read from each layer."""
    import sys

    from ganhub.console import Console

    # first-time work (training the digits classifier that scores walks and probes, about a
    # minute, then cached) shows its progress on stderr instead of a silent wait; stdout keeps
    # the results
    click.get_current_context().with_resource(Console(file=sys.stderr).session())


def _say_where(run_dir: Path, out: str | None) -> None:
    """Without --out, on an export: the note that the outputs went beside it, on stderr."""
    from ganhub_interpret.page import default_folder

    note = default_folder(run_dir)[1] if out is None else ""
    if note:
        click.echo(note, err=True)


def _page_out(out: str | None, default_name: str, run_dir: Path) -> Path | None:
    """--out as the page's path (None: RUN_DIR/interpret/, beside an export), refused where a
    viewing command's page may not go (`page_destination`) or where no output of a command on a
    run may (`check_run_destination`: the run's checkpoints/, as `ganhub export` refuses)."""
    from ganhub.export import check_run_destination
    from ganhub.metrics.store import page_destination

    page = page_destination(out, default_name, run_dir)
    if page is not None:
        check_run_destination(page, run_dir)
    return page


@interpret.command(name="directions", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--method", type=click.Choice(METHODS), default="sefa", show_default=True,
              help="How directions are found. sefa: a closed form from the first layer's "
              "weights; ganspace: PCA of early activations (or of w); boundary: linear SVMs on "
              "the factors of samples.")  # fmt: skip
@click.option("--directions", "n_directions", type=_DIRECTIONS, default=8,
              show_default=True, help="How many sefa/ganspace directions to find and walk "
              "(boundary: one per factor, and per class of a categorical one).")  # fmt: skip
@click.option("--samples", "n_samples", type=_CODES, default=2000,
              show_default=True, help="Codes sampled to fit ganspace/boundary and, for every "
              "method, to measure each direction's spread σ and score its walks.")  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the sampled codes.")
@device_option()
@click.option("--best", is_flag=True, help="Load the checkpoint kept by trainer.keep_best.")
@click.option("--out", type=click.Path(),
              help="HTML path, its PNGs in PAGE_files/ beside it; a folder "
              "(one that exists, or a path ending in /) takes directions-METHOD.html  "
              "[default: RUN_DIR/interpret/directions-METHOD.html; for an export, "
              "./interpret-EXPORT/ beside it]")  # fmt: skip
def directions_command(
    run_dir: Path, method: str, n_directions: int, n_samples: int, seed: int, device: str,
    best: bool, out: str | None,
) -> None:  # fmt: skip
    """Find latent directions of RUN_DIR's generator, walk each, and write an HTML page with
    the traversal grids and, on data with known factors, which factor each direction moves."""
    from ganhub_interpret.directions_page import write_directions_page

    import ganhub

    # refused before any work
    page_out = _page_out(out, f"directions-{method}.html", run_dir)
    given = click.get_current_context().get_parameter_source("n_directions")
    if method == "boundary" and given is not click.core.ParameterSource.DEFAULT:
        click.echo(
            f"ganhub: note: --directions {n_directions} is not used: --method boundary fits one "
            "boundary per factor (per class of a categorical one); --directions counts "
            "sefa/ganspace's",
            err=True,
        )
    trained = ganhub.load(run_dir, device=device, best=best)
    page = write_directions_page(
        trained, run_dir, method=method, n_directions=n_directions, n_samples=n_samples,
        seed=seed, out=page_out, say=lambda note: click.echo(f"ganhub: note: {note}", err=True),
    )  # fmt: skip
    _say_where(run_dir, out)
    click.echo(str(page))


@interpret.command(name="features", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the shown codes.")
@click.option("--images", "n_images", type=_IMAGES, default=4, show_default=True,
              help="Samples shown (each with its maps).")  # fmt: skip
@device_option()
@click.option("--best", is_flag=True, help="Load the checkpoint kept by trainer.keep_best.")
@click.option("--out", type=click.Path(),
              help="HTML path, its PNGs in PAGE_files/ beside it; a folder "
              "(one that exists, or a path ending in /) takes features.html  "
              "[default: RUN_DIR/interpret/features.html; for an export, "
              "./interpret-EXPORT/ beside it]")  # fmt: skip
def features_command(
    run_dir: Path, seed: int, n_images: int, device: str, best: bool, out: str | None
) -> None:
    """Write an HTML page of what RUN_DIR's networks compute for fixed codes: G's channel
    maps per layer, D's saliency (input gradients, integrated gradients) and attention maps."""
    from ganhub_interpret.features_page import write_features_page

    import ganhub

    page_out = _page_out(out, "features.html", run_dir)  # refused before any work
    trained = ganhub.load(run_dir, device=device, best=best)
    page = write_features_page(trained, run_dir, seed=seed, n_images=n_images, out=page_out)
    _say_where(run_dir, out)
    click.echo(str(page))


def _probes_out(out: str | None, run_dir: Path) -> Path | None:
    """--out as probes.json's path (None: RUN_DIR/interpret/, beside an export): a folder (one
    that exists, or a path ending in /) takes probes.json, as a page's --out takes the page.
    Refused before any work where no output of a command on a run may go (its checkpoints/),
    where no file can be written, or where it would replace a file that is not probes ganhub
    wrote (the run's config.yaml, a user's file)."""
    import os

    from ganhub_interpret.probes import written_probes

    from ganhub.errors import UsageError, one_line
    from ganhub.metrics.store import check_output_file
    from ganhub.runfiles import check_run_destination

    if out is None:
        return None
    if not out:
        raise UsageError("--out is empty; give the JSON file's path or a folder to write it into")
    folder = out.endswith(("/", os.sep)) or bool(os.altsep and out.endswith(os.altsep))
    path = Path(out) / "probes.json" if folder or Path(out).is_dir() else Path(out)
    check_run_destination(path, run_dir)
    check_output_file(path)
    if path.is_file() and not written_probes(path):
        raise UsageError(
            f"--out '{one_line(out, 200)}' exists and is not a probes.json ganhub wrote; give a "
            "new file, or remove it first"
        )
    return path


@interpret.command(name="probes", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--samples", "n_samples", type=_PROBE_CODES, default=2000,
              show_default=True,
              help="Codes sampled: 75 % fit the probes, 25 % score them.")  # fmt: skip
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the codes, split and shuffles.")  # fmt: skip
@device_option()
@click.option("--best", is_flag=True, help="Load the checkpoint kept by trainer.keep_best.")
@click.option("--out", type=click.Path(), help="JSON file of the scores; a folder (one that "
              "exists, or a path ending in /) takes probes.json  [default: "
              "RUN_DIR/interpret/probes.json; for an export, ./interpret-EXPORT/ beside "
              "it]")  # fmt: skip
def probes_command(
    run_dir: Path, n_samples: int, seed: int, device: str, best: bool, out: str | None
) -> None:
    """Fit a linear probe per layer of RUN_DIR's generator and per known factor of its data
    (data=shapes or digits) and print how well each layer predicts each factor of the image
    (held-out accuracy or R^2, beside a permutation baseline: the same probe on shuffled
    factors); writes RUN_DIR/interpret/probes.json (for an export, which stays as exported,
    ./interpret-EXPORT/probes.json beside it), or --out."""
    from ganhub_interpret.probes import probe_run

    import ganhub

    json_out = _probes_out(out, run_dir)  # refused before any work
    trained = ganhub.load(run_dir, device=device, best=best)
    table, path = probe_run(trained, run_dir, n_samples=n_samples, seed=seed, out=json_out)
    _say_where(run_dir, out)
    click.echo(table.text())
    click.echo(str(path))
