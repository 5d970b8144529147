"""One medical image file (NIfTI or DICOM series) read and preprocessed: what the loader gives.

Each file goes through LoadImage -> EnsureChannelFirst -> Orientation -> (resampling to
data.pixdim, `resample.py`) -> intensity percentiles to [-1, 1] -> resize or centre crop/pad
to the model size. Masks are binarised
first (`LESION_RULE`: a mask of whole numbers, 0/1, 0/255 or a label map such as BraTS's
0/1/2/4, is lesion wherever it is non-zero; a soft mask where mask >= data.mask_threshold,
after dividing it by its largest value when that exceeds 1; a scan of whole numbers, many
distinct values without regions, is refused), then resampled with nearest neighbours. In 2D,
3D volumes contribute their central axial slices. A file
`ganhub data convert --to nifti` wrote is read as it is (`load_converted`). The result is a
`Volume` that also says, in words, what the loader did and what it warns about; the folder
loader (`folder.py`) and `ganhub data check` (`checks.py`) both read files through here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from ganhub_medgan.outputs import is_lesion, mask_kind
from ganhub_medgan.resample import resample
from torch import Tensor

from ganhub.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub_medgan.config import MedData

# The most voxels one volume may have after data.pixdim resampling (512^3, a large CT): a far
# finer spacing than the file's would allocate terabytes before anything else could fail.
MAX_VOXELS = 512**3
LABELS_SHOWN = 8  # distinct values of a label mask kept for `data check`'s note


@dataclass(frozen=True)
class MaskFacts:
    """What a mask file held and what the loader made of it (voxel counts)."""

    nonzero: int  # voxels != 0 on disk
    lesion: int  # voxels that are lesion on disk by LESION_RULE
    loaded: int  # lesion voxels in what the loader gives (after slicing and resizing)
    low: float  # the value range on disk
    high: float
    scale: float  # what a soft mask was divided by before thresholding (1 or its max)
    binary: bool  # whether every value on disk was 0 or 1
    sliced: int = 0  # lesion voxels in the slices a 2D run takes (3D: all), before resizing
    labels: tuple[float, ...] | None = None  # a whole-number mask's distinct values (the first few)


@dataclass
class Volume:
    """One loaded item: (1, *spatial) tensors (several for 2D slices) and their affines."""

    image: Tensor  # (K, 1, *spatial): K = slices_per_volume in 2D from 3D, else 1
    affine: np.ndarray  # (K, 4, 4)
    shape: tuple[int, ...]  # spatial shape after reorientation (partners must match)
    grid: np.ndarray  # (4, 4) voxel -> RAS after reorientation (partners should match)
    done: tuple[str, ...] = ()  # what the loader did to it, in words (`data check` notes)
    warnings: tuple[str, ...] = ()  # what the loader warns about (without the file's name)
    mask: MaskFacts | None = None  # masks only


# -- one file -----------------------------------------------------------------------------------


def read_file(path: Path, spatial_dims: int) -> Any:
    """The file as stored (a MONAI MetaTensor with its affine); 2D images may be (X, Y, 1)."""
    from ganhub_medgan.outputs import NIFTI_SUFFIXES
    from monai.transforms import LoadImage

    # MONAI would read a PNG too, as a 2D image with its colour channels as a third axis
    if not path.is_dir() and not path.name.lower().endswith((*NIFTI_SUFFIXES, ".dcm")):
        raise UsageError(
            f"'{path}': expected a NIfTI file (.nii, .nii.gz) or a DICOM series (a folder, or .dcm)"
        )
    if path.is_dir() and not is_series(path):  # MONAI: "cannot find a suitable reader"
        raise UsageError(
            f"'{path}' is a folder without DICOM files (not a series); give a NIfTI file "
            "(.nii, .nii.gz) or a DICOM series (a folder of .dcm files, or files with 'DICM' at "
            "byte 128)"
        )
    if (path.is_dir() or path.name.lower().endswith(".dcm")) and not dicom_readable():
        raise UsageError(
            f"'{path}' is a DICOM series; reading DICOM needs pydicom (pip install pydicom) or itk"
        )
    try:
        with warnings.catch_warnings():
            # MONAI casts to float32 and numpy only warns that a complex volume's imaginary
            # part is dropped; such a file (raw k-space, a phase image) is not an intensity image
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            x = LoadImage(image_only=True)(str(path))
    except np.exceptions.ComplexWarning:
        raise UsageError(
            f"'{path}' holds complex values; ganhub medgan reads real intensities (save the "
            "magnitude, e.g. numpy.abs, as the image)"
        ) from None
    except Exception as exc:  # each reader raises its own types; all mean "unreadable"
        if _colour_nifti(path):  # numpy's "Cannot cast array data from dtype([('R', 'u1')..."
            raise UsageError(
                f"'{path}' is an RGB NIfTI (a colour per voxel); ganhub medgan reads one "
                "intensity per voxel: save one channel or a grey conversion"
            ) from None
        # nibabel's "Cannot work out file type of ..." or "Not a gzipped file": say what it is
        from ganhub_medgan.sniff import gzip_damage, not_nifti

        why = (not_nifti(path) or gzip_damage(path)) if not path.is_dir() else ""
        raise UsageError(f"cannot read medical image '{path}': {why or first_line(exc)}") from None
    _refuse_damaged(path)
    # a trailing axis of length 1 (X, Y, Z, 1) is one time point or channel (MONAI and nibabel
    # write them): the volume itself, not a 4D series
    while x.ndim > 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 3 and x.shape[-1] == 1 and spatial_dims == 2:  # 2D image stored as (X, Y, 1)
        x = x[..., 0]
    if x.ndim not in (2, 3) or (spatial_dims == 3 and x.ndim != 3):
        need = "3D volumes" if spatial_dims == 3 else "2D images or 3D volumes"
        hint = " (2D images: spatial_dims=2)" if spatial_dims == 3 and x.ndim == 2 else ""
        raise UsageError(
            f"'{path}' has shape {list(x.shape)}: spatial_dims={spatial_dims} needs {need}{hint}"
        )
    if spatial_dims == 3 and 1 in x.shape:  # one slice would be stretched into a volume
        raise UsageError(
            f"'{path}' has shape {list(x.shape)}: one voxel thick, not a volume; spatial_dims=3 "
            "needs 3D volumes (2D images: spatial_dims=2)"
        )
    return x


def _refuse_damaged(path: Path) -> None:
    """A .nii.gz whose gzip stream is damaged though nibabel read it (`sniff.gzip_damage`)."""
    from ganhub_medgan.sniff import gzip_damage

    damage = "" if path.is_dir() else gzip_damage(path)
    if damage:
        raise UsageError(f"cannot read medical image '{path}': {damage}")


def dicom_readable() -> bool:
    """Whether a DICOM reader MONAI uses (pydicom or itk) is installed."""
    import importlib.util

    return any(importlib.util.find_spec(m) for m in ("pydicom", "itk"))


def is_series(folder: Path) -> bool:
    """Whether a folder holds a DICOM file (`.dcm`, or 'DICM' at byte 128): a series."""
    from ganhub_medgan.folder import is_dicom

    try:
        return any(p.is_file() and is_dicom(p) for p in folder.iterdir())
    except OSError:  # unreadable: MONAI's own error says why
        return True


def _colour_nifti(path: Path) -> bool:
    """Whether a NIfTI header declares colour voxels (RGB/RGBA: a record per voxel)."""
    try:
        import nibabel
        from nibabel.openers import ImageOpener

        # the header alone, unchecked: checking a broken one makes nibabel print its fixes
        # ("sizeof_hdr should be 348...") to stderr beside the caller's one-line error, and
        # reading the extensions of bytes that are no header warns ("Extension size is not a
        # multiple of 16 bytes"), two lines of Python warning
        with ImageOpener(str(path)) as stream, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = nibabel.Nifti1Header.from_fileobj(stream, check=False)
        return bool(header.get_data_dtype().names)
    except Exception:  # not NIfTI, or unreadable: the caller's error stands
        return False


def nonfinite(values: np.ndarray) -> int:
    """How many voxels are NaN or +-Inf."""
    return int(values.size - np.count_nonzero(np.isfinite(values)))


def refuse_nonfinite(values: np.ndarray, path: Path) -> None:
    """NaN/Inf voxels would turn the whole scaled volume into NaN: such a file is unusable."""
    bad = nonfinite(values)
    if bad:
        raise UsageError(f"'{path}' has {bad:,} NaN/Inf voxels; its intensities cannot be scaled")


def axcodes(affine: np.ndarray, ndim: int) -> str:
    """The orientation codes of an affine ('RAS', 'LPS'...), the first `ndim` of them."""
    import nibabel as nib

    return "".join(str(c) for c in nib.aff2axcodes(_affine4(np.asarray(affine))))[:ndim]


def spacing(affine: np.ndarray, ndim: int) -> np.ndarray:
    """Voxel sizes (mm) of the first `ndim` axes."""
    return np.linalg.norm(_affine4(np.asarray(affine, dtype=np.float64))[:3, :ndim], axis=0)


def load_file(path: Path, cfg: MedData, spatial_dims: int, size: int, mask: bool) -> Volume:
    """Read and preprocess one NIfTI file or DICOM series; errors name the file."""
    x = read_file(path, spatial_dims)
    refuse_nonfinite(np.asarray(x), path)
    return prepare_file(x, path, cfg, spatial_dims, size, mask)


def prepare_file(
    x: Any, path: Path, cfg: MedData, spatial_dims: int, size: int, mask: bool
) -> Volume:
    """`prepare` of what `read_file` gave for `path` (finite), its errors naming the file."""
    try:
        return prepare(x, cfg, spatial_dims, size, mask)
    except UsageError as exc:  # about this file's header (`prepare` does not know its name)
        raise UsageError(f"'{path}' {exc}") from None
    except Exception as exc:
        raise UsageError(f"cannot read medical image '{path}': {first_line(exc)}") from None


def prepare(x: Any, cfg: MedData, spatial_dims: int, size: int, mask: bool) -> Volume:
    """A file as read (`read_file`, finite) -> what the loader gives, with what it did."""
    from monai import transforms as T

    values = np.asarray(x, dtype=np.float32)
    low = float(values.min()) if values.size else 0.0
    high = float(values.max()) if values.size else 0.0
    done: list[str] = []
    notes: list[str] = []
    codes = axcodes(np.asarray(x.affine), x.ndim)
    if codes != cfg.orientation[: x.ndim]:
        done.append(f"{codes} reoriented to {cfg.orientation[: x.ndim]}")
    lesion, scale, whole = 0, 1.0, False
    if mask:  # binarise first: nearest-neighbour resampling keeps {0, 1}
        scale, whole = mask_kind(values)
        lesion = int(np.count_nonzero(is_lesion(values, scale, whole, cfg.mask_threshold)))
        x = is_lesion(x, scale, whole, cfg.mask_threshold).to(torch.float32)
    elif high == low:
        notes.append(f"constant volume (every voxel {low:g}): it becomes all -1")
    x = T.EnsureChannelFirst(channel_dim="no_channel")(x)
    with warnings.catch_warnings():  # MONAI's note on 2D tensors with one channel
        warnings.simplefilter("ignore", UserWarning)
        x = T.Orientation(axcodes=cfg.orientation, labels=None)(x)
    grid = _affine4(np.asarray(x.affine, dtype=np.float64))
    shape = tuple(int(s) for s in x.shape[1:])
    if cfg.pixdim:
        before = spacing(grid, len(shape))
        # a 2D run's [x, y] is in-plane: a volume keeps its slice spacing (MONAI: 0 keeps it)
        pixdim = [*cfg.pixdim, 0.0][: len(shape)]
        refuse_oversize(shape, before, pixdim, cfg.pixdim)
        # the field of view kept, centre and extent: n voxels of s mm become round(n * s / t)
        # of t mm (`resample.py`: MONAI's Spacing moved the grid of a scan near 0 mm)
        x = resample(x, pixdim, mask)
        after = spacing(np.asarray(x.affine), len(shape))
        if not np.allclose(before, after, rtol=1e-4):
            done.append(f"resampled from {_mm(before)} to {_mm(after)} mm")
    if not mask:
        low_p, high_p = cfg.percentiles
        with warnings.catch_warnings():  # a constant volume: said above, in words
            warnings.filterwarnings("ignore", message="Divide by zero")
            x = T.ScaleIntensityRangePercentiles(low_p, high_p, -1.0, 1.0, clip=True)(x)
    affine = _affine4(np.asarray(x.affine, dtype=np.float64))
    data = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    verb = "resized" if cfg.fit == "resize" else "cropped/padded"
    if spatial_dims == 2 and data.ndim == 4:  # the central axial slices of a volume
        depth, k = data.shape[-1], cfg.slices_per_volume
        first = max(0, depth // 2 - k // 2)
        slices = [data[..., z] for z in range(first, min(depth, first + k))]
        done.append(f"central {len(slices)} of {depth} axial slices")
        affines = []
        for z in range(first, first + len(slices)):
            a = affine.copy()
            a[:3, 3] = affine[:3, :3] @ np.array([0.0, 0.0, z]) + affine[:3, 3]
            affines.append(a)
        grid2d = tuple(int(s) for s in slices[0].shape[1:])
        if grid2d != (size, size):
            stretch = _stretch(grid2d, spacing(affine, 2)) if cfg.fit == "resize" else ""
            done.append(f"{_dims(grid2d)} {verb} to {size}x{size}{stretch}")
        in_slices = int(sum(float(s.sum()) for s in slices)) if mask else 0
        out = _binarise(torch.stack([_fit(s, size, 2, cfg.fit, mask) for s in slices]), mask)
        fitted_affines = _refit_affines(np.stack(affines), grid2d, size, cfg.fit)
    else:
        in_slices = lesion
        fitted_grid = tuple(int(s) for s in data.shape[1:])
        if fitted_grid != (size,) * spatial_dims:
            mm = spacing(affine, spatial_dims)
            stretch = _stretch(fitted_grid, mm) if cfg.fit == "resize" else ""
            cube = _dims((size,) * spatial_dims)
            done.append(f"{_dims(fitted_grid)} {verb} to {cube}{stretch}")
        out = _binarise(_fit(data, size, spatial_dims, cfg.fit, mask).unsqueeze(0), mask)
        fitted_affines = _refit_affines(affine[None], fitted_grid, size, cfg.fit)
    facts = None
    if mask:
        binary = bool(np.all((values == 0) | (values == 1)))
        nonzero, loaded = int(np.count_nonzero(values)), int(out.sum())
        # one more than shown: `data check` then knows to say "..."
        labels = tuple(float(v) for v in np.unique(values)[: LABELS_SHOWN + 1]) if whole else None
        facts = MaskFacts(
            nonzero, lesion, loaded, low, high, scale, binary, sliced=in_slices, labels=labels
        )
        notes += mask_warnings(facts, cfg.mask_threshold, size)
    return Volume(out, fitted_affines, shape, grid, tuple(done), tuple(notes), facts)


def refuse_oversize(
    shape: tuple[int, ...], before: np.ndarray, pixdim: list[float], given: list[float]
) -> None:
    """Refuse a volume data.pixdim would resample past MAX_VOXELS (before allocating it)."""
    after = np.where(np.asarray(pixdim) > 0, pixdim, before)
    grid = np.round(np.asarray(shape) * before / after)  # as `prepare` resamples
    if float(np.prod(grid)) > MAX_VOXELS:
        raise UsageError(
            f"has {_dims(shape)} voxels of {_mm(before)} mm: data.pixdim={given} would resample "
            f"it to {_dims(tuple(int(g) for g in grid))} voxels (more than 512^3); choose a "
            "coarser data.pixdim"
        )


def mask_warnings(facts: MaskFacts, threshold: float, size: int) -> list[str]:
    """The loader's warnings about a mask that gives no lesion although it held something."""
    if facts.nonzero and not facts.lesion:
        return [
            f"mask values up to {facts.high:g}, none >= data.mask_threshold={threshold:g}: "
            "it becomes an empty mask"
        ]
    if facts.lesion and not facts.loaded:
        where = (
            "lie outside the central axial slice(s) the loader takes"
            if not facts.sliced
            else f"vanish when resized to {size}"
        )
        return [f"its {facts.lesion:,} lesion voxels {where}: it becomes an empty mask"]
    return []


def load_converted(path: Path, spatial_dims: int, size: int, mask: bool) -> Volume:
    """A file `ganhub data convert --to nifti` wrote: read as it is (already on the model grid,
    scaled, thresholded); 2D samples are stacks (X, Y, K) of K slices."""
    import nibabel as nib

    try:
        img = cast("nib.Nifti1Image", nib.load(str(path)))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:
        raise UsageError(f"cannot read medical image '{path}': {first_line(exc)}") from None
    _refuse_damaged(path)
    affine = np.asarray(img.affine, dtype=np.float64)
    want = (size,) * spatial_dims
    if spatial_dims == 2 and data.ndim == 2:
        data = data[..., None]
    grid = data.shape if spatial_dims == 3 else data.shape[:2]
    if data.ndim != 3 or tuple(grid) != want:
        raise UsageError(
            f"'{path}' has shape {list(data.shape)}, not the {_dims(want)} grid it was "
            "converted to; convert the original data again"
        )
    refuse_nonfinite(data, path)
    if spatial_dims == 2:
        image = torch.from_numpy(np.ascontiguousarray(np.moveaxis(data, -1, 0)))[:, None]
        affines = np.repeat(affine[None], len(image), axis=0)
        affines[:, :3, 3] += np.arange(len(image))[:, None] * affine[:3, 2]
    else:
        image = torch.from_numpy(np.ascontiguousarray(data))[None, None]
        affines = affine[None]
    facts = None
    if mask:
        image = (image >= 0.5).float()
        n = int(image.sum())
        binary = bool(np.all((data == 0) | (data == 1)))
        low, high = float(data.min()), float(data.max())
        facts = MaskFacts(int(np.count_nonzero(data)), n, n, low, high, 1.0, binary, sliced=n)
    done = ("converted by ganhub data convert: read as it is",)
    shape = tuple(int(s) for s in data.shape)
    return Volume(image, affines, shape, affine, done, (), facts)


def pair_problems(a: Volume, b: Volume, name_a: str, name_b: str) -> tuple[str, str]:
    """(error, warning) about two partners ('' when none): another voxel grid is an error
    (they cannot be paired voxel by voxel); another spacing or origin is a warning."""
    if a.shape != b.shape:
        return (
            f"'{name_a}' has shape {list(a.shape)} but its partner '{name_b}' has "
            f"{list(b.shape)}; paired files must share one voxel grid",
            "",
        )
    d = len(a.shape)
    sa, sb = spacing(a.grid, d), spacing(b.grid, d)
    if not np.allclose(sa, sb, rtol=1e-3, atol=1e-4):
        return "", (
            f"'{name_a}' has voxels of {_mm(sa)} mm but its partner '{name_b}' {_mm(sb)} mm; "
            "the loader pairs them voxel by voxel"
        )
    if not np.allclose(a.grid, b.grid, rtol=1e-3, atol=1e-2):
        apart = float(np.linalg.norm(a.grid[:3, 3] - b.grid[:3, 3]))
        return "", (
            f"'{name_a}' and its partner '{name_b}' have different affines (origins "
            f"{apart:.3g} mm apart); the loader pairs them voxel by voxel"
        )
    return "", ""


# -- helpers ------------------------------------------------------------------------------------


def _affine4(affine: np.ndarray) -> np.ndarray:
    """A 2D (3x3) affine embedded in 4x4; a 4x4 one unchanged."""
    if affine.shape == (4, 4):
        return affine
    out = np.eye(4)
    out[:2, :2], out[:2, 3] = affine[:2, :2], affine[:2, 2]
    return out


def _fit(x: Tensor, size: int, spatial_dims: int, how: str, mask: bool) -> Tensor:
    """Resize the field of view, or centre crop/pad, to `size` along each spatial axis.

    Resizing keeps voxel centres aligned with the field of view (what `_refit_affines` assumes):
    masks take the nearest voxel ("nearest-exact"; torch's "nearest" takes floor(i * zoom),
    half an output voxel off), images are averaged over each output voxel ("area") when no axis
    grows, else interpolated linearly with skimage's Gaussian anti-aliasing on shrinking axes
    (area would repeat input voxels in blocks where an axis grows).
    """
    from monai import transforms as T

    shape = (size,) * spatial_dims
    op: Any
    if how == "resize" and mask:
        op = T.Resize(shape, mode="nearest-exact")
    elif how == "resize" and all(s >= size for s in x.shape[1:]):
        op = T.Resize(shape, mode="area")
    elif how == "resize":
        linear = "bilinear" if spatial_dims == 2 else "trilinear"
        op = T.Resize(shape, mode=linear, align_corners=False, anti_aliasing=True)
    else:
        op = T.ResizeWithPadOrCrop(shape, mode="constant", value=0.0 if mask else -1.0)
    out: Tensor = op(x)
    return out


def _stretch(grid: tuple[int, ...], mm: np.ndarray) -> str:
    """What resizing a field of view of `grid` voxels of `mm` to a square (cube) grid does to
    its proportions ("" when it keeps them): the axes it stretches, and how to keep them."""
    extent = np.asarray(grid, dtype=np.float64) * np.asarray(mm, dtype=np.float64)
    factors = extent.max() / extent
    if factors.max() < 1.01:  # square already (to a percent)
        return ""
    axes = ", ".join(f"{'xyz'[i]} stretched {f:.3g}x" for i, f in enumerate(factors) if f >= 1.01)
    keep = "data.fit=crop_pad keeps the proportions"
    if not np.allclose(mm, mm.min(), rtol=0.01):  # anisotropic voxels: resample them first
        iso = ", ".join([f"{float(mm.min()):.3g}"] * len(grid))
        keep = f"data.pixdim=[{iso}] (isotropic voxels) with {keep}"
    made = "square" if len(grid) == 2 else "a cube"
    return (
        f" (its {_mm(extent)} mm field of view made {made}, the aspect ratio changed: {axes}; "
        f"{keep})"
    )


def _binarise(x: Tensor, mask: bool) -> Tensor:
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    return (x >= 0.5).float() if mask else x


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _mm(values: np.ndarray) -> str:
    return "x".join(f"{v:.3g}" for v in values)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)
