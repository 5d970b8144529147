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
    img = load_file(image, cfg.data, cfg.spatial_dims, size, mask=False)
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
    from ganhub_medgan.volume import load_file

    cfg = sim.system.config
    img = load_file(image, cfg.data, cfg.spatial_dims, cfg.model.image_size, mask=False)
    return central(img)


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
    radius: float = 3.0,
    image_path: Path | None = None,
    device: str = "cpu",
    force: bool = False,
) -> list[Path]:
    """The `simulate` command: write the simulated image (NIfTI + PNG) and the mask used
    (`OUTPUTS`), all or none; files already in `out` are refused, before the run is opened,
    unless `force`."""
    from ganhub_medgan.outputs import (
        LESION_RULE,
        refuse_existing,
        write_all,
        write_grid,
        write_nifti_batch,
    )
    from ganhub_medgan.splits import note

    if mask_path is not None and at is not None:
        raise UsageError("--mask and --at both say where the lesion goes; give one of them")
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
    result = sim(mask, image)
    painted = image if image is not None else sim.base
    assert painted is not None
    base = painted.reshape(1, 1, *sim.shape)
    m = mask.reshape(1, 1, *sim.shape)
    image_file, mask_file, png = OUTPUTS
    writers = {
        image_file: lambda path: write_nifti_batch(result, affine, path),
        mask_file: lambda path: write_nifti_batch(m, affine, path, label=True),
        png: lambda path: write_grid([base, m * 2 - 1, result], path),
    }
    return write_all(out, writers, force)


def parse_point(text: str) -> list[float]:
    """'40,30' -> [40.0, 30.0] (voxel coordinates)."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--at {text!r}: write voxel coordinates as X,Y or X,Y,Z") from None


__all__ = ["Simulator", "load_simulator", "place_lesion", "simulate_to_files"]
