"""medgan user audit: a user's own NIfTI folder with a broken symlink (a link loop, a link to a
file since moved). Such a link named like a scan was skipped without a word by a run, and
`ganhub data check` called it "not a NIfTI file"; an unreadable file stops a run, naming it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData  # noqa: E402
from ganhub_medgan.folder import load_folder  # noqa: E402

from ganhub.errors import UsageError  # noqa: E402

from .test_medgan_folders import _volume  # noqa: E402

KEYS = ["plugin=medgan", "spatial_dims=3", "model.image_size=16"]


def _loop(folder: Path) -> None:
    """Two links named as scans that point at each other (no file behind them)."""
    os.symlink("loop2.nii.gz", folder / "loop1.nii.gz")
    os.symlink("loop1.nii.gz", folder / "loop2.nii.gz")


def test_a_broken_symlink_named_as_a_scan_stops_a_run_naming_it(workdir: Path) -> None:
    """A generate folder of two scans and a link loop trained on the two, silently."""
    for i in range(2):
        _volume(workdir / "vols" / f"c{i}.nii.gz", i)
    _loop(workdir / "vols")
    cfg = MedData(source="folder", path=Path("vols"))
    with pytest.raises(UsageError) as caught:
        load_folder("generate", cfg, 3, 16)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith("'vols/loop1.nii.gz' is a broken symlink (to 'loop2.nii.gz')")
    assert "(2 broken symlinks)" in message and "data.skip_bad=true" in message, message


def test_skip_bad_skips_a_broken_symlink_and_its_partner_with_a_warning(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With data.skip_bad=true the link is skipped, saying so, and so is its mask."""
    for i in range(2):
        _volume(workdir / "les" / "images" / f"c{i}.nii.gz", i)
        _volume(workdir / "les" / "masks" / f"c{i}.nii.gz", i, mask=True)
    _volume(workdir / "les" / "masks" / "loop1.nii.gz", 5, mask=True)
    _loop(workdir / "les" / "images")
    cfg = MedData(source="folder", path=Path("les"), skip_bad=True)
    (images, masks), _ = load_folder("lesion", cfg, 3, 16)
    assert len(images) == len(masks) == 2
    err = capsys.readouterr().err
    assert "medgan: warning: skipping: 'les/images/loop1.nii.gz' is a broken symlink" in err, err


def test_data_check_reports_a_broken_symlink_as_an_error(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The check said "not a NIfTI file or DICOM series: not read" (a note, exit 0) of a file
    named `loop1.nii.gz`; the run now stops on it, so the check reports it as an error, and
    its partner as dropped with it."""
    for i in range(2):
        _volume(workdir / "vols" / f"c{i}.nii.gz", i)
    _loop(workdir / "vols")
    code, out, err = cli("data", "check", "vols", *KEYS, "task=generate", "--json")
    assert code == 1, out + err
    found = {f["item"]: f for f in json.loads(out)["findings"]}
    assert found["loop1.nii.gz"]["severity"] == "error", found
    assert "broken symlink (to 'loop2.nii.gz')" in found["loop1.nii.gz"]["problem"], found
    # lesion layout: the mask whose image is a broken link is dropped with it, and says why
    for i in range(2):
        _volume(workdir / "les" / "images" / f"c{i}.nii.gz", i)
        _volume(workdir / "les" / "masks" / f"c{i}.nii.gz", i, mask=True)
    _volume(workdir / "les" / "masks" / "loop1.nii.gz", 5, mask=True)
    _loop(workdir / "les" / "images")
    code, out, err = cli("data", "check", "les", *KEYS, "--json")
    assert code == 1, out + err
    found = {f["item"]: f for f in json.loads(out)["findings"]}
    problem = found["masks/loop1.nii.gz"]["problem"]
    assert problem == "its partner images/loop1.nii.gz is dropped (a broken symlink)", found
