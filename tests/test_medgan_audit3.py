"""medgan as a user finds it: symlinks in a NIfTI folder (read when they stay inside it,
every one leading out reported by `ganhub data check`, refused by a run), and the audit's
other fixes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.errors import ConfigError  # noqa: E402

SHAPE = (12, 12, 8)


def _volume(path: Path, seed: int, mask: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).uniform(0, 9, SHAPE).astype(np.float32)
    if mask:
        data = np.zeros(SHAPE, np.float32)
        data[4:8, 4:8, 3:5] = 1
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0])), str(path))
    return path


def _linked_folder(root: Path) -> None:
    """med/: c0..c5, of which c1 and c4 lead out of it, c2 into a subfolder of it."""
    for i in (0, 3, 5):
        _volume(root / "med" / f"c{i}.nii.gz", i)
    _volume(root / "med" / "store" / "kept2.nii.gz", 2)
    (root / "med" / "c2.nii.gz").symlink_to(Path("store") / "kept2.nii.gz")
    for i in (1, 4):
        (root / "med" / f"c{i}.nii.gz").symlink_to(_volume(root / "elsewhere" / f"x{i}.nii", i))


ARGS = ("plugin=medgan", "task=generate", "preset=tiny", "model.image_size=16")


def test_data_check_reports_every_link_leaving_the_folder_and_lists_the_rest(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """`ganhub data check` stopped at the first symlink leading out of a NIfTI folder: one
    error line, the files after it never listed. Image folders report each such link and go
    on; so does medgan now, and a link staying inside the folder is read."""
    _linked_folder(workdir)
    code, out, err = cli("data", "check", "med", *ARGS, "--json")
    assert code == 1, out + err
    report = json.loads(out)
    found = {f["item"]: f for f in report["findings"]}
    for link in ("c1.nii.gz", "c4.nii.gz"):
        assert found[link]["severity"] == "error" and found[link]["action"] == "drop", found
        assert "outside the data folder" in found[link]["problem"]
    assert report["items"] == 4 and report["summary"]["samples"] == 4, report
    read = sorted(f["item"] for f in report["findings"] if f["action"] == "convert")
    assert read == ["c0.nii.gz", "c2.nii.gz", "c3.nii.gz", "c5.nii.gz"], read
    # the clean copy holds the files a run reads, the inside link as a file
    code, out, err = cli("data", "clean", "med", *ARGS, "--out", "clean")
    assert code == 0, out + err
    names = sorted(os.listdir("clean"))
    assert names == ["c0.nii.gz", "c2.nii.gz", "c3.nii.gz", "c5.nii.gz"], names
    assert not (workdir / "clean" / "c2.nii.gz").is_symlink()


def test_a_run_refuses_a_leaving_link_in_one_line_and_reads_inside_links(workdir: Path) -> None:
    """A run keeps refusing a link that leaves data.path (one line naming it); once the links
    leading out are gone, every file is listed, the one behind an inside link too."""
    from ganhub_medgan.folder import pair_items

    _linked_folder(workdir)
    with pytest.raises(ConfigError) as caught:
        resolve([*ARGS, "data.path=med"])
    msg = str(caught.value)
    assert "\n" not in msg and msg.startswith("'med/c1.nii.gz' is a symlink leading outside")
    for i in (1, 4):
        (workdir / "med" / f"c{i}.nii.gz").unlink()
    config = resolve([*ARGS, "data.path=med"])
    names = [name for name, _ in pair_items("generate", config.data)]
    assert names == ["c0", "c2", "c3", "c5"]


def test_data_check_of_a_folder_of_leaving_links_names_a_link(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A folder whose files all link out of it (links to a shared data set) is refused by the
    check as by a run, naming the first link, not as a folder holding no NIfTI files."""
    (workdir / "med").mkdir()
    for i in range(2):
        (workdir / "med" / f"c{i}.nii.gz").symlink_to(_volume(workdir / "shared" / f"{i}.nii", i))
    code, out, err = cli("data", "check", "med", *ARGS)
    assert code == 2 and "'med/c0.nii.gz' is a symlink leading outside" in err, out + err
