"""medgan's folder inputs a user gets wrong: what is a DICOM series, single-slice files in 3D,
orientation and spacing keys, files sharing a name, keys that do not apply, label masks, the
`data check` summary, duplicate pairs, and the advice when every lesion is sliced away.

Each test writes a few small NIfTI files into tmp_path and checks the loader, the config and
`ganhub data check` agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData  # noqa: E402
from ganhub_medgan.folder import is_item, load_folder  # noqa: E402
from ganhub_medgan.volume import load_file  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.errors import ConfigError, UsageError  # noqa: E402

from .test_medgan_data import SHAPE, _block, _by_item, _image, _lesion_set, _report, _save  # noqa: E402

RUN3D = ["spatial_dims=3", "model.image_size=16"]


def _volumes(root: Path, n: int = 2, shape: tuple[int, ...] = SHAPE) -> Path:
    for i in range(n):
        _save(root / f"v{i}.nii.gz", _image(i, shape))
    return root


# -- 1. a DICOM series is a folder of DICOM files -------------------------------------------------


def test_only_folders_of_dicom_files_are_dicom_series(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = _volumes(tmp_path / "vols")
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("scanner settings")
    config = resolve(["plugin=medgan", "task=generate", *RUN3D, f"data.path={root}"])
    assert config.data.source == "folder"  # no "is a DICOM series; ... needs pydicom"
    (images,), _ = load_folder("generate", MedData(source="folder", path=root), 3, 16)
    assert len(images) == 2
    code, out, err = cli("data", "check", str(root), "plugin=medgan", "task=generate", *RUN3D)
    assert code == 0, out + err  # notes only
    assert "notes  " in out and "a folder without DICOM files (not a series): not read" in out
    # a lesion set given to task=generate: its subfolders are no series either
    lesions = _lesion_set(tmp_path / "les", [1.0])
    with pytest.raises(ConfigError, match=r"holds no NIfTI .*subfolders 'images/', 'masks/'"):
        resolve(["plugin=medgan", "task=generate", f"data.path={lesions}"])
    # what is a series: .dcm files, or the DICM magic after the 128-byte preamble
    (tmp_path / "dcm").mkdir()
    (tmp_path / "dcm" / "IM0001.dcm").write_bytes(b"")
    (tmp_path / "magic").mkdir()
    (tmp_path / "magic" / "IM0001").write_bytes(bytes(128) + b"DICM" + bytes(8))
    assert is_item(tmp_path / "dcm") and is_item(tmp_path / "magic")
    assert not is_item(root / "notes")


# -- 2. a single slice is no volume -------------------------------------------------------------


def test_single_slice_files_are_refused_in_3d_runs(tmp_path: Path) -> None:
    root = _volumes(tmp_path / "flat", 1)
    flat = _save(root / "slice.nii.gz", _image(5, (20, 18, 1)))
    cfg = MedData(source="folder", path=root)
    with pytest.raises(
        UsageError, match=r"'.*slice\.nii\.gz' has shape \[20, 18, 1\]: .*spatial_dims=2"
    ):
        load_folder("generate", cfg, 3, 16)
    [(severity, action, problem)] = _by_item(_report(root, "task=generate", *RUN3D))["slice.nii.gz"]
    assert (severity, action) == ("error", "drop") and "one voxel thick" in problem
    assert load_file(flat, cfg, 2, 16, mask=False).image.shape == (1, 1, 16, 16)  # 2D: fine
    _save(tmp_path / "thin.nii.gz", _image(6, (20, 1, 12)))
    with pytest.raises(UsageError, match=r"has shape \[20, 1, 12\]"):
        load_file(tmp_path / "thin.nii.gz", cfg, 3, 16, mask=False)


# -- 3. data.orientation and data.pixdim ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (
            "data.orientation=ras",
            "data.orientation='ras': need three axis codes .*did you mean RAS",
        ),
        ("data.orientation=XYZ", "data.orientation='XYZ': need three axis codes"),
        ("data.orientation=RA", "data.orientation='RA': need three axis codes"),
        ("data.orientation=RRS", "one from each of L/R, A/P and S/I"),
        ("data.pixdim=[0.01,0.01,0.01]", r"data.pixdim=\[0.01,0.01,0.01\]: .*at least 0.05"),
        ("data.pixdim=[0,1,1]", r"data.pixdim=\[0,1,1\]: need finite voxel spacings"),
        ("data.pixdim=[-1,1,1]", "need finite voxel spacings"),
        ("data.pixdim=[1,1]", r"spatial_dims=3 needs 3 voxel spacings"),
        ("data.pixdim=[1,1,1,1]", r"spatial_dims=3 needs 3 voxel spacings"),
    ],
)
def test_orientation_and_pixdim_are_checked_in_the_config(key: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as err:
        resolve(["plugin=medgan", *RUN3D, key])  # the phantoms: checked there too
    assert "\n" not in str(err.value)


def test_valid_orientation_and_pixdim_load(tmp_path: Path) -> None:
    root = _volumes(tmp_path / "vols", 1)
    resolve(["plugin=medgan", "task=generate", *RUN3D, f"data.path={root}",
             "data.orientation=LPS", "data.pixdim=[2,2,3]"])  # fmt: skip
    resolve(["plugin=medgan", "task=generate", f"data.path={root}", "data.pixdim=[1,1]"])
    with pytest.raises(ConfigError, match=r"spatial_dims=2 needs 2 voxel spacings"):
        resolve(["plugin=medgan", "task=generate", f"data.path={root}", "data.pixdim=[1]"])
    # 2D, [x, y]: a volume is resampled in-plane and keeps its 3 mm slices
    vol = load_file(root / "v0.nii.gz", MedData(pixdim=[1.0, 1.0]), 2, 16, mask=False)
    assert "resampled from 2x2x3 to 1x1x3 mm" in vol.done[0]


def test_a_spacing_that_would_blow_a_volume_up_is_refused(tmp_path: Path) -> None:
    big = np.diag([10.0, 10.0, 10.0, 1.0])  # 20 cm across: at 0.05 mm, 4000^3 voxels
    path = _save(tmp_path / "wide.nii.gz", _image(0, (20, 20, 20)), big)
    with pytest.raises(UsageError, match=r"'.*wide\.nii\.gz' has 20x20x20 voxels of 10x10x10 mm: "
                       r"data.pixdim=\[0.05, 0.05, 0.05\] would resample it to 4000x4000x4000"):  # fmt: skip
        load_file(path, MedData(pixdim=[0.05] * 3), 3, 16, mask=False)


# -- 4. two files of one name ---------------------------------------------------------------------


def test_files_sharing_a_name_are_an_error(tmp_path: Path) -> None:
    root = _volumes(tmp_path / "dup", 2)
    _save(root / "v0.nii", _image(9))
    with pytest.raises(UsageError, match=r"'.*v0\.nii' and '.*v0\.nii\.gz' share the name 'v0'"):
        load_folder("generate", MedData(source="folder", path=root), 3, 16)
    report = _report(root, "task=generate", *RUN3D)
    items = _by_item(report)
    assert items["v0.nii"] == [("error", "drop", "shares the name 'v0' with v0.nii.gz (files pair up by name)")]  # fmt: skip
    assert items["v0.nii.gz"][0][:2] == ("error", "drop") and not report.clean
    assert len(report.items) == 3
    # in pairs: both images and their mask are dropped; skip_bad keeps the other pairs
    pairs = _lesion_set(tmp_path / "pairs", [1.0, 1.0])
    _save(pairs / "images" / "case0.nii", _image(8))
    items = _by_item(_report(pairs, *RUN3D))
    assert items["masks/case0.nii.gz"] == [("error", "drop", "its partner's name is shared by "
                                            "images/case0.nii and images/case0.nii.gz")]  # fmt: skip
    (images, _), _ = load_folder(
        "lesion", MedData(source="folder", path=pairs, skip_bad=True), 3, 16
    )
    assert len(images) == 1


# -- 5. keys that do not apply ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        (["data=phantom", "data.path=DIR"], r"data.path='.*' is folder data but data=phantom"),
        (
            ["data.path=DIR", "data.contrast=t1"],
            "data.contrast=t1 applies to the embedded phantoms",
        ),
        (["data.path=DIR", "data.noise=0.1"], "data.noise=0.1 applies to the embedded phantoms"),
        (["spatial_dims=3", "data.slices_per_volume=5"], "data.slices_per_volume=5 applies to 2D"),
        (["task=translate", "data.contrast=t1"], "data.contrast=t1 does not apply to task=transl"),
        (["data.source_contrast=flair"], "data.source_contrast=flair applies to task=translate"),
    ],
)
def test_keys_that_do_not_apply_are_refused(tmp_path: Path, keys: list[str], words: str) -> None:
    root = _lesion_set(tmp_path / "les", [1.0])
    args = ["plugin=medgan", *(k.replace("DIR", str(root)) for k in keys)]
    with pytest.raises(ConfigError, match=words) as err:
        resolve(args)
    assert "\n" not in str(err.value)
    if "data.path=DIR" in keys:  # `data check` refuses what a run would
        with pytest.raises(ConfigError, match=words):
            _report(root, *args[1:])


def test_keys_at_their_defaults_pass(tmp_path: Path) -> None:
    root = _lesion_set(tmp_path / "les", [1.0])
    resolve(
        ["plugin=medgan", f"data.path={root}", "data.contrast=flair", "data.slices_per_volume=2"]
    )
    resolve(["plugin=medgan", "spatial_dims=3", "data.slices_per_volume=1", "data.contrast=t2"])


# -- 6. label masks -------------------------------------------------------------------------------


def test_label_masks_are_lesion_wherever_non_zero(tmp_path: Path) -> None:
    labels = _block(1.0)  # BraTS-style: 1 necrosis, 2 oedema, 4 enhancing
    labels[6:9] *= 1
    labels[9:11] *= 2
    labels[11:14] *= 4
    binary = _lesion_set(tmp_path / "binary", [1.0])
    multi = _lesion_set(tmp_path / "multi", [1.0])
    _save(multi / "masks" / "case0.nii.gz", labels.astype(np.uint8))
    (_, want), _ = load_folder("lesion", MedData(source="folder", path=binary), 3, 16)
    (_, got), _ = load_folder("lesion", MedData(source="folder", path=multi), 3, 16)
    assert got.sum() == want.sum() > 0 and (got == want).all()  # label 1 is not lost
    [note] = _by_item(_report(multi, *RUN3D))["masks/case0.nii.gz"]
    assert note == ("note", "convert", "label mask with values {0, 1, 2, 4}, not {0, 1}: every "
                    "non-zero voxel is lesion (320 voxels)")  # fmt: skip
    # soft masks keep the threshold
    soft = _lesion_set(tmp_path / "soft", [1.0])
    _save(soft / "masks" / "case0.nii.gz", labels / 4)  # 0.25, 0.5, 1
    (_, masks), _ = load_folder("lesion", MedData(source="folder", path=soft), 3, 16)
    assert 0 < masks.sum() < want.sum()


# -- 7. the summary ---------------------------------------------------------------------------------


def test_the_summary_says_how_many_more_shapes_and_spacings(tmp_path: Path) -> None:
    for i, (shape, mm) in enumerate([((20, 18, 12), 1.0), ((18, 18, 12), 1.5),
                                     ((16, 18, 12), 2.0), ((14, 18, 12), 2.5)]):  # fmt: skip
        _save(tmp_path / "gen" / f"v{i}.nii.gz", _image(i, shape), np.diag([mm, mm, mm, 1.0]))
    summary = _report(tmp_path / "gen", "task=generate", *RUN3D).summary
    for key in ("shapes", "spacings (mm)"):
        assert len(summary[key]) == 4 and summary[key]["... and 1 more"] == 1
        assert sum(summary[key].values()) == 4


# -- 8. a duplicate pair ----------------------------------------------------------------------------


def test_a_duplicates_partner_is_as_serious_as_the_duplicate(tmp_path: Path) -> None:
    root = _lesion_set(tmp_path / "les", [1.0, 1.0])
    (root / "images" / "copy.nii.gz").write_bytes((root / "images" / "case1.nii.gz").read_bytes())
    _save(root / "masks" / "copy.nii.gz", _block(1.0))
    report = _report(root, *RUN3D)
    items = _by_item(report)
    assert items["images/copy.nii.gz"][-1] == (
        "warning",
        "drop",
        "duplicate of images/case1.nii.gz",
    )
    assert items["masks/copy.nii.gz"] == [("warning", "drop", "its partner images/copy.nii.gz is dropped")]  # fmt: skip
    assert not any(f.severity == "error" for f in report.findings)
    (images, _), _ = load_folder("lesion", MedData(source="folder", path=root), 3, 16)
    assert len(images) == 3  # the loader keeps the pair, as the warnings say


# -- 9. the advice when every lesion is sliced away ---------------------------------------------


def test_lesions_lost_to_slicing_advise_more_slices_or_3d(tmp_path: Path) -> None:
    root = tmp_path / "off"
    for i in range(2):
        mask = np.zeros(SHAPE, np.float32)
        mask[6:12, 6:12, 0:2] = 1  # far below the central axial slice
        _save(root / "images" / f"c{i}.nii.gz", _image(i))
        _save(root / "masks" / f"c{i}.nii.gz", mask)
    with pytest.raises(UsageError) as err:
        load_folder("lesion", MedData(source="folder", path=root), 2, 16)
    text = str(err.value)
    assert "2 lose their lesion outside the central axial slice(s) taken" in text
    assert text.endswith(
        "raise data.slices_per_volume (now 1) or train on volumes with spatial_dims=3"
    )
    assert "mask_threshold" not in text
    [(_, _, problem)] = _by_item(_report(root, "model.image_size=16"))["(masks)"]
    assert problem == text


def test_simulate_reads_a_label_mask_by_the_same_rule(tmp_path: Path) -> None:
    """`medgan simulate --mask` read masks by the old rule: label 1 of 0/1/2/4 was no lesion."""
    from ganhub_medgan.outputs import read_mask

    labels = np.zeros((16, 16, 8), dtype=np.int16)
    labels[2:4, 2:4, 2:4], labels[6:8, 6:8, 2:4], labels[10:12, 10:12, 2:4] = 1, 2, 4
    path = tmp_path / "brats.nii.gz"
    nib.save(nib.Nifti1Image(labels, np.eye(4)), str(path))
    mask, _ = read_mask(path, spatial_dims=3)
    assert int(mask.sum()) == 24  # every labelled voxel, label 1's eight included
    soft = (np.arange(16 * 16 * 8).reshape(16, 16, 8) / (16 * 16 * 8)).astype(np.float32)
    nib.save(nib.Nifti1Image(soft, np.eye(4)), str(path))
    assert int(read_mask(path, spatial_dims=3, threshold=0.5)[0].sum()) == 1024  # soft: threshold
