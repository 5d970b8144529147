"""Real data: a folder of NIfTI files or DICOM series, read with MONAI transforms once, in memory.

Each file goes through LoadImage -> EnsureChannelFirst -> Orientation -> (Spacing) -> intensity
percentiles to [-1, 1] -> resize or centre crop/pad to the model size; masks are resampled
with nearest neighbours and binarised. In 2D, 3D volumes contribute their central axial slices.
Files are decoded by DataLoader workers (`trainer.num_workers`), then served from memory.

Pairs (lesion: images/ + masks/, translate: source/ + target/) are matched by file name
without the suffix (`case01.nii.gz` <-> `case01.nii`); a DICOM series is a folder of files,
named by the folder. A file that cannot be read stops with an error naming it, unless
`data.skip_bad=true`, which skips it (and its partner) with a warning.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ganhub_medgan.config import MedData
from ganhub_medgan.outputs import NIFTI_SUFFIXES
from torch import Tensor

from ganhub.errors import ConfigError, UsageError


@dataclass
class Volume:
    """One loaded item: (1, *spatial) tensors (several for 2D slices) and their affines."""

    image: Tensor  # (K, 1, *spatial): K = slices_per_volume in 2D from 3D, else 1
    affine: np.ndarray  # (K, 4, 4)
    shape: tuple[int, ...]  # spatial shape on disk (to check that pairs match)


def item_name(path: Path) -> str:
    """The pairing key of a file or DICOM series folder: its name without the suffix."""
    for suffix in (*NIFTI_SUFFIXES, ".dcm"):
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def list_items(folder: Path) -> dict[str, Path]:
    """NIfTI files and DICOM series (folders holding files) directly under `folder`, by name."""
    items: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        is_nifti = path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES)
        is_series = path.is_dir() and any(p.is_file() for p in path.iterdir())
        if is_nifti or is_series:
            items.setdefault(item_name(path), path)
    return items


def _subdirs(task: str, cfg: MedData) -> tuple[str, ...]:
    if task == "lesion":
        return (cfg.image_dir, cfg.mask_dir)
    if task == "translate":
        return (cfg.source_dir, cfg.target_dir)
    return ("",)


def check_folder(task: str, cfg: MedData) -> None:
    """Config-time checks: data.path and the task's subfolders exist and hold images."""
    if cfg.path is None:
        raise ConfigError(
            "data.path is required for folder data: data=folder data.path=/path/to/dir"
        )
    if not cfg.path.is_dir():
        raise ConfigError(f"data.path='{cfg.path}': folder does not exist")
    subdirs = _subdirs(task, cfg)
    for sub in subdirs:
        if not (cfg.path / sub).is_dir():
            raise ConfigError(
                f"data.path='{cfg.path}': task={task} needs the subfolders "
                f"{' and '.join(repr(s + '/') for s in subdirs)}; '{sub}/' is missing"
            )
    for sub in subdirs:
        folder = cfg.path / sub
        items = list_items(folder)
        if not items:
            raise ConfigError(
                f"data.path: '{folder}' holds no NIfTI (.nii, .nii.gz) files or DICOM series"
            )
        series = [p for p in items.values() if p.is_dir()]
        if series and not any(importlib.util.find_spec(m) for m in ("pydicom", "itk")):
            raise ConfigError(
                f"data.path: '{series[0]}' is a DICOM series; reading DICOM needs pydicom "
                "(pip install pydicom) or itk"
            )


def pair_items(task: str, cfg: MedData) -> list[tuple[str, tuple[Path, ...]]]:
    """(name, files) per sample: one file for generate, (image, mask) or (source, target) pairs."""
    assert cfg.path is not None
    folders = [cfg.path / sub for sub in _subdirs(task, cfg)]
    listed = [list_items(f) for f in folders]
    if len(listed) == 1:
        return [(name, (path,)) for name, path in listed[0].items()]
    names = sorted(set(listed[0]) & set(listed[1]))
    unmatched = sorted(set(listed[0]) ^ set(listed[1]))
    if unmatched:
        side = 0 if unmatched[0] in listed[0] else 1
        lonely = listed[side][unmatched[0]]
        other = folders[1 - side]
        message = (
            f"'{lonely}' has no partner named '{unmatched[0]}' in '{other}' "
            f"({len(unmatched)} unpaired file(s)); pairs are matched by file name"
        )
        if not cfg.skip_bad:
            raise UsageError(message + "; set data.skip_bad=true to skip unpaired files")
        warnings.warn(f"medgan: skipping unpaired files: {message}", stacklevel=2)
    if not names:
        raise UsageError(
            f"no pairs: no file name appears in both '{folders[0]}' and '{folders[1]}'"
        )
    return [(n, (listed[0][n], listed[1][n])) for n in names]


def _transforms(cfg: MedData, spatial_dims: int, size: int, mask: bool) -> Any:
    """The MONAI transform chain of one file (after LoadImage)."""
    from monai import transforms as T

    steps: list[Any] = [T.EnsureChannelFirst(channel_dim="no_channel")]
    steps.append(T.Orientation(axcodes=cfg.orientation, labels=None))
    if cfg.pixdim:
        steps.append(T.Spacing(pixdim=cfg.pixdim, mode="nearest" if mask else "bilinear"))
    if not mask:
        low, high = cfg.percentiles
        steps.append(T.ScaleIntensityRangePercentiles(low, high, -1.0, 1.0, clip=True))
    return T.Compose(steps)


def _fit(x: Tensor, size: int, spatial_dims: int, how: str, mask: bool) -> Tensor:
    """Resize the field of view, or centre crop/pad, to `size` along each spatial axis."""
    from monai import transforms as T

    shape = (size,) * spatial_dims
    if how == "resize":
        op = T.Resize(shape, mode="nearest" if mask else "area")
    else:
        op = T.ResizeWithPadOrCrop(shape, mode="constant", value=0.0 if mask else -1.0)
    return op(x)  # type: ignore[no-any-return]


def load_file(path: Path, cfg: MedData, spatial_dims: int, size: int, mask: bool) -> Volume:
    """Read and preprocess one NIfTI file or DICOM series; errors name the file."""
    from monai.transforms import LoadImage

    try:
        x = LoadImage(image_only=True)(str(path))
        if x.ndim == 3 and x.shape[-1] == 1 and spatial_dims == 2:  # 2D image stored as (X, Y, 1)
            x = x[..., 0]
        on_disk = tuple(int(s) for s in x.shape)
        if x.ndim not in (2, 3) or (spatial_dims == 3 and x.ndim != 3):
            need = "3D volumes" if spatial_dims == 3 else "2D images or 3D volumes"
            raise UsageError(
                f"'{path}' has shape {list(on_disk)}: spatial_dims={spatial_dims} needs {need}"
            )
        x = _transforms(cfg, spatial_dims, size, mask)(x)
        affine = _affine4(np.asarray(x.affine, dtype=np.float64))
        data = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"cannot read medical image '{path}': {_first_line(exc)}") from None
    if spatial_dims == 2 and data.ndim == 4:  # the central axial slices of a volume
        depth, k = data.shape[-1], cfg.slices_per_volume
        first = max(0, depth // 2 - k // 2)
        slices = [data[..., z] for z in range(first, min(depth, first + k))]
        affines = []
        for z in range(first, first + len(slices)):
            a = affine.copy()
            a[:3, 3] = affine[:3, :3] @ np.array([0.0, 0.0, z]) + affine[:3, 3]
            affines.append(a)
        out = torch.stack([_fit(s, size, 2, cfg.fit, mask) for s in slices])
        grid2d = tuple(slices[0].shape[1:])
        return Volume(
            _binarise(out, mask), _refit_affines(np.stack(affines), grid2d, size, cfg.fit), on_disk
        )
    fitted = _fit(data, size, spatial_dims, cfg.fit, mask).unsqueeze(0)
    grid = data.shape[1:]
    return Volume(
        _binarise(fitted, mask), _refit_affines(affine[None], grid, size, cfg.fit), on_disk
    )


def _affine4(affine: np.ndarray) -> np.ndarray:
    """A 2D (3x3) affine embedded in 4x4; a 4x4 one unchanged."""
    if affine.shape == (4, 4):
        return affine
    out = np.eye(4)
    out[:2, :2], out[:2, 3] = affine[:2, :2], affine[:2, 2]
    return out


def _binarise(x: Tensor, mask: bool) -> Tensor:
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    return (x > 0.5).float() if mask else x


def _refit_affines(
    affines: np.ndarray, grid: tuple[int, ...] | torch.Size, size: int, how: str = "resize"
) -> np.ndarray:
    """Affines after resizing (voxels scale, the field-of-view centre stays) or centre crop/pad
    (voxels keep their size, the origin moves) a grid of shape `grid` to `size` per axis."""
    out = affines.copy()
    d = len(grid)
    old = np.array(grid, dtype=np.float64)
    new = np.full(d, float(size))
    for a in out:
        if how == "resize":  # align the fields of view: voxel centres at (i + 0.5) * zoom - 0.5
            zoom = old / new
            a[:3, 3] = a[:3, :d] @ (zoom / 2 - 0.5) + a[:3, 3]
            a[:3, :d] = a[:3, :d] * zoom
        else:  # MONAI crops from (old - new) // 2 and pads (new - old) // 2 before
            start = np.where(old >= new, (old - new) // 2, -((new - old) // 2))
            a[:3, 3] = a[:3, :d] @ start + a[:3, 3]
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _Items(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Decode each sample's files in a worker; failures come back as messages, not exceptions."""

    def __init__(
        self,
        items: list[tuple[str, tuple[Path, ...]]],
        cfg: MedData,
        dims: int,
        size: int,
        task: str,
    ) -> None:
        self.items, self.cfg, self.dims, self.size, self.task = items, cfg, dims, size, task

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[Volume], str]:
        _, paths = self.items[i]
        try:
            vols = [
                load_file(
                    p, self.cfg, self.dims, self.size, mask=(self.task == "lesion" and j == 1)
                )
                for j, p in enumerate(paths)
            ]
        except UsageError as exc:
            return [], str(exc)
        if len(vols) == 2 and vols[0].shape != vols[1].shape:
            return [], (
                f"'{paths[0]}' has shape {list(vols[0].shape)} but its partner '{paths[1]}' has "
                f"{list(vols[1].shape)}; paired files must share one voxel grid"
            )
        return vols, ""


def load_folder(
    task: str, cfg: MedData, spatial_dims: int, size: int, num_workers: int = 0
) -> tuple[list[Tensor], np.ndarray]:
    """Every sample of the folder, preprocessed: ([images] or [image, mask] / [source, target], affines)."""
    check_folder(task, cfg)
    items = pair_items(task, cfg)
    loader = torch.utils.data.DataLoader(
        _Items(items, cfg, spatial_dims, size, task),
        batch_size=None,
        num_workers=num_workers,
        collate_fn=lambda x: x,
    )
    columns: list[list[Tensor]] = [[] for _ in items[0][1]]
    affines: list[np.ndarray] = []
    for vols, error in loader:
        if error:
            if not cfg.skip_bad:
                raise UsageError(error + " (set data.skip_bad=true to skip such files)")
            warnings.warn(f"medgan: skipping: {error}", stacklevel=2)
            continue
        for column, vol in zip(columns, vols):
            column.append(vol.image)
        affines.append(vols[0].affine)
    if not affines:
        raise UsageError(f"data.path='{cfg.path}': no readable samples")
    return [torch.cat(c) for c in columns], np.concatenate(affines)
