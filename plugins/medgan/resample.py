"""`data.pixdim`: a scan resampled to voxels of the asked spacing over the same field of view.

Along each axis, n voxels of s mm become m = round(n * s / t) voxels of t mm (at least one), as
SimpleITK users resample (80 at 1 mm: 40 at 2 mm, 160 at 0.5 mm), and the new grid is centred
where the old one was: each axis's field of view keeps its centre in mm, and when n * s / t is
whole its outer edges too. An axis whose spacing is already t (within MONAI's 1e-3 mm) keeps
its voxels where they are, and a scan whose every axis does is not resampled at all.

MONAI's `Spacing(scale_extent=True)` counts m the same way, but places the grid with
`abs(first centre) * sign(outer corner)` (`monai.data.utils.compute_shape_offset`): where the
first voxel's outer corner and the new first centre lie on either side of 0 mm (a scan whose
origin is 0, as nibabel writes by default, or within t / 2 of it), the grid moved by up to t - s
mm, losing that much of the field of view on one side and padding the other; at the same spacing
a scan whose origin lay within s / 2 of 0 mm was shifted by up to a voxel and interpolated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def target_grid(
    affine: np.ndarray, shape: tuple[int, ...], pixdim: list[float]
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The (d+1, d+1) affine and the shape of the grid `data.pixdim` resamples a scan of `shape`
    voxels with `affine` ((d+1, d+1)) to; a `pixdim` of 0 keeps that axis's spacing."""
    from monai.data.utils import AFFINE_TOL, zoom_affine

    d = len(shape)
    before = np.linalg.norm(affine[:d, :d], axis=0)
    after = np.asarray([t if t > 0 else s for s, t in zip(before, pixdim)], dtype=np.float64)
    after = np.where(np.abs(after - before) <= AFFINE_TOL, before, after)  # as Spacing keeps it
    n = np.asarray(shape, dtype=np.float64)
    m = np.maximum(1.0, np.round(n * before / after))
    out = zoom_affine(affine, after, diagonal=False)  # the axes' directions, the new spacing
    centre = affine[:d, :d] @ ((n - 1) / 2) + affine[:d, d]  # the field of view's centre, mm
    out[:d, d] = centre - out[:d, :d] @ ((m - 1) / 2)
    if np.allclose(out, affine, atol=1e-6) and np.array_equal(m, n):
        out = affine.copy()  # nothing to resample: no interpolation, bit for bit
    return out, tuple(int(v) for v in m)


def resample(x: Any, pixdim: list[float], mask: bool) -> Any:
    """MetaTensor `x` (channel first) on the `target_grid` of `pixdim`: nearest neighbours for a
    mask, linear for an image, the border's values past the edges (as MONAI's `Spacing`)."""
    from monai import transforms as T
    from monai.data.utils import to_affine_nd

    shape = tuple(int(s) for s in x.shape[1:])
    affine = np.asarray(to_affine_nd(len(shape), np.asarray(x.affine, dtype=np.float64)))
    out, grid = target_grid(affine, shape, pixdim)
    if grid == shape and np.array_equal(out, affine):
        return x
    op = T.SpatialResample(mode="nearest" if mask else "bilinear", padding_mode="border")
    return op(x, dst_affine=torch.as_tensor(out), spatial_size=grid)
