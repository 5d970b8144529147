"""`ganhub translate`: added through `register_commands`; torch is imported only when it runs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="translate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--input", "inputs", required=True, type=click.Path(path_type=Path),
              help="An image file, or a folder of images (searched recursively).")  # fmt: skip
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="AtoB uses G_AB, BtoA uses G_BA; a mode=paired run has AtoB only.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder for the PNGs  [default: RUN_DIR/translated_<direction>]")  # fmt: skip
@click.option("--size", type=int, default=None,
              help="Resize inputs to this square side first  [default: the run's model.image_size]")  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N, mps or auto.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Images translated at once.")  # fmt: skip
def translate_command(
    run_dir: Path,
    inputs: Path,
    direction: str,
    out: Path | None,
    size: int | None,
    device: str,
    batch_size: int,
) -> None:
    """Translate images with a trained cyclegan run.

    \b
    ganhub translate RUN_DIR --input DIR_OR_FILE [--direction AtoB|BtoA] [--out DIR]
    Writes one PNG per input image (same name, sub-folders kept) at the run's image size.
    """
    from ganhub_cyclegan.translation import translate

    paths = translate(
        run_dir, inputs, direction, out, device=device, size=size, batch_size=batch_size
    )
    where = out if out is not None else run_dir / f"translated_{direction}"
    click.echo(f"ganhub: wrote {len(paths)} translated image(s) to {where}")
