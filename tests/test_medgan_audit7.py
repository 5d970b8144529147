"""medgan audit 7 (a user's real-data paths): a file named .nii / .nii.gz that is not NIfTI
is refused in one line naming it, without nibabel's Python warning ("UserWarning: Extension
size is not a multiple of 16 bytes" and the `warnings.warn(` source line) printed beside it by
`ganhub data check`, a run with `data.skip_bad=true`, `simulate --image` and `predict --image`."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pytest
from ganhub_medgan.volume import read_file

from ganhub.errors import UsageError


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.nii", b"x" * 400), ("bad.nii.gz", gzip.compress(b"not nifti" * 100))],
    ids=["nii", "nii.gz"],
)
def test_a_file_that_is_not_nifti_is_refused_in_one_line_without_a_warning(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with warnings.catch_warnings(record=True) as said, pytest.raises(UsageError) as refused:
        warnings.simplefilter("always")
        read_file(path, 3)
    assert [str(w.message) for w in said] == []
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and "cannot read" in message


def test_the_data_check_of_a_folder_with_such_a_file_prints_no_warning(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`ganhub data check` lists it as an unreadable file, and stderr holds no Python warning."""
    import nibabel as nib
    import numpy as np

    folder = tmp_path / "scans"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        volume = rng.normal(100, 10, (12, 10, 8)).astype(np.float32)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), str(folder / f"ok{i}.nii.gz"))
    (folder / "bad.nii").write_bytes(b"x" * 400)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        code, out, err = cli("data", "check", str(folder), "plugin=medgan", "task=generate",
                             "spatial_dims=3", "model.image_size=16")  # fmt: skip
    assert code == 1 and "bad.nii" in out and "unreadable" in out, (out, err)
    assert "Warning" not in err and [str(w.message) for w in said] == []
