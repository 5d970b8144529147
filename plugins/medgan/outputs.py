"""What medgan writes: PNG grids (mid slices for volumes) and NIfTI files with their affine.

Arrays are (x, y[, z]) in RAS, as NIfTI stores them. PNGs show slices the way a radiologist
reads them: anterior (axial, sagittal) or superior (coronal, sagittal) at the top, and the
patient's right on the left of the screen.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganhub.data.images import save_image_grid
from ganhub.errors import UsageError
from ganhub.metrics.store import new_folders, remove_empty

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def display(slices: Tensor) -> Tensor:
    """(..., a, b) slices indexed (left->right, posterior->anterior) to screen rows/columns."""
    return torch.flip(slices.transpose(-1, -2), dims=(-2, -1))


def mid_slices(volumes: Tensor) -> Tensor:
    """(N, C, X, Y, Z) -> (N, 3, C, S, S): the axial, coronal and sagittal mid slices, on screen.

    Volumes are cubic here (every medgan volume is), so the three views stack.
    """
    x, y, z = volumes.shape[-3:]
    axial = display(volumes[..., :, :, z // 2])
    coronal = display(volumes[..., :, y // 2, :])
    sagittal = display(volumes[..., x // 2, :, :])
    return torch.stack([axial, coronal, sagittal], dim=1)


def as_tiles(images: Tensor) -> Tensor:
    """2D images (N, C, X, Y) or volumes (N, C, X, Y, Z) as screen tiles (M, C, H, W).

    A volume becomes three tiles (axial, coronal, sagittal mid slices) in a row.
    """
    if images.ndim == 4:
        return display(images)
    return mid_slices(images).flatten(0, 1)


def write_grid(columns: list[Tensor], path: Path) -> Path:
    """One PNG: each row shows sample i of every column (e.g. mask, generated, real) side by side.

    Columns hold images in [-1, 1] with the same spatial shape; volumes add three tiles each.
    """
    tiles = [as_tiles(c.detach().float().cpu()) for c in columns]
    per_row = [t.shape[0] // columns[0].shape[0] for t in tiles]  # 1 (2D) or 3 (3D) per sample
    rows = []
    for i in range(columns[0].shape[0]):
        rows += [t[i * k : (i + 1) * k] for t, k in zip(tiles, per_row)]
    grid = torch.cat(rows)
    channels = grid.shape[1]
    if channels != 1:  # one grey tile per channel is unreadable: show the first
        grid = grid[:, :1]
    return save_image_grid(grid, path, nrow=sum(per_row))


def write_samples_grid(images: Tensor, path: Path) -> Path:
    """A square-ish grid of 2D samples, or one row of three mid slices per volume."""
    tiles = as_tiles(images.detach().float().cpu())
    nrow = 3 if images.ndim == 5 else max(1, int(len(tiles) ** 0.5))
    return save_image_grid(tiles, path, nrow=nrow)


def to_intensity(x: Tensor) -> np.ndarray:
    """[-1, 1] tensor -> float32 array in [0, 1] (what a viewer should show)."""
    return x.detach().float().cpu().add(1).div(2).clamp(0, 1).numpy().astype(np.float32)


DESCRIP_BYTES = 80  # the NIfTI-1 header's `descrip` field


def descrip(text: str) -> bytes:
    """`text` as a NIfTI `descrip`: ASCII (others as '?'), cut to the field's 80 bytes with
    '...' at the end when longer (what produced the volume, shown by viewers and fslhd)."""
    raw = text.encode("ascii", "replace")
    if len(raw) <= DESCRIP_BYTES:
        return raw
    return raw[: DESCRIP_BYTES - 3] + b"..."


def provenance(
    command: str, what: str, names: Sequence[tuple[str, str]] = (), group: str = "medgan"
) -> str:
    """A NIfTI `descrip` (80 bytes, ASCII) for a command's output: 'ganhub GROUP COMMAND:
    WHAT' and each (joint, file name), the names shortened in the middle when all would not
    fit: 'ganhub medgan simulate: lesion r=3 at 10,12,8 in scan.nii.gz; run med...7-095435'."""
    head = f"ganhub {group} {command}: {what}"
    ascii_names = [(j, n.encode("ascii", "replace").decode()) for j, n in names]
    room = DESCRIP_BYTES - len(head) - sum(len(j) for j, _ in ascii_names)
    short: dict[int, str] = {}
    order = sorted(range(len(ascii_names)), key=lambda i: len(ascii_names[i][1]))
    for left, i in zip(range(len(order), 0, -1), order):  # the shortest first: slack goes on
        short[i] = _shorten(ascii_names[i][1], max(8, room // left))
        room -= len(short[i])
    return head + "".join(j + short[i] for i, (j, _) in enumerate(ascii_names))


def _shorten(name: str, size: int) -> str:
    """`name` in at most `size` characters, its middle replaced by '...' when longer (the
    end kept longer: a run's time stamp, a file's suffix)."""
    if len(name) <= size:
        return name
    keep = size - 3
    return f"{name[: keep // 3]}...{name[len(name) - (keep - keep // 3) :]}"


def sample_about(
    directory: Path, stem: str, seed: int, run_dir: Path | None = None, step: int | None = None
) -> str:
    """The `descrip` of sample files `write_samples` writes as `directory/stem`. `run_dir`
    and `step`: where the model comes from, as the engine passes them (`GANSystem.
    write_samples`). Training's (`RUN/samples/step_0000200`) say 'ganhub medgan train: samples
    at step 200; run RUN'; others (`ganhub sample`, `ganhub export`, `TrainedGAN.
    write_samples`) 'ganhub medgan sample: samples, seed 0, step 200; run RUN', wherever they
    are written. Called without them (an older engine), the run is named only when
    `directory` is the `samples` folder of one (a folder holding config.yaml; not a hidden
    scratch folder, which an export is made in)."""
    at = re.fullmatch(r"step_(\d+)", stem)
    if run_dir is None:
        run = directory.resolve().parent
        mine = directory.name == "samples" and (run / "config.yaml").is_file()
        run_dir = run if mine and not run.name.startswith(".") else None
    elif at and directory.resolve() != (Path(run_dir) / "samples").resolve():
        at = None  # a stem like training's, written elsewhere: not training's samples
    if at:
        command, what = "train", f"samples at step {int(at[1])}"
    else:
        command, what = "sample", f"samples, seed {seed}"
        what += f", step {step}" if step is not None else ""
    names = [("; run ", Path(run_dir).resolve().name)] if run_dir is not None else []
    return provenance(command, what, names)


# viewers window an image by its header's cal_min/cal_max when set (else each by its own
# range, so two samples of one run showed different brightness): intensities are [0, 1]
INTENSITY_WINDOW = (0.0, 1.0)


def write_nifti(
    array: np.ndarray,
    affine: np.ndarray,
    path: Path,
    *,
    label: bool = False,
    about: str = "",
    window: tuple[float, float] | None = None,
) -> Path:
    """Write a 2D/3D/4D array with its voxel-to-RAS affine as NIfTI, atomically.

    The affine is stored as both qform and sform (code 1, scanner), so ITK-SNAP, 3D Slicer and
    nibabel agree on orientation and spacing. `label` stores uint8 (a segmentation overlay).
    `about` goes into the header's `descrip` (`descrip`): what produced the volume. `window`
    (low, high) goes into `cal_min`/`cal_max`: the display range viewers use.
    """
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(array)
    data = (data > 0.5).astype(np.uint8) if label else data.astype(np.float32)
    image = nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64))
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    image.header["descrip"] = descrip(about)
    if window is not None:
        image.header["cal_min"], image.header["cal_max"] = window
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
    tmp = path.with_name(f".{path.name.removesuffix(suffix)}.tmp{os.getpid()}{suffix}")
    try:
        nib.save(image, str(tmp))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def stack_affine(affine: np.ndarray) -> np.ndarray:
    """Affine of 2D slices stacked along a third axis: the slice plane keeps its geometry."""
    out = np.array(affine, dtype=np.float64)
    if not np.any(out[:3, 2]):
        out[2, 2] = 1.0
    return out


def write_nifti_batch(
    images: Tensor, affine: np.ndarray, path: Path, *, label: bool = False, about: str = ""
) -> Path:
    """2D samples (N, 1, X, Y) as one (X, Y, N) stack; a volume (1, 1, X, Y, Z) as itself.

    Several volumes (N, 1, X, Y, Z) are written as a 4D file (X, Y, Z, N). `about`: the
    header's `descrip` (`write_nifti`); `cal_min`/`cal_max` are 0 and 1 (`INTENSITY_WINDOW`:
    intensities in [0, 1], label masks {0, 1}).
    """
    x = images[:, 0].detach().float().cpu()
    data = x.numpy() if label else to_intensity(x)
    if images.ndim == 4:
        data, affine = np.moveaxis(data, 0, -1), stack_affine(affine)
    elif len(data) == 1:
        data = data[0]
    else:
        data = np.moveaxis(data, 0, -1)
    return write_nifti(data, affine, path, label=label, about=about, window=INTENSITY_WINDOW)


def _same_place(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=0, atol=1e-4))  # mm: far below any voxel


def file_groups(affines: np.ndarray, slices: bool) -> list[tuple[int, int]]:
    """Runs [start, stop) of consecutive samples one NIfTI file holds under one affine: samples
    with the same affine, or (2D `slices`) the consecutive slices of one volume, each one
    step further along the affine's third axis (what `stack_affine` of the first one says)."""
    groups: list[tuple[int, int]] = []
    start, ways = 0, {"same", "next"}
    for i in range(1, len(affines) + 1):
        if i < len(affines):
            first, k = affines[start], i - start
            moved = first.copy()
            moved[:3, 3] += k * stack_affine(first)[:3, 2]
            fits = {"same"} if _same_place(affines[i], first) else set()
            fits |= {"next"} if slices and _same_place(affines[i], moved) else set()
            if ways & fits:
                ways &= fits
                continue
        groups.append((start, i))
        start, ways = i, {"same", "next"}
    return groups


def write_nifti_cases(
    images: Tensor,
    affines: np.ndarray,
    directory: Path,
    stem: str,
    suffix: str = "",
    *,
    about: str = "",
) -> list[Path]:
    """Samples (N, 1, *spatial) with their own affines (N, 4, 4) as NIfTI (`suffix` "_mask":
    uint8 labels): one file `STEM{suffix}.nii.gz` when one affine places them all (one
    volume's slices, or cases of one geometry), else one file per run of rows that share one,
    named after the PNG rows it holds: `STEM_row03{suffix}.nii.gz`, `STEM_rows00-02...`.
    `about`: each header's `descrip` (`write_nifti`)."""
    label = suffix == "_mask"
    groups = file_groups(np.asarray(affines), images.ndim == 4)
    if len(groups) == 1:
        path = directory / f"{stem}{suffix}.nii.gz"
        return [write_nifti_batch(images, affines[0], path, label=label, about=about)]
    width = max(2, len(str(len(images) - 1)))
    paths = []
    for a, b in groups:
        rows = f"row{a:0{width}d}" if b - a == 1 else f"rows{a:0{width}d}-{b - 1:0{width}d}"
        path = directory / f"{stem}_{rows}{suffix}.nii.gz"
        paths.append(write_nifti_batch(images[a:b], affines[a], path, label=label, about=about))
    return paths


def refuse_existing(out: Path, names: Sequence[str], force: bool) -> None:
    """Refuse, naming the first, files `names` that folder `out` already holds, unless `force`
    (a folder in a file's place is refused even then: replacing it would delete what it holds).
    The commands call it before any work, and `write_all` again before it moves files in."""
    there = [out / name for name in names if os.path.lexists(out / name)]
    folders = [p for p in there if p.is_dir() and not p.is_symlink()]
    if folders:
        raise UsageError(
            f"'{folders[0]}' is a folder where a file would be written: move it, or give "
            "another --out"
        )
    if there and not force:
        more = f" (and {len(there) - 1} more)" if len(there) > 1 else ""
        them = "them" if more else "it"
        raise UsageError(
            f"--out {out} already holds '{there[0]}'{more}: give --force (Python: force=True) "
            f"to replace {them}, or another folder"
        )


def write_all(
    out: Path, files: Mapping[str, Callable[[Path], object]], force: bool = False
) -> list[Path]:
    """Write the files of one command into folder `out`, all or none: `files` maps each name
    to a function writing it to the path it is given, a hidden folder inside `out` (the same
    file system, so moving out of it is a rename). Only once every file is written are they
    moved into place (`os.replace`, each atomic); a failure part-way, in writing or moving,
    removes the new files, puts back those `out` held before, and removes `out` when this
    made it. Files already there are refused unless `force` (`refuse_existing`)."""
    created = new_folders(out)
    out.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(".partial", ".ganhub-", out))
    old = staged / ".old"  # what `out` held, until every new file is in place
    moved: list[str] = []
    kept: list[str] = []
    try:
        for name, write in files.items():
            write(staged / name)
        refuse_existing(out, list(files), force)  # one may have appeared meanwhile
        old.mkdir()
        for name in files:
            if os.path.lexists(out / name):
                os.replace(out / name, old / name)
                kept.append(name)
            os.replace(staged / name, out / name)
            moved.append(name)
    except BaseException:  # a write that failed, Ctrl-C: `out` left as it was
        for name in moved:
            (out / name).unlink(missing_ok=True)
        for name in kept:
            os.replace(old / name, out / name)
        shutil.rmtree(staged, ignore_errors=True)
        remove_empty(created)  # deepest first; one holding something else is kept
        raise
    shutil.rmtree(staged, ignore_errors=True)
    return [out / name for name in files]


# How a mask file becomes lesion voxels (`mask_kind`, `is_lesion`); `data check` prints it
# with the run's threshold. Label maps (BraTS: 1 necrosis, 2 oedema, 4 enhancing) are lesion
# wherever they are non-zero: dividing 0/1/2/4 by its max and thresholding would drop label 1.
LESION_RULE = (
    "a mask of whole numbers (0/1, 0/255, labels such as 0/1/2/4) is lesion where it is "
    "non-zero; a soft mask (values in [0, 1], a probability map) where mask >= "
    "data.mask_threshold; whole numbers with more than 256 distinct values, or more than 32 "
    "that change between most neighbouring voxels, are a scan and refused"
)
# A label map holds few labels, each over a region; a scan saved as integers (an int16 MR or
# CT) holds hundreds of grey levels that change from voxel to voxel: read by the non-zero rule
# it made the whole body a lesion. `mask_kind` refuses such a file by these two bounds.
MAX_LABELS = 256  # distinct values a label map may hold (a uint8 map; atlases hold ~100-200)
MANY_LABELS = 32  # above this many, the labels must form regions (`_changing`)


def mask_kind(values: np.ndarray) -> tuple[float, bool]:
    """(divisor before thresholding: 1, whether all values are whole numbers) by LESION_RULE;
    a UsageError for negative values (a label map's -1 is often "ignore", which the non-zero
    rule would have made lesion) and for values above 1 that are not whole numbers: a scan's
    grey levels (MR, a float CT), which read as a soft mask painted a lesion over the bright
    half of the image; and for whole numbers that are a scan's grey levels (an int16 MR or CT:
    `_scan_like`), which the non-zero rule made a lesion everywhere in the body. Soft masks are
    probability maps in [0, 1]; label masks are whole, with few labels over regions."""
    low = float(np.min(values)) if values.size else 0.0
    if low < 0:
        raise UsageError(
            f"holds negative values (down to {low:g}); a lesion mask is 0/1, 0/255, soft "
            "values in [0, 1] or labels >= 0 (an 'ignore' label such as -1 is not read: set "
            "those voxels to 0)"
        )
    fraction = np.mod(values, 1) != 0
    if not bool(np.any(fraction)):
        if why := _scan_like(values):
            raise UsageError(
                f"holds {why}: a scan saved as whole numbers, not a lesion mask; a mask holds "
                f"0/1, 0/255, up to {MAX_LABELS} labels over regions (such as 0/1/2/4), or soft "
                "values in [0, 1] (divide a 0-255 soft mask by 255)"
            )
        return 1.0, True
    above = fraction & (values > 1)
    if bool(np.any(above)):
        top = float(np.max(values))
        share = float(np.mean(above))
        raise UsageError(
            f"holds values above 1 that are not whole numbers ({share:.0%} of its voxels, up "
            f"to {top:g}): an image, not a lesion mask; a mask holds whole numbers (0/1, 0/255, "
            "labels) or soft values in [0, 1] (divide a 0-255 soft mask by 255)"
        )
    return 1.0, False


def _scan_like(values: np.ndarray) -> str:
    """Why whole-number `values` are a scan rather than a label map ('' for a label map):
    more than MAX_LABELS distinct values, or more than MANY_LABELS of them that differ between
    most neighbouring voxels (no regions). Binary masks and few labels cost no more than their
    range: a map whose values span fewer than MANY_LABELS numbers is one."""
    if not values.size or float(np.max(values)) - float(np.min(values)) < MANY_LABELS:
        return ""
    count = len(np.unique(values))
    if count > MAX_LABELS:
        return f"{count:,} distinct values (a label map has at most {MAX_LABELS})"
    if count > MANY_LABELS and (share := _changing(values)) > 0.5:
        return (
            f"{count} distinct values that change between {share:.0%} of neighbouring voxels "
            "(a label map's labels fill regions)"
        )
    return ""


def _changing(values: np.ndarray) -> float:
    """The share of neighbouring voxel pairs (along every axis, at least one of them non-zero:
    not the background) whose values differ."""
    differ = pairs = 0
    for axis in range(values.ndim):
        if values.shape[axis] < 2:
            continue
        a = np.moveaxis(values, axis, 0)
        first, second = a[1:], a[:-1]
        inside = (first != 0) | (second != 0)
        differ += int(np.count_nonzero((first != second) & inside))
        pairs += int(np.count_nonzero(inside))
    return differ / pairs if pairs else 0.0


def mask_value(values: np.ndarray) -> float | None:
    """The one non-zero value of a binary mask (0/1, 0/255, one label), else None: how the
    commands refuse a mask given as --image. Only two values, 0 and one positive whole number,
    whatever the stored type: a scan has many grey levels (a CT's air, fat, water and bone; an
    MR's noise floor), while an integer type (CT is int16) or a few values (a noiseless
    phantom) would refuse real images."""
    flat = np.asarray(values).reshape(-1)
    top = float(flat.max()) if flat.size else 0.0
    if not flat.size or float(flat.min()) != 0 or top <= 0 or top % 1:
        return None
    return top if bool(np.all((flat == 0) | (flat == top))) else None


def is_lesion(values: Any, scale: float, whole: bool, threshold: float) -> Any:
    """LESION_RULE on an array or a tensor (`mask_kind` gives scale and whole): booleans."""
    return values != 0 if whole else values / scale >= threshold


def threshold_mask(values: np.ndarray, threshold: float) -> np.ndarray:
    """The lesion voxels of a stored mask (LESION_RULE) as float32 {0, 1}."""
    values = np.asarray(values, dtype=np.float32)
    return is_lesion(values, *mask_kind(values), threshold).astype(np.float32)


def read_mask(path: Path, spatial_dims: int, threshold: float = 0.5) -> tuple[Tensor, np.ndarray]:
    """A lesion mask file as a {0, 1} tensor (1, *spatial) in RAS order, and its affine.

    2D masks may be stored as (X, Y) or (X, Y, 1); values become lesion by LESION_RULE.
    """
    if not path.is_file():
        raise UsageError(f"mask '{path}' does not exist")
    if not path.name.endswith(NIFTI_SUFFIXES):
        raise UsageError(f"mask '{path}': expected a NIfTI file (.nii or .nii.gz)")
    import nibabel as nib

    try:
        image = nib.as_closest_canonical(nib.load(str(path)))
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as exc:
        raise UsageError(f"cannot read mask '{path}': {str(exc).splitlines()[0]}") from None
    if spatial_dims == 2 and data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != spatial_dims:
        raise UsageError(
            f"mask '{path}' has shape {list(data.shape)}; this run is {spatial_dims}D "
            f"(expected {spatial_dims} axes)"
        )
    if not np.isfinite(data).all():
        raise UsageError(f"mask '{path}' holds NaN or infinite voxels; a mask is 0 and 1")
    try:
        lesion = threshold_mask(data, threshold)
    except UsageError as exc:
        raise UsageError(f"mask '{path}' {exc}") from None
    return torch.from_numpy(lesion).unsqueeze(0), image.affine
