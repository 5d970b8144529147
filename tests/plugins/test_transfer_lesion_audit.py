"""User audit of lesion simulation (`ganhub medgan simulate`) and text style transfer.

`--image scan --mask mask` painted a mask stored at another voxel spacing (or origin) than the
scan voxel by voxel, without a word: a mask at 0.5 mm on a 1 mm scan put the lesion in half the
body's extent away from where it was drawn. It is refused now, naming both files and spacings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from .test_medgan_simulate_grid import Cli, train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (16, 16, 4)


@pytest.fixture(scope="module")
def lesion_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-step 2D task=lesion run on the phantoms (16 px)."""
    return train(["task=lesion"], tmp_path_factory.mktemp("lesion"))


def _save(path: Path, data: np.ndarray, mm: float) -> Path:
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.diag([mm, mm, mm, 1.0])), str(path))
    return path


def test_simulate_refuses_a_mask_at_another_spacing_than_its_image(
    lesion_run: Path, tmp_path: Path, cli: Cli
) -> None:
    image = _save(tmp_path / "scan.nii.gz", np.random.default_rng(0).normal(size=SHAPE), 1.0)
    lesion = np.zeros(SHAPE)
    lesion[6:10, 6:10, 1:3] = 1
    mask = _save(tmp_path / "mask.nii.gz", lesion, 0.5)
    out = tmp_path / "sim"
    code, _, err = cli(
        "medgan", "simulate", str(lesion_run), "--image", str(image), "--mask", str(mask),
        "--out", str(out),
    )  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "'" + str(mask) + "' is not on the voxel grid of image '" + str(image) in lines[0]
    assert "voxels of 0.5x0.5x0.5 mm, the image's 1x1x1 mm" in lines[0]
    assert not out.exists() or not any(out.iterdir())
    # the mask drawn on that scan (its grid) is painted
    same = _save(tmp_path / "same.nii.gz", lesion, 1.0)
    code, printed, err = cli(
        "medgan", "simulate", str(lesion_run), "--image", str(image), "--mask", str(same),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert len(printed.split()) == 3


def test_simulate_at_a_ball_between_voxel_centres_says_so_not_the_mask_rule(
    lesion_run: Path, tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "sim"
    code, _, err = cli(
        "medgan", "simulate", str(lesion_run), "--at", "3.5,3.5", "--radius", "0.4",
        "--out", str(out),
    )  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "--at 3.5,3.5 with --radius 0.4 holds no voxel centre" in lines[0]
    assert "give a larger --radius" in lines[0] and "0/255" not in lines[0]  # no mask-file rule
