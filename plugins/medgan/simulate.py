"""Lesion simulation with a trained `task=lesion` run: place a lesion, get the simulated image.

Python::

    from ganhub_medgan.simulate import load_simulator, place_lesion
    sim = load_simulator("runs/medgan-...")
    mask = place_lesion(sim.shape, center=(40, 30), radius=4)
    image = sim(mask)                         # (1, 1, *spatial) in [-1, 1]

Command line: ``ganhub medgan simulate RUN_DIR --mask mask.nii.gz`` (or ``--at X,Y --radius R``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganhub.errors import UsageError

# what `simulate_to_files` writes into its folder: the image, the mask, base | mask | simulated
OUTPUTS = ("simulated.nii.gz", "simulated_mask.nii.gz", "simulated.png")
RADIUS = 3.0  # an --at lesion's radius (voxels) when --radius is not given


def place_lesion(shape: Sequence[int], center: Sequence[float], radius: float) -> Tensor:
    """A {0, 1} mask (1, *shape) holding one disc (2D) or ball (3D) of `radius` voxels at `center`.

    `center` is in voxel indices (x, y[, z]) of the run's image grid (RAS order, as in NIfTI).
    """
    if len(center) != len(shape):
        raise UsageError(
            f"lesion center {list(center)} needs {len(shape)} coordinates for a {len(shape)}D image"
        )
    if not 0 < radius < math.inf:
        raise UsageError(f"lesion radius {radius}: must be a positive number of voxels")
    if not all(math.isfinite(c) for c in center):
        raise UsageError(f"lesion center {list(center)}: voxel coordinates must be finite numbers")
    if any(not 0 <= c < s for c, s in zip(center, shape)):
        raise UsageError(f"lesion center {list(center)} lies outside the image grid {list(shape)}")
    axes = torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in shape], indexing="ij")
    dist2 = sum((a - c) ** 2 for a, c in zip(axes, center))
    return (dist2 <= radius**2).float().unsqueeze(0)  # type: ignore[union-attr]


@dataclass
class Simulator:
    """A trained lesion model with its default base image; call it with a mask."""

    system: Any  # MedPairedGAN with task=lesion
    base: Tensor | None  # (1, *spatial) healthy image in [-1, 1]; None: callers give images
    affine: np.ndarray  # (4, 4) voxel -> RAS of the base image

    @property
    def shape(self) -> tuple[int, ...]:
        """The spatial shape masks must have: the run's image grid."""
        cfg = self.system.config
        return (cfg.model.image_size,) * cfg.spatial_dims

    def __call__(self, mask: Tensor, image: Tensor | None = None) -> Tensor:
        """The simulated image (1, 1, *spatial) in [-1, 1]: `image` (default: the base) with a
        lesion painted where `mask` is 1."""
        from ganhub_medgan.system import lesion_condition

        mask = mask.float().reshape(1, 1, *mask.shape[-len(self.shape) :])
        image = image if image is not None else self.base
        if image is None:
            raise UsageError("this simulator holds no base image: give the image to paint on")
        image = image.float().reshape(1, 1, *self.shape)
        if tuple(mask.shape[2:]) != self.shape:
            raise UsageError(
                f"mask shape {list(mask.shape[2:])} does not match the run's image grid {list(self.shape)}"
            )
        condition = lesion_condition(image, (mask > 0.5).float(), self.system.config.data.erase)
        return self.system.translate_batched(condition)


def load_simulator(run_dir: str | Path, device: str = "cpu", *, base: bool = True) -> Simulator:
    """Open a `task=lesion` run with `ganhub.load`; its base image is a healthy phantom (or,
    for folder data, its first image, read from data.path; `base=False` when every call
    gives its own image, so the training data need not be there). A run of another domain or
    task is refused."""
    from ganhub_medgan.config import MedGANConfig

    from ganhub.api import load

    model = load(run_dir, device=device, plugin="medgan")
    cfg = model.config
    assert isinstance(cfg, MedGANConfig)  # load(plugin="medgan") validated it as one
    if cfg.task != "lesion":
        raise UsageError(
            f"'{run_dir}' was trained with task={cfg.task}; lesion simulation needs a task=lesion run"
        )
    if not base:
        return Simulator(model.system, None, np.eye(4))
    return Simulator(model.system, *default_base(model.system))


def default_base(system: Any) -> tuple[Tensor, np.ndarray]:
    """A lesion run's default base image and its affine: a healthy phantom, or the first
    image of a folder run's data (its `eval_batch(1)`), reading only the first usable
    sample's files: the rest of the folder, and its loader warnings, are not the base's."""
    from ganhub_medgan.folder import iter_folder
    from ganhub_medgan.phantoms import make_phantoms
    from ganhub_medgan.splits import folder_gone, missing_folder
    from ganhub_medgan.system import EVAL_SEED

    cfg = system.config
    if cfg.data.source == "phantom":
        ph = make_phantoms(1, cfg.model.image_size, cfg.spatial_dims, seed=EVAL_SEED + 1,
                           noise=cfg.data.noise, contrasts=(cfg.data.contrast,), lesions=False)  # fmt: skip
        return ph.images[cfg.data.contrast][0], ph.affine
    if folder_gone(cfg):
        raise UsageError(missing_folder(cfg))
    # the folder's first usable sample, as training loaded it; the rest is never read
    _, volumes = next(iter_folder(cfg.task, cfg.data, cfg.spatial_dims, cfg.model.image_size))
    return volumes[0].image[0], volumes[0].affine[0]


def central(volume: Any) -> tuple[Tensor, np.ndarray]:
    """(image (1, *spatial), affine) of a loaded file: in 2D the central one of the K central
    axial slices the run takes (data.slices_per_volume), the volume's own central slice."""
    k = len(volume.image) // 2  # the loader takes K slices from depth // 2 - K // 2 on
    return volume.image[k], volume.affine[k]


def load_pair(sim: Simulator, image: Path, mask: Path) -> tuple[Tensor, Tensor, np.ndarray]:
    """A base image and a mask file through the run's own preprocessing (so their grids match);
    in 2D, their central axial slice."""
    from ganhub_medgan.volume import load_file

    cfg = sim.system.config
    size = cfg.model.image_size
    img = read_image(sim, image)
    msk = load_file(mask, cfg.data, cfg.spatial_dims, size, mask=True)
    if img.shape != msk.shape:
        raise UsageError(
            f"mask '{mask}' has shape {list(msk.shape)} but image '{image}' has {list(img.shape)}"
        )
    # the same voxel grid, as stored: another spacing or origin (a mask drawn on a resampled
    # copy of the scan) would paint the lesion elsewhere in the body, with the image's affine
    if differs := off_grid(msk.grid, img.grid):
        raise UsageError(
            f"mask '{mask}' is not on the voxel grid of image '{image}' ({differs}"
            f"{_spacings(msk.grid, img.grid)}): give the mask drawn on that scan"
        )
    base, affine = central(img)
    return base, central(msk)[0], affine


def load_base(sim: Simulator, image: Path) -> tuple[Tensor, np.ndarray]:
    """A base image file through the run's own preprocessing, on the run's grid (in 2D, its
    central axial slice)."""
    return central(read_image(sim, image))


def read_image(sim: Simulator, image: Path) -> Any:
    """The --image file as a `Volume` (a binary mask refused), saying the loader's warnings."""
    return read_scan(sim.system.config, image, "the scan to paint on (its lesion mask: --mask)")


def read_scan(cfg: Any, path: Path, wanted: str) -> Any:
    """A scan given as --image through the run's preprocessing (`volume.load_file`), as a
    `Volume`: a binary mask (`mask_value`) is refused, saying what is `wanted`, and the loader's
    warnings (a constant volume) are said on stderr, naming the file."""
    from ganhub_medgan.notes import warn
    from ganhub_medgan.outputs import mask_value
    from ganhub_medgan.volume import prepare_file, read_file, refuse_nonfinite

    x = read_file(path, cfg.spatial_dims)
    refuse_nonfinite(np.asarray(x), path)
    if (top := mask_value(np.asarray(x))) is not None:
        raise UsageError(
            f"--image '{path}' holds only the values 0 and {top:g}: a segmentation mask, not a "
            f"scan (a scan has many grey levels); give {wanted}"
        )
    size = cfg.model.image_size
    volume = prepare_file(x, path, cfg.data, cfg.spatial_dims, size, mask=False)
    for line in volume.warnings:
        warn(f"--image '{path}': {line}")
    return volume


def load_mask(sim: Simulator, path: Path) -> tuple[Tensor, np.ndarray]:
    """A mask file drawn on the run's image grid, read as training reads masks (LESION_RULE,
    reoriented to the run's data.orientation; not resampled nor resized): (mask (1, *grid),
    its affine)."""
    from ganhub_medgan.outputs import NIFTI_SUFFIXES
    from ganhub_medgan.volume import prepare_file, read_file

    cfg = sim.system.config
    if not path.is_file():
        raise UsageError(f"mask '{path}' does not exist")
    if not path.name.endswith(NIFTI_SUFFIXES):
        raise UsageError(f"mask '{path}': expected a NIfTI file (.nii or .nii.gz)")
    x = read_file(path, cfg.spatial_dims)
    if not np.isfinite(np.asarray(x)).all():
        raise UsageError(f"mask '{path}' holds NaN or infinite voxels; a mask is 0 and 1")
    # on the run's grid already: only the orientation is the loader's to change
    data = cfg.data.model_copy(update={"pixdim": None})
    volume = prepare_file(x, path, data, cfg.spatial_dims, cfg.model.image_size, mask=True)
    if volume.shape != sim.shape:  # the loader would have resized it: not where it was drawn
        raise UsageError(
            f"mask '{path}' has shape {list(volume.shape)}, which does not match "
            f"the run's image grid {list(sim.shape)}: draw it on that grid, or give the scan "
            "it was drawn on with --image (the mask is then read on that scan's grid)"
        )
    return volume.image[0], volume.affine[0]


def off_grid(mask_affine: np.ndarray, base_affine: np.ndarray) -> str:
    """How a mask's affine differs from its base image's ('' when they agree, to 0.01 mm)."""
    if np.allclose(mask_affine, base_affine, rtol=0, atol=1e-2):
        return ""
    apart = float(np.linalg.norm(mask_affine[:3, 3] - base_affine[:3, 3]))
    return f"origins {apart:.3g} mm apart" if apart > 1e-2 else "another spacing or direction"


def _spacings(mask_affine: np.ndarray, image_affine: np.ndarray) -> str:
    """': voxels of 0.5x0.5x0.5 mm, the image's 1x1x1 mm' when the spacings differ, else ''."""
    from ganhub_medgan.volume import spacing

    mask_sp, image_sp = spacing(mask_affine, 3), spacing(image_affine, 3)
    if np.allclose(mask_sp, image_sp, rtol=1e-3, atol=1e-4):
        return ""
    mask_mm, image_mm = ("x".join(f"{v:.3g}" for v in s) for s in (mask_sp, image_sp))
    return f": voxels of {mask_mm} mm, the image's {image_mm} mm"


def simulate_to_files(
    run_dir: Path,
    out: Path,
    *,
    mask_path: Path | None = None,
    at: Sequence[float] | None = None,
    radius: float | None = None,
    image_path: Path | None = None,
    device: str = "cpu",
    force: bool = False,
) -> list[Path]:
    """The `simulate` command: write the simulated image (NIfTI + PNG) and the mask used
    (`OUTPUTS`), all or none; files already in `out` are refused, before the run is opened,
    unless `force`. `radius` (of an `at` lesion) defaults to `RADIUS`; with a mask it is
    refused. Both NIfTI headers' `descrip` say what made them (`provenance`)."""
    from ganhub_medgan.outputs import (
        LESION_RULE,
        provenance,
        refuse_existing,
        write_all,
        write_grid,
        write_nifti_batch,
    )
    from ganhub_medgan.splits import note

    if mask_path is not None and at is not None:
        raise UsageError("--mask and --at both say where the lesion goes; give one of them")
    if mask_path is not None and radius is not None:
        raise UsageError(
            f"--radius {radius:g} sizes an --at lesion; --mask '{mask_path}' gives the lesion's "
            "own shape: drop --radius (or give --at X,Y[,Z] instead of --mask)"
        )
    radius = RADIUS if radius is None else radius
    refuse_existing(out, OUTPUTS, force)
    # a mask without --image is checked against the run's grid before the base image is read
    given_mask = image_path is None and mask_path is not None
    sim = load_simulator(run_dir, device, base=image_path is None and not given_mask)
    image: Tensor | None = None
    affine = sim.affine
    if image_path is not None:
        if mask_path is not None:
            image, mask, affine = load_pair(sim, image_path, mask_path)
        elif at is not None:
            check_point(at, sim.shape)
            image, affine = load_base(sim, image_path)
            mask = place_lesion(sim.shape, at, radius)
        else:
            raise UsageError("--image needs --mask FILE or --at X,Y[,Z]: where the lesion goes")
    elif mask_path is not None:
        mask, mask_affine = load_mask(sim, mask_path)
        sim.base, affine = default_base(sim.system)  # the base image, now that the mask fits
        # the base image's voxels are what is written: its affine places them (the mask's
        # voxels are read in the run's orientation, as the base image's are)
        if differs := off_grid(mask_affine, affine):
            note(
                f"mask '{mask_path}' and the base image have different affines ({differs}): "
                "the lesion is placed on the base image voxel by voxel, and the outputs take "
                "the base image's affine"
            )
    elif at is not None:
        check_point(at, sim.shape)
        mask = place_lesion(sim.shape, at, radius)
    else:
        raise UsageError("give --mask FILE (a NIfTI lesion mask) or --at X,Y[,Z] with --radius R")
    if not bool(mask.max() > 0.5):  # an empty lesion: the "simulation" would be the input
        if mask_path is None:  # the mask rule is about files: an --at ball missed every centre
            raise UsageError(
                f"--at {','.join(f'{c:g}' for c in at or ())} with --radius {radius:g} holds no "
                "voxel centre (a voxel is lesion when its centre lies within the radius): "
                "give a larger --radius"
            )
        raise UsageError(
            f"mask '{mask_path}' marks no lesion voxel on the {list(sim.shape)} grid "
            f"({LESION_RULE}); nothing would be simulated"
        )
    if mask_path is None and bool(mask.min() > 0.5):  # nothing of the base image kept
        raise UsageError(
            f"--at {_point(at)} with --radius {radius:g} covers every voxel of the run's "
            f"{'x'.join(map(str, sim.shape))} grid: give a smaller --radius (in voxels)"
        )
    result = sim(mask, image)
    painted = image if image is not None else sim.base
    assert painted is not None
    base = painted.reshape(1, 1, *sim.shape)
    m = mask.reshape(1, 1, *sim.shape)
    image_file, mask_file, png = OUTPUTS
    names = [(" from ", mask_path.name)] if mask_path is not None else []
    names += [(" in ", image_path.name)] if image_path is not None else []
    names += [("; run ", Path(run_dir).resolve().name)]
    lesion = "lesion" if mask_path is not None else f"lesion r={radius:g} at {_point(at)}"
    about = provenance("simulate", lesion, names)
    writers = {
        image_file: lambda path: write_nifti_batch(result, affine, path, about=about),
        mask_file: lambda path: write_nifti_batch(m, affine, path, label=True, about=about),
        png: lambda path: write_grid([base, m * 2 - 1, result], path),
    }
    return write_all(out, writers, force)


def parse_point(text: str) -> list[float]:
    """'40,30' -> [40.0, 30.0] (voxel coordinates): finite numbers, two or three of them."""
    parts = text.split(",")
    how = "write the lesion centre as voxel indices X,Y (2D runs) or X,Y,Z (3D runs)"
    try:
        point = [float(v) for v in parts]
    except ValueError:
        raise UsageError(f"--at {text!r}: {how}, numbers separated by commas") from None
    odd = [v.strip() for v, c in zip(parts, point) if not math.isfinite(c)]
    if odd:
        raise UsageError(f"--at {text!r}: {odd[0]!r} is not a finite number; {how}")
    if len(point) not in (2, 3):
        many = f"{len(point)} coordinate" + ("s" if len(point) > 1 else "")
        raise UsageError(f"--at {text!r} gives {many}; {how}")
    return point


def check_point(at: Sequence[float], shape: Sequence[int]) -> None:
    """Refuse an --at centre of the wrong dimension or off the run's grid, naming --at."""
    grid = "x".join(map(str, shape))
    span = f"voxel indices from 0 to {max(shape) - 1}" if len(set(shape)) == 1 else "voxel indices"
    if len(at) != len(shape):
        need = "X,Y" if len(shape) == 2 else "X,Y,Z"
        raise UsageError(
            f"--at {_point(at)} gives {len(at)} coordinates; this {len(shape)}D run's grid is "
            f"{grid}: give {need} ({span})"
        )
    for axis, c, s in zip("XYZ", at, shape):
        if not 0 <= c < s:  # NaN too (parse_point refuses it first)
            raise UsageError(
                f"--at {_point(at)}: {axis}={c:g} lies outside the run's {grid} grid "
                f"({axis} from 0 to {s - 1})"
            )


def _point(at: Sequence[float] | None) -> str:
    return ",".join(f"{c:g}" for c in at or ())


__all__ = [
    "RADIUS",
    "Simulator",
    "load_simulator",
    "parse_point",
    "place_lesion",
    "read_scan",
    "simulate_to_files",
]
