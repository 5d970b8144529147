"""What the folder loader says on stderr: its warnings, and the notes a run shows once at its start.

`ganhub data check` lists what the loader does to each file; a run reads the same files, so
it says the part that changes what the model sees, once for the folder: when loading changes
the images' proportions (a non-square (non-cubic) field of view resized to the model size;
anisotropic voxels kept by `data.fit=crop_pad`, which the sample images and G show as square
pixels or cubes). The notes come from what the loader already did to each file (`Volume.done`),
so nothing is read twice; the loader returns the note, and the system says it when training
takes its data (`data()`), not when sampling or scoring read the folder again. Under torchrun
every rank loads the folder; rank 0 alone speaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ganhub_medgan.volume import spacing

from ganhub.closed_output import say
from ganhub.console import speaks_for_job
from ganhub.errors import one_line

if TYPE_CHECKING:
    from ganhub_medgan.volume import Volume

ASPECT = "the aspect ratio changed"  # in every note of `voxel_aspect` and `volume._stretch`


def warn(line: str) -> None:
    """One line on stderr (the loader's warnings: they name the file, escaped by `one_line`)."""
    if speaks_for_job():  # each rank loads the folder the same way
        say(f"medgan: warning: {one_line(line)}")


def note(line: str) -> None:
    """One note of the loader on stderr, on rank 0 only."""
    if speaks_for_job():
        say(f"medgan: note: {one_line(line)}")


def voxel_aspect(done: list[str], vol: Volume, dims: int, fit: str) -> list[str]:
    """`done` with what anisotropic voxels do to the sample images, where the resizing note
    does not say it already: PNGs (and G) see one square pixel (cube) per voxel, so voxels of
    other sizes along each axis change the proportions (`data.fit=crop_pad` keeps the voxels;
    `data.fit=resize` of a grid already at `model.image_size` does too)."""
    if any(ASPECT in step for step in done):
        return done
    mm = spacing(vol.affine[0], dims)
    if np.allclose(mm, mm.min(), rtol=0.01):
        return done
    factors = mm.max() / mm
    axes = ", ".join(f"{'xyz'[i]} stretched {f:.3g}x" for i, f in enumerate(factors) if f >= 1.01)
    iso = ", ".join([f"{float(mm.min()):.3g}"] * dims)
    keep = f"data.pixdim=[{iso}] (isotropic voxels)"
    keep += " keeps" if fit == "crop_pad" else " with data.fit=crop_pad keeps"
    note = (
        f"{'x'.join(f'{v:.3g}' for v in mm)} mm voxels shown as "
        f"{'square pixels' if dims == 2 else 'cubes'}, {ASPECT}: {axes}; "
        f"{keep} the proportions"
    )
    fitted = [i for i, step in enumerate(done) if " cropped/padded to " in step]
    if not fitted:
        return [*done, note]
    out = list(done)
    out[fitted[0]] += f" (its {note})"
    return out


class AspectNotes:
    """The run's one note on the proportions loading changes: the first such sample's words
    (as `ganhub data check` gives them) and how many samples of the folder share it."""

    def __init__(self, dims: int, fit: str) -> None:
        self.dims, self.fit = dims, fit
        self.first = ""
        self.changed = 0

    def add(self, path: Path, vol: Volume) -> None:
        """What loading did to a sample's first file (its partners share its slicing and size)."""
        steps = [s for s in voxel_aspect(list(vol.done), vol, self.dims, self.fit) if ASPECT in s]
        if steps:
            self.changed += 1
            self.first = self.first or f"'{path}': {'; '.join(steps)}"

    def line(self, samples: int) -> str:
        """The note (without its `medgan: note: ` prefix), or "" when no sample's proportions
        change; a run says it once, as it starts training (`MedSplits.say_loader_notes`)."""
        if not self.changed:
            return ""
        some = "every sample" if self.changed == samples else f"{self.changed} of {samples} samples"
        return (
            f"loading changes the aspect ratio of {some} (ganhub data check lists each file); "
            f"the first, {self.first}"
        )


__all__ = ["ASPECT", "AspectNotes", "note", "voxel_aspect", "warn"]
