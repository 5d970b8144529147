"""`ganhub cyclegan translate`: added through `register_commands`; torch is imported only when it
runs. `ganhub translate` stays one release as a deprecated alias."""

from __future__ import annotations

from pathlib import Path

import click

from ganhub.clikit import (
    HELP,
    RUN_DIR,
    WholeNumber,
    default_output,
    deprecated_alias,
    device_option,
    domain_group,
    is_export,
)
from ganhub.plural import counted

# refused in one line naming the option, the value and the range (not click's wording)
_SIZE = WholeNumber(8, 4096, "is the square side the inputs are resized to")
_BATCH = WholeNumber(1, None, "counts the images translated at once")


@click.command(name="translate", context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--input", "inputs", required=True, type=click.Path(path_type=Path),
              help="An image file, or a folder of images (searched recursively).")  # fmt: skip
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="AtoB uses G_AB, BtoA uses G_BA; a task=paired run has AtoB only.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder for the PNGs  [default: RUN_DIR/translated_<direction>; for an "
                   "export, ./translated_<direction>-EXPORT beside it]")  # fmt: skip
@click.option("--size", type=_SIZE, default=None,
              help="Resize inputs to this square side first (8 to 4096 px, a multiple of the "
                   "generator's step)  [default: the run's model.image_size]")  # fmt: skip
@click.option("--keep-size", is_flag=True,
              help="Translate each image at its own size, each side rounded to the generator's "
                   "step (the original's --preprocess none); one image at a time.")  # fmt: skip
@click.option("--force", is_flag=True,
              help="Replace PNGs already in --out (without it such a file is refused, by name, "
                   "before anything is translated).")  # fmt: skip
@click.option("--pairs", is_flag=True,
              help="Each input is an A|B pair side by side (a pix2pix test/ folder): translate "
                   "the half the direction reads (A for AtoB; for a task=paired run its input "
                   "half), not the whole image.")  # fmt: skip
@device_option()
@click.option("--batch-size", type=_BATCH, default=16, show_default=True,
              help="Images translated at once.")  # fmt: skip
def translate_command(
    run_dir: Path,
    inputs: Path,
    direction: str,
    out: Path | None,
    size: int | None,
    keep_size: bool,
    force: bool,
    pairs: bool,
    device: str,
    batch_size: int,
) -> None:
    """Translate images with a trained cyclegan run.

    \b
    ganhub cyclegan translate RUN_DIR --input DIR_OR_FILE [--direction AtoB|BtoA] [--out DIR]
    [--pairs]
    Writes one PNG per input image (same name, sub-folders kept), at --size or the run's
    model.image_size, or with --keep-size at the image's own size, each side rounded to the
    generator's step (4 for ResNets: photos stay unsquashed; 2^levels for a U-Net).
    All or none: the PNGs are written to a hidden folder next to --out and moved into place
    only once every image is translated (an unreadable image leaves --out as it was). A PNG
    already in --out is refused unless --force. An export (`ganhub export`) is left as
    exported: without --out its translations go beside it, to ./translated_<direction>-EXPORT.
    """
    from ganhub_cyclegan.translation import translate

    from ganhub.runfiles import check_run_destination

    note = ""
    if out is not None:  # not in checkpoints/: a resume reads its folders, pruning removes them
        check_run_destination(out, run_dir, into=True)
    else:  # RUN_DIR/translated_<direction>, or beside an export (made for sharing), not in it
        out, note = default_output(run_dir, is_export(run_dir), from_data=True,
                                   name=f"translated_{direction}", what="translations")  # fmt: skip
    paths = translate(
        run_dir, inputs, direction, out, device=device, size=size, batch_size=batch_size,
        keep_size=keep_size, force=force, pairs=pairs,
    )  # fmt: skip
    if note:
        click.echo(note, err=True)
    click.echo(f"ganhub: wrote {counted(len(paths), 'translated images')} to {out}")


def register(cli: click.Group) -> None:
    """`ganhub cyclegan translate`, and `ganhub translate` for one more release."""
    group = domain_group(
        cli, "cyclegan", "Commands of the cyclegan domain (CycleGAN and pix2pix translation)."
    )
    group.add_command(translate_command)
    deprecated_alias(cli, "translate", translate_command, "cyclegan translate")
