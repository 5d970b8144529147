"""`ganhub medgan ...`: the medgan plugin's own verbs (heavy imports happen inside them).

Registered under the `ganhub medgan` group (`ganhub.clikit.domain_group`); config stays
`key=value` on the generic verbs, command options here are `--flags`.
"""

from __future__ import annotations

from pathlib import Path

import click

from ganhub.clikit import (
    HELP,
    RUN_DIR,
    RealNumber,
    default_output,
    device_option,
    domain_group,
    is_export,
)

GROUP_HELP = (
    "Medical-imaging GANs (MONAI): lesion simulation, and follow-up or contrast prediction, "
    "with a trained run."
)
# refused in one line naming the option, the value and the range (not click's wording)
_RADIUS = RealNumber(0, None, "is the --at lesion's radius in voxels", above=True)
FORCE_HELP = (
    "Replace the files already in --out (without it such a file is refused, by name, before "
    "anything is read)."
)


@click.command(context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--mask", "mask_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="NIfTI lesion mask on the run's image grid (or on --image).")  # fmt: skip
@click.option(
    "--at", "at", default=None, help="Place a lesion instead: voxel centre X,Y (2D) or X,Y,Z (3D)."
)
@click.option(
    "--radius",
    default=None,
    type=_RADIUS,
    help="Radius of the --at lesion, in voxels [default: 3].",
)
@click.option("--image", "image_path", type=click.Path(exists=True, path_type=Path),
              help="Base image to place the lesion in (NIfTI file or DICOM series folder); default: a healthy phantom or the run's first image.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: RUN_DIR/simulated; for an export, "
                   "./simulated-EXPORT beside it].")  # fmt: skip
@click.option("--force", is_flag=True, help=FORCE_HELP)
@device_option()
def simulate(
    run_dir: Path,
    mask_path: Path | None,
    at: str | None,
    radius: float | None,
    image_path: Path | None,
    out: Path | None,
    force: bool,
    device: str,
) -> None:
    """Simulate a lesion with a trained task=lesion run; writes simulated.nii.gz, its mask and a PNG.

    \b
    ganhub medgan simulate runs/medgan-... --mask mask.nii.gz
    ganhub medgan simulate runs/medgan-... --at 40,30 --radius 4
    Writes simulated.nii.gz, simulated_mask.nii.gz and simulated.png (base | mask |
    simulated) into --out, all or none: they are written to a hidden folder inside it and
    moved into place only once all three are written. One already there is refused, by
    name, before anything is read, unless --force. Without --out: RUN_DIR/simulated, or for an
    export (left as exported) ./simulated-EXPORT beside it.
    """
    from ganhub_medgan.simulate import parse_point, simulate_to_files

    folder, note = _folder(run_dir, out, "simulated", image_path is not None)
    point = parse_point(at) if at is not None else None
    paths = simulate_to_files(run_dir, folder, mask_path=mask_path, at=point, radius=radius,
                              image_path=image_path, device=device, force=force)  # fmt: skip
    _written(paths, note)


@click.command(context_settings=HELP)
@click.argument("run_dir", type=RUN_DIR)
@click.option("--image", "image_path", type=click.Path(exists=True, path_type=Path),
              help="Scan to predict from (NIfTI file or DICOM series folder); default: the run's first held-out scan.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: RUN_DIR/predicted; for an export, "
                   "./predicted-EXPORT beside it].")  # fmt: skip
@click.option("--force", is_flag=True, help=FORCE_HELP)
@device_option()
def predict(
    run_dir: Path, image_path: Path | None, out: Path | None, force: bool, device: str
) -> None:
    """Predict with a trained task=progress (the follow-up scan) or task=translate (the target
    contrast) run; writes predicted.nii.gz and a PNG.

    \b
    ganhub medgan predict runs/medgan-... --image baseline.nii.gz
    ganhub medgan predict runs/medgan-...          # the first held-out scan, truth beside it
    Writes predicted.nii.gz and predicted.png (scan | prediction, with the truth beside them
    for the held-out scan) into --out, both or neither: they are written to a hidden folder
    inside it and moved into place only once both are written. One already there is
    refused, by name, before anything is read, unless --force. Without --out: RUN_DIR/predicted,
    or for an export (left as exported) ./predicted-EXPORT beside it.
    """
    from ganhub_medgan.predict import predict_to_files

    folder, note = _folder(run_dir, out, "predicted", image_path is not None)
    paths = predict_to_files(run_dir, folder, image_path=image_path, device=device, force=force)
    _written(paths, note)


def _folder(run_dir: Path, out: Path | None, name: str, from_data: bool) -> tuple[Path, str]:
    """(where a command writes, the note on it or ''): --out, refused in the run's checkpoints/
    (a resume reads its folders, pruning removes them); else RUN_DIR/NAME, or for an export
    ./NAME-EXPORT beside it (`default_output`: an export is made for sharing and holds no
    scans; `from_data`: the outputs are made from the user's --image)."""
    from ganhub.runfiles import check_run_destination

    if out is not None:
        check_run_destination(out, run_dir, into=True)
        return out, ""
    return default_output(
        run_dir, is_export(run_dir), from_data=from_data, name=name, what="outputs"
    )


def _written(paths: list[Path], note: str) -> None:
    """Print the note on where the outputs went (on stderr), if any, then their paths."""
    if note:
        click.echo(note, err=True)
    click.echo("\n".join(str(p) for p in paths))


def register(cli: click.Group) -> None:
    """Add the medgan verbs under `ganhub medgan`."""
    group = domain_group(cli, "medgan", GROUP_HELP)
    group.add_command(simulate)
    group.add_command(predict)
