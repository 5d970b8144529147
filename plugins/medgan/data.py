"""medgan's data conversion: `ganhub data convert plugin=medgan` (the checks are in `checks.py`).

`convert_data(..., "nifti", out)` writes what the loader gives (volumes on the model grid in
data.orientation, intensities in [-1, 1], thresholded masks) as NIfTI files with their affine,
in the layout the loader reads (a sample's partners, paired voxel by voxel, all with its first
file's affine), plus a manifest of the settings: data.path=out then loads
without resampling, the same on every machine. Each header's `cal_min`/`cal_max` is the
display window of its values (images [-1, 1], masks {0, 1}), so viewers show every volume
alike, and its `descrip` says what it is. A tensor shard is refused: it holds one tensor
of samples and would lose the masks, the conditions and the affines.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from ganhub_medgan.config import MedGANConfig
from ganhub_medgan.folder import iter_folder
from ganhub_medgan.layout import FORMAT, MANIFEST, is_mask, layout, loader_settings
from ganhub_medgan.notes import note
from ganhub_medgan.outputs import provenance, stack_affine, write_nifti

from ganhub.errors import UsageError


def convert_data(config: MedGANConfig, fmt: str, out: Path) -> list[Path]:
    """Write what the loader gives as a NIfTI folder it reads back as it is (module doc)."""
    if fmt == "shard":
        raise UsageError(
            "--to shard: medgan converts to nifti (volumes and masks on the model grid with "
            "their affines, read back by data.path); a shard would lose the masks and affines"
        )
    if fmt != "nifti":
        raise UsageError(f"--to {fmt}: domain 'medgan' converts to: nifti")
    cfg = config.data
    if out.exists():
        raise UsageError(f"--out {out} exists; choose a new path (nothing is overwritten)")
    if cfg.source == "folder" and cfg.path is not None:
        source, target = cfg.path.resolve(), out.resolve()
        if target == source or source in target.parents:
            raise UsageError(f"--out {out} is inside DATA; write the converted copy elsewhere")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write = _write_folder if cfg.source == "folder" else _write_phantoms
        count = write(config, tmp)
        dims, size = config.spatial_dims, config.model.image_size
        manifest = {
            "format": FORMAT,
            "count": count,
            "settings": loader_settings(config.task, cfg, dims, size),
            "layout": {role: sub or "." for role, sub in layout(config.task, cfg)},
            "source": str(cfg.path) if cfg.source == "folder" else "phantom",
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out, out / MANIFEST]


def _write_folder(config: MedGANConfig, tmp: Path) -> int:
    """The folder's samples, loaded as for training (same errors, warnings, skip_bad)."""
    dims, size = config.spatial_dims, config.model.image_size
    count = 0
    workers = config.trainer.num_workers
    notes: list[str] = []  # the proportions loading changed: the written files keep them
    for name, vols in iter_folder(config.task, config.data, dims, size, workers, notes):
        # the loader pairs partners voxel by voxel (warning when their headers disagree): the
        # written partners are on the first file's grid, so its affine places each of them
        affine = vols[0].affine[0]
        for (role, sub), vol in zip(layout(config.task, config.data), vols):
            _write_item(tmp / sub / f"{name}.nii.gz", vol.image, affine, role, name)
        count += 1
    for line in notes:  # once for the folder, as a run says it at its start
        note(line)
    return count


def _write_phantoms(config: MedGANConfig, tmp: Path) -> int:
    """The embedded training split as files: phantom_0000.nii.gz..."""
    from ganhub_medgan.system import build_split

    train = build_split(config, "train")
    by_task: dict[str, list[torch.Tensor | None]] = {
        "generate": [train.images],
        "lesion": [train.images, train.masks],
        "translate": [train.conditions, train.images],
        "progress": [train.conditions, train.images, train.prior_masks, train.masks],
    }
    columns = by_task[config.task]
    for i in range(len(train.images)):
        # progress writes its masks when the layout has their folders (data.*_mask_dir)
        for (role, sub), column in zip(layout(config.task, config.data), columns):
            assert column is not None
            path = tmp / sub / f"phantom_{i:04d}.nii.gz"
            _write_item(path, column[i : i + 1], train.affines[i], role, f"phantom {i}")
    return len(train.images)


# the display window of what conversion writes (`cal_min`, `cal_max`): the loader's values
IMAGE_WINDOW = (-1.0, 1.0)  # intensities scaled to [-1, 1]
MASK_WINDOW = (0.0, 1.0)  # thresholded masks, {0, 1}


def _write_item(path: Path, image: torch.Tensor, affine: np.ndarray, role: str, of: str) -> None:
    """One loaded item: 2D slices (K, 1, X, Y) as an (X, Y, K) stack, a volume as itself;
    `role` (`layout`) decides its window and `descrip`, with `of`, the sample's name."""
    label = is_mask(role)
    window = MASK_WINDOW if label else IMAGE_WINDOW
    what = f"{role} {{0, 1}}" if label else f"{role} in [-1, 1]"
    about = provenance("convert", what, [(" of ", of)], group="data")
    x = image[:, 0].detach().float().cpu().numpy()
    if x.ndim == 3:
        x, affine = np.moveaxis(x, 0, -1), stack_affine(affine)
    else:
        x = x[0]
    write_nifti(x, affine, path, label=label, about=about, window=window)


__all__ = ["convert_data"]
