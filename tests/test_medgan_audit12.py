"""medgan: an empty NIfTI file is called empty, and a folder run's resume keeps the voxel
spacing and fit it trained with.

An empty `case.nii.gz` was reported as "a NIfTI file that is not gzip-compressed: name it
.nii", which sends the user to rename a file that holds nothing. A resume of a folder run with
another `data.pixdim` or `data.fit` loaded every tensor and trained on anatomy at another scale
(2 mm voxels instead of 1 with crop_pad: anatomy at half the size) without a word."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import ganhub
from ganhub.config.resolve import resolve
from ganhub.errors import ConfigError, UsageError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "plugin=medgan", "preset=tiny", "model.image_size=16", "model.unet_depth=2",
    "data.n_eval=2", "trainer.steps=1", "trainer.batch_size=2", "trainer.checkpoint_every=1",
    "eval.metrics=[]", "trainer.progress=false", "loggers=[jsonl]",
]  # fmt: skip


@pytest.mark.parametrize("name", ["case.nii.gz", "case.nii"])
def test_an_empty_nifti_file_is_called_empty(tmp_path: Path, name: str) -> None:
    from ganhub_medgan.volume import read_file

    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(UsageError) as caught:
        read_file(path, 3)
    assert str(caught.value) == (
        f"cannot read medical image '{path}': an empty file (0 bytes): no NIfTI header to read"
    )


def test_a_few_bytes_are_not_called_a_nifti_file(tmp_path: Path) -> None:
    from ganhub_medgan.volume import read_file

    path = tmp_path / "case.nii.gz"
    path.write_bytes(b"ab")
    with pytest.raises(UsageError, match="not a NIfTI file: 2 bytes, shorter than any NIfTI"):
        read_file(path, 3)


def _translate_folder(
    root: Path, shape: tuple[int, ...] = (20, 18, 12), spacing: tuple[float, ...] = (2, 2, 3)
) -> Path:
    """Three source/target pairs of NIfTI volumes of `shape` voxels of `spacing` mm."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    for sub in ("source", "target"):
        (root / sub).mkdir(parents=True)
    for i in range(3):
        volume = rng.random(shape).astype(np.float32)
        affine = np.diag([*map(float, spacing), 1.0])
        nib.save(nib.Nifti1Image(volume, affine), root / "source" / f"c{i}.nii.gz")
        nib.save(nib.Nifti1Image(volume[::-1].copy(), affine), root / "target" / f"c{i}.nii.gz")
    return root


def refused(run: Path, override: str, shown: str, trained: str) -> None:
    key = override.split("=")[0]
    typed, trained = re.escape(shown), re.escape(trained)
    with pytest.raises(ConfigError, match=rf"^{key}={typed}: runs/\w+ trained with "
                       rf"{key}={trained}, and a resumed run's {key} cannot change; "
                       rf"make a new run \({key}={typed} init_from=runs/\w+"):  # fmt: skip
        resolve([f"resume={run}", override, "trainer.steps=2"])


def test_a_folder_resume_keeps_its_pixdim_and_fit(workdir: Path) -> None:
    folder = _translate_folder(workdir / "pairs")
    run = Path(
        ganhub.train([*TINY, "task=translate", "spatial_dims=3", f"data.path={folder}",
                      "data.pixdim=[2,2,2]", "data.fit=crop_pad", "name=fold"])["run_dir"]
    )  # fmt: skip
    refused(run, "data.pixdim=[4,4,4]", "[4, 4, 4]", "[2.0, 2.0, 2.0]")
    refused(run, "data.fit=resize", "resize", "crop_pad")
    (state,) = run.glob("checkpoints/step_*/state.json")
    fixed = json.loads(state.read_text())["state"]["fixed"]
    assert (fixed["data.pixdim"], fixed["data.fit"]) == ([2.0, 2.0, 2.0], "crop_pad")
    # the same spacing typed otherwise, and the keys a resume may change: a resume
    config = resolve([f"resume={run}", "data.pixdim=[2.0,2,2]", "data.fit=crop_pad",
                      "data.skip_bad=true", "trainer.steps=2"])  # fmt: skip
    assert config.data.pixdim == [2.0, 2.0, 2.0]  # type: ignore[attr-defined]


def test_a_phantom_resume_may_change_pixdim_and_fit(workdir: Path) -> None:
    # the phantoms are made on their own grid: the keys only say how predict reads scans
    run = Path(ganhub.train([*TINY, "data.n_samples=4", "name=ph"])["run_dir"])
    config = resolve([f"resume={run}", "data.pixdim=[2,2]", "data.fit=crop_pad",
                      "trainer.steps=2"])  # fmt: skip
    assert config.data.fit == "crop_pad"  # type: ignore[attr-defined]
