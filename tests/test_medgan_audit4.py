"""medgan's `ganhub data check` as a user audit found it: resizing that changes the aspect ratio
without a word, a sample count that included files the check drops, masks without their
reorientation note, a leaving link's partner reported as unpaired, and a flat folder given to a
paired task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.errors import ConfigError  # noqa: E402

ARGS = ("plugin=medgan", "preset=tiny", "model.image_size=16")


def _save(path: Path, shape: tuple[int, ...], zooms: list[float], mask: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(len(path.name)).uniform(0, 9, shape).astype(np.float32)
    if mask:
        data = np.zeros(shape, np.float32)
        data[3:8, 3:8, ...] = 1
    nib.save(nib.Nifti1Image(data, np.diag([*zooms, 1.0])), str(path))
    return path


def _check(cli: Any, folder: str, *args: str) -> dict[str, Any]:
    code, out, err = cli("data", "check", folder, *ARGS, *args, "--json")
    assert code in (0, 1), out + err
    report: dict[str, Any] = json.loads(out)
    return report


def _notes(report: dict[str, Any]) -> dict[str, list[str]]:
    notes: dict[str, list[str]] = {}
    for f in report["findings"]:
        if f["severity"] == "note":
            notes.setdefault(f["item"], []).append(f["problem"])
    return notes


def test_resize_note_says_how_the_aspect_ratio_changes_and_what_keeps_it(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """data.fit=resize made a 20x16 mm field of view (or 12x12 voxels of 0.5x0.7 mm) square
    with a note saying only "resized to 16x16". The note now says which axis is stretched by
    how much and which settings keep the proportions; a square field of view, and crop_pad,
    get no such words."""
    for i in range(2):
        _save(workdir / "rect" / f"c{i}.nii.gz", (20, 16), [1.0, 1.0, 1.0])
        _save(workdir / "aniso" / f"c{i}.nii.gz", (12, 12), [0.5, 0.7, 1.0])
        _save(workdir / "square" / f"c{i}.nii.gz", (12, 12), [1.0, 1.0, 1.0])
    common = ("task=generate", "spatial_dims=2")
    rect = _notes(_check(cli, "rect", *common))["c0.nii.gz"]
    assert any("y stretched 1.25x" in n and "data.fit=crop_pad" in n for n in rect), rect
    aniso = _notes(_check(cli, "aniso", *common))["c0.nii.gz"]
    assert any("x stretched 1.4x" in n and "data.pixdim=[0.5, 0.5]" in n for n in aniso), aniso
    square = _notes(_check(cli, "square", *common))["c0.nii.gz"]
    assert square and not any("stretched" in n for n in square), square
    cropped = _notes(_check(cli, "rect", *common, "data.fit=crop_pad"))["c0.nii.gz"]
    assert any("cropped/padded" in n for n in cropped), cropped
    assert not any("stretched" in n for n in cropped), cropped


def test_summary_counts_the_samples_a_run_trains_on(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The summary said `samples: 7` for a folder of 4 volumes and 3 unreadable files; it now
    counts the 4 a run loads (data.skip_bad=true) and names the dropped ones apart."""
    from ganhub_medgan.folder import load_folder

    for i in range(4):
        _save(workdir / "gen" / f"c{i}.nii.gz", (12, 12, 8), [2.0, 2.0, 3.0])
    for i in range(3):
        (workdir / "gen" / f"bad{i}.nii.gz").write_bytes(b"not a volume")
    report = _check(cli, "gen", "task=generate", "spatial_dims=3")
    config = resolve(
        [*ARGS, "task=generate", "spatial_dims=3", "data.path=gen", "data.skip_bad=true"]
    )
    (images,), _ = load_folder("generate", config.data, 3, 16)
    assert report["summary"]["samples"] == len(images) == 4, report["summary"]
    assert report["summary"]["samples dropped for errors (not counted above)"] == 3


def test_masks_say_they_are_reoriented_and_a_leaving_links_partner_says_why(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """An LPS mask is reoriented as its image is, but only the image had the note; the mask of
    an image that is a symlink leading out of the folder said "no partner named ...". Each
    mask now has its reorientation note, and the partner's says its image is dropped."""
    lps = [-2.0, -2.0, 3.0]
    for i in range(2):
        _save(workdir / "les" / "images" / f"c{i}.nii.gz", (12, 12, 8), lps)
        _save(workdir / "les" / "masks" / f"c{i}.nii.gz", (12, 12, 8), lps, mask=True)
    away = _save(workdir / "elsewhere" / "c9.nii.gz", (12, 12, 8), lps)
    (workdir / "les" / "images" / "c9.nii.gz").symlink_to(away)
    _save(workdir / "les" / "masks" / "c9.nii.gz", (12, 12, 8), lps, mask=True)
    report = _check(cli, "les", "task=lesion")
    notes = _notes(report)
    for i in range(2):
        assert notes[f"masks/c{i}.nii.gz"] == ["LPS reoriented to RAS"], notes
        assert "LPS reoriented to RAS" in notes[f"images/c{i}.nii.gz"][0], notes
    found = [f for f in report["findings"] if f["item"] == "masks/c9.nii.gz"]
    assert [(f["severity"], f["action"]) for f in found] == [("error", "drop")], found
    assert found[0]["problem"].startswith("its partner images/c9.nii.gz is dropped"), found
    assert "no partner" not in found[0]["problem"]
    assert report["summary"]["pairs (matched by name)"] == 2


def test_a_flat_folder_given_to_a_paired_task_has_a_hint_naming_task_generate(
    workdir: Path,
) -> None:
    """task=lesion on a folder of NIfTI files (no images/, masks/) said only "'images/' is
    missing". The refusal now ends with `flat_folder_hint`'s tail naming task=generate, which
    reads those files; a folder with the subfolders, or task=generate, gets none."""
    from ganhub_medgan.splits import flat_folder_hint

    for i in range(2):
        _save(workdir / "flat" / f"c{i}.nii.gz", (12, 12, 8), [2.0, 2.0, 3.0])
    with pytest.raises(
        ConfigError, match=r"'images/' is missing; data\.path holds 2 NIfTI .*task=generate"
    ):
        resolve([*ARGS, "task=lesion", "data.path=flat"])
    flat = resolve([*ARGS, "task=generate", "data.path=flat"])
    assert flat_folder_hint(flat) == ""
    hint = flat_folder_hint(flat.model_copy(update={"task": "lesion"}))
    assert "holds 2 NIfTI files" in hint and "task=generate" in hint, hint
    assert "\n" not in hint
    for sub in ("images", "masks"):
        _save(workdir / "paired" / sub / "c0.nii.gz", (12, 12, 8), [2.0, 2.0, 3.0], sub == "masks")
    paired = resolve([*ARGS, "task=lesion", "data.path=paired"])
    assert flat_folder_hint(paired) == ""
