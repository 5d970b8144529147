"""medgan audit: where `data.pixdim` puts a scan, what a folder run's resume keeps, and what
the loader says about the folders users bring.

MONAI's `Spacing(scale_extent=True)` counted round(n * s / t) voxels but placed the grid by the
sign of a corner's position: a scan whose origin lies near 0 mm (nibabel's default affine) was
moved by up to t - s mm (a 40 mm scan at 4 mm lost its last 3 mm and gained 3 mm of padding),
and one kept at its own spacing was shifted by up to a voxel and interpolated. A resume with
another `data.percentiles` trained the weights on another contrast of the same tissue without
a word."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData  # noqa: E402
from ganhub_medgan.volume import load_file  # noqa: E402

import ganhub  # noqa: E402
from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.errors import ConfigError  # noqa: E402

from ..test_medgan_audit12 import _translate_folder  # noqa: E402  (pairs of NIfTI volumes)

pytestmark = pytest.mark.usefixtures("one_thread")


def _load(path: Path, pixdim: list[float] | None, size: int, mask: bool, dims: int = 3):
    with warnings.catch_warnings():  # MONAI's notes on 2D tensors
        warnings.simplefilter("ignore")
        cfg = MedData(pixdim=pixdim, fit="crop_pad", percentiles=(0.0, 100.0))
        return load_file(path, cfg, dims, size, mask=mask)


@pytest.mark.parametrize("origin", [0.0, 0.5, -1.0, -40.0, 7.3])
def test_pixdim_keeps_where_a_block_lies(tmp_path: Path, origin: float) -> None:
    # a 4 mm block at voxels 8-11 of a 1 mm scan is voxels 2 of the 4 mm grid, wherever the
    # scan lies in mm (the old grid moved by up to 3 mm for origins near 0)
    block = np.zeros((16, 16, 16), np.float32)
    block[8:12, 4:8, 12:16] = 1
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = origin
    path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(block, affine), path)
    volume = _load(path, [4.0, 4.0, 4.0], 4, mask=True)
    got = volume.image[0, 0].numpy()
    assert np.argwhere(got > 0).tolist() == [[2, 1, 3]]
    # the field of view's lower edge stays at the scan's (origin - 0.5 mm)
    edge = volume.affine[0] @ np.array([-0.5, -0.5, -0.5, 1.0])
    np.testing.assert_allclose(edge[:3], origin - 0.5, atol=1e-6)


@pytest.mark.parametrize("origin", [0.25, 0.4, -3.0])
def test_the_same_spacing_keeps_every_voxel(tmp_path: Path, origin: float) -> None:
    # at its own spacing a scan is not resampled: the same voxels, the same affine (an origin
    # within half a voxel of 0 mm was shifted by twice the origin and interpolated)
    values = np.random.default_rng(0).random((12, 10, 8)).astype(np.float32)
    affine = np.diag([1.5, 1.5, 2.0, 1.0])
    affine[:3, 3] = origin
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(values, affine), path)
    kept = _load(path, [1.5, 1.5, 2.0], 12, mask=False)
    plain = _load(path, None, 12, mask=False)
    assert np.array_equal(kept.image.numpy(), plain.image.numpy())
    np.testing.assert_allclose(kept.affine, plain.affine, atol=1e-9)


def test_a_2d_run_keeps_the_slice_axis_where_it_was(tmp_path: Path) -> None:
    # data.pixdim=[x, y] in 2D keeps each volume's slices (MONAI's 0), and their positions
    values = np.zeros((8, 8, 5), np.float32)
    values[..., 2] = np.arange(64, dtype=np.float32).reshape(8, 8)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = 0.3  # the old grid moved the slices by 0.6 mm, mixing neighbours
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(values, affine), path)
    cfg = MedData(pixdim=[1.0, 1.0], fit="crop_pad", percentiles=(0.0, 100.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        volume = load_file(path, cfg, 2, 8, mask=False)
    mid = volume.image[0, 0].numpy()
    assert np.allclose((mid + 1) / 2 * 63, values[..., 2], atol=1e-4)
    np.testing.assert_allclose(volume.affine[0][:3, 3], [0.3, 0.3, 2.3], atol=1e-9)


def test_pixdim_gives_at_least_one_voxel_per_axis(tmp_path: Path) -> None:
    # 3 mm at 10 mm rounds to 0 voxels: MONAI's "Expected non-zero, positive output size"
    path = tmp_path / "thin.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((3, 8, 8), np.float32), np.eye(4)), path)
    volume = _load(path, [10.0, 1.0, 1.0], 8, mask=True)
    assert "resampled from 1x1x1 to 10x1x1 mm" in volume.done
    assert volume.mask is not None and volume.mask.loaded == 64  # one 8x8 slab of lesion
    # the one 10 mm voxel (padded to voxel 3 of 8) sits on the 3 mm the scan spanned
    centre = volume.affine[0] @ np.array([3.0, 3.5, 3.5, 1.0])
    np.testing.assert_allclose(centre[:3], [1.0, 3.5, 3.5], atol=1e-6)


# -- resume -------------------------------------------------------------------------------------

TINY = [
    "plugin=medgan", "preset=tiny", "model.image_size=16", "model.unet_depth=2",
    "data.n_eval=2", "trainer.steps=1", "trainer.batch_size=2", "trainer.checkpoint_every=1",
    "eval.metrics=[]", "trainer.progress=false", "loggers=[jsonl]",
]  # fmt: skip


def test_a_folder_resume_keeps_its_percentiles(workdir: Path) -> None:
    folder = _translate_folder(workdir / "pairs", (16, 16, 6), (1, 1, 3))
    run = Path(
        ganhub.train([*TINY, "task=translate", f"data.path={folder}",
                      "data.slices_per_volume=2", "name=pct"])["run_dir"]
    )  # fmt: skip
    key = "data.percentiles"
    with pytest.raises(ConfigError, match=rf"^{key}=\[1, 99\]: runs/\w+ trained with "
                       rf"{key}=\[0\.5, 99\.5\], and a resumed run's {key} cannot change; "
                       rf"make a new run \({key}=\[1, 99\] init_from=runs/\w+"):  # fmt: skip
        resolve([f"resume={run}", "data.percentiles=[1,99]", "trainer.steps=2"])
    (state,) = run.glob("checkpoints/step_*/state.json")
    assert json.loads(state.read_text())["state"]["fixed"][key] == [0.5, 99.5]
    # the same pair typed otherwise, and more slices of each volume: a resume
    config = resolve([f"resume={run}", "data.percentiles=[0.5,99.5]",
                      "data.slices_per_volume=4", "trainer.steps=2"])  # fmt: skip
    assert config.data.slices_per_volume == 4  # type: ignore[attr-defined]


def test_a_phantom_resume_may_change_percentiles(workdir: Path) -> None:
    # the phantoms are made on their own scale: the key only says how predict reads scans
    run = Path(ganhub.train([*TINY, "data.n_samples=4", "name=ph"])["run_dir"])
    config = resolve([f"resume={run}", "data.percentiles=[1,99]", "trainer.steps=2"])
    assert tuple(config.data.percentiles) == (1.0, 99.0)  # type: ignore[attr-defined]


# -- a damaged .nii.gz --------------------------------------------------------------------------


def _damaged(tmp_path: Path, at: int) -> Path:
    """A .nii.gz whose byte `at` (from the end when negative) is flipped: nibabel still reads it."""
    path = tmp_path / "scan.nii.gz"
    values = np.random.default_rng(0).random((20, 20, 12)).astype(np.float32)
    nib.save(nib.Nifti1Image(values, np.eye(4)), path)
    raw = bytearray(path.read_bytes())
    raw[at if at < 0 else len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    np.asarray(nib.load(path).dataobj)  # nibabel never reaches the gzip trailer
    return path


@pytest.mark.parametrize("at", [0, -6], ids=["inflates-to-other-voxels", "checksum"])
def test_a_damaged_gzip_stream_is_refused_in_one_line(tmp_path: Path, at: int) -> None:
    from ganhub.errors import UsageError

    path = _damaged(tmp_path, at)
    with pytest.raises(UsageError) as caught:
        _load(path, None, 16, mask=False)
    message = str(caught.value)
    assert message.startswith(f"cannot read medical image '{path}': a damaged gzip file (CRC")
    assert message.endswith("its voxels cannot be trusted; copy it again")
    assert "\n" not in message


def test_a_truncated_gzip_stream_says_truncated(tmp_path: Path) -> None:
    from ganhub.errors import UsageError

    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((20, 20, 12), np.float32), np.eye(4)), path)
    path.write_bytes(path.read_bytes()[:-40])  # the header and most voxels are there
    with pytest.raises(UsageError, match=r"': truncated: its gzip data ends before the end"):
        _load(path, None, 16, mask=False)
