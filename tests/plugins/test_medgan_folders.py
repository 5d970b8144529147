"""medgan's folders and the symlink rule of every data folder: links are judged against
data.path, whichever task folder (images/, masks/, source/...) or DICOM series holds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.folder import scan_items  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.errors import ConfigError  # noqa: E402

SHAPE = (12, 12, 8)


def _volume(path: Path, seed: int, mask: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).uniform(0, 9, SHAPE).astype(np.float32)
    if mask:
        data = np.zeros(SHAPE, np.float32)
        data[4:8, 4:8, 3:5] = 1
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def _one_line_refusal(exc: pytest.ExceptionInfo[ConfigError], link: str, root: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(
        f"'{link}' is a symlink leading outside the data folder '{root}'"
    ), msg


def test_a_task_folder_linked_out_of_data_path_is_refused(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """images/ linked to another folder was listed by the check and trained on: only the
    links inside each task folder were judged, against data.path."""
    for i in range(3):
        _volume(workdir / "secret" / f"c{i}.nii.gz", i)
        _volume(workdir / "med" / "masks" / f"c{i}.nii.gz", i, mask=True)
    (workdir / "med" / "images").symlink_to(workdir / "secret")
    args = ["plugin=medgan", "data.path=med", "spatial_dims=3", "model.image_size=16"]
    with pytest.raises(ConfigError) as caught:
        resolve(args)
    _one_line_refusal(caught, "med/images", "med")
    code, out, err = cli("data", "check", "med", *[a for a in args if "path" not in a])
    assert code == 2 and "'med/images' is a symlink leading outside" in err, out + err
    # a task folder linked inside data.path is read
    (workdir / "med" / "images").unlink()
    (workdir / "med" / "store").mkdir()
    for i in range(3):
        _volume(workdir / "med" / "store" / f"c{i}.nii.gz", i)
    (workdir / "med" / "images").symlink_to("store")
    resolve(args)
    assert sorted(scan_items(Path("med/images"), Path("med"))) == ["c0", "c1", "c2"]


def test_a_dicom_series_file_linked_out_is_refused(tmp_path: Path) -> None:
    """A series folder's files are read by the loader: a link among them leading out of
    data.path was read too."""
    root = tmp_path / "med"
    series = root / "images" / "case0"
    series.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "slice.dcm").write_bytes(b"\0" * 128 + b"DICM")
    (series / "slice.dcm").symlink_to(tmp_path / "elsewhere" / "slice.dcm")
    with pytest.raises(ConfigError) as caught:
        scan_items(root / "images", root)
    _one_line_refusal(caught, str(series / "slice.dcm"), str(root))


def test_the_nested_folders_hint_judges_links_against_data_path(tmp_path: Path) -> None:
    """images/ holding only a subfolder whose file links to masks/ said that link led out
    of 'images' (each folder its own data folder) instead of the hint about subfolders."""
    root = tmp_path / "med"
    _volume(root / "masks" / "c0.nii.gz", 0, mask=True)
    (root / "images" / "sub").mkdir(parents=True)
    (root / "images" / "sub" / "c0.nii.gz").symlink_to(root / "masks" / "c0.nii.gz")
    with pytest.raises(ConfigError) as caught:
        resolve(["plugin=medgan", f"data.path={root}", "spatial_dims=3"])
    assert str(caught.value).endswith(
        "holds no NIfTI (.nii, .nii.gz) files or DICOM series; its subfolders 'sub/' hold "
        "some, but only files directly in it are read"
    ), caught.value


def test_odd_file_names_are_one_line_in_errors_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A volume named with a newline and an escape split the error (or the warning) over
    two lines, the escape reaching the terminal raw."""
    from ganhub_medgan.config import MedData
    from ganhub_medgan.folder import pair_items

    from ganhub.errors import UsageError

    root = tmp_path / "med"
    odd = "c\nse\x1b[2J"
    for suffix in (".nii", ".nii.gz"):
        _volume(root / "images" / f"{odd}{suffix}", 0)
    _volume(root / "masks" / f"{odd}.nii.gz", 0, mask=True)
    _volume(root / "images" / "c1.nii.gz", 1)
    _volume(root / "masks" / "c1.nii.gz", 1, mask=True)
    with pytest.raises(UsageError) as caught:
        pair_items("lesion", MedData(source="folder", path=root))
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and "c\\nse\\x1b[2J.nii'" in message
    pair_items("lesion", MedData(source="folder", path=root, skip_bad=True))
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("medgan: warning: skipping files that share a name")
    assert "\x1b" not in line and "c\\nse\\x1b[2J.nii'" in line


def test_an_unreadable_nifti_is_one_line_without_the_reader_s_notes(tmp_path: Path) -> None:
    """nibabel logs header fixes ("sizeof_hdr should be 348...") through a handler of its own
    that prints to stderr: reading a file of zeros logs none of them, only ganhub's line names
    the file."""
    import logging

    from ganhub_medgan.volume import read_file

    from ganhub.errors import UsageError

    records: list[logging.LogRecord] = []
    collect = logging.Handler()
    collect.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("nibabel.global")
    logger.addHandler(collect)
    bad = tmp_path / "bad.nii"
    bad.write_bytes(bytes(400))
    try:
        with pytest.raises(UsageError, match=r"cannot read medical image .*bad\.nii"):
            read_file(bad, 2)
    finally:
        logger.removeHandler(collect)
    assert [r.getMessage() for r in records] == []
