"""`data.pixdim` resamples a scan to the voxel count that keeps its field of view: n voxels of s
mm become round(n * s / t) voxels of t mm (MONAI's `Spacing(scale_extent=True)`, SimpleITK's
usual recipe). Measured from voxel centres ((n - 1) * s / t + 1, MONAI's default) an 80x72 scan
at twice the spacing fell on 40.5 x 36.5 voxels and float noise picked 40x36 or 41x37 by
spacing, and half the spacing gave 159x143, not 160x144."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData  # noqa: E402
from ganhub_medgan.volume import load_file  # noqa: E402


def _grid(path: Path, mm: float) -> str:
    with warnings.catch_warnings():  # MONAI's notes on 2D tensors
        warnings.simplefilter("ignore")
        volume = load_file(path, MedData(pixdim=[mm, mm], fit="crop_pad"), 2, 16, mask=False)
    (fitted,) = [d for d in volume.done if "cropped/padded" in d]
    return fitted.split()[0]


@pytest.mark.parametrize("mm", [0.8, 1.0, 1.2])
def test_pixdim_keeps_the_field_of_view_of_an_80x72_scan(tmp_path: Path, mm: float) -> None:
    affine = np.diag([mm, mm, 3.0, 1.0])
    affine[:3, 3] = [-40.3, 17.1, 3.0]
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((80, 72), np.float32), affine), path)
    assert _grid(path, mm) == "80x72"  # the same spacing: the same grid
    assert _grid(path, 2 * mm) == "40x36"
    assert _grid(path, mm / 2) == "160x144"
