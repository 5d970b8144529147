"""medgan's data: `ganhub data check | clean | convert plugin=medgan` and the folder loader.

Each problem class gets a small NIfTI fixture set written here (soft masks, 0/255 masks, NaN,
constant volumes, unpaired and truncated files, partners on other grids, other orientations,
duplicates); each test checks the report and what the loader does with the same files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData  # noqa: E402
from ganhub_medgan.folder import MANIFEST, load_folder  # noqa: E402
from ganhub_medgan.outputs import read_mask  # noqa: E402
from ganhub_medgan.system import build_split  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.data.inspect import DataReport  # noqa: E402
from ganhub.errors import ConfigError, UsageError  # noqa: E402
from ganhub.plugins import get_hub  # noqa: E402

from .test_medgan import _train  # noqa: E402

SHAPE = (20, 18, 12)
AFFINE = np.array([[2.0, 0, 0, -10], [0, 2.0, 0, 5], [0, 0, 3.0, 7], [0, 0, 0, 1]])


def _save(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def _image(seed: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).normal(100, 20, shape).astype(np.float32)


def _block(value: float, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """A box lesion around the centre (it survives slicing and resizing) with this value."""
    mask = np.zeros(shape, np.float32)
    mask[6:14, 5:13, 4:9] = value
    return mask


def _lesion_set(root: Path, values: list[float]) -> Path:
    """images/caseI.nii.gz + masks/caseI.nii.gz, mask I holding values[I] in its box."""
    for i, value in enumerate(values):
        _save(root / "images" / f"case{i}.nii.gz", _image(i))
        _save(root / "masks" / f"case{i}.nii.gz", _block(value))
    return root


def _report(root: Path, *args: str) -> DataReport:
    """What `ganhub data check ROOT plugin=medgan ARGS` reports (in process)."""
    config = resolve(["plugin=medgan", f"data.path={root}", *args])
    return get_hub().require_domain("medgan").inspect_data(config)


def _by_item(report: DataReport) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {}
    for f in report.findings:
        out.setdefault(f.item, []).append((f.severity, f.action, f.problem))
    return out


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("medgan: warning: ")]


def test_a_volume_linked_from_outside_the_data_folder_is_refused(tmp_path: Path) -> None:
    """medgan read images/case0.nii.gz through a symlink to another folder: the rule of every
    image folder (`walk_files`) holds for volumes too; a link inside the folder is read."""
    root = _lesion_set(tmp_path / "set", [1.0, 1.0])
    _save(tmp_path / "elsewhere" / "scan.nii.gz", _image(9))
    (root / "images" / "case2.nii.gz").symlink_to(tmp_path / "elsewhere" / "scan.nii.gz")
    (root / "masks" / "case2.nii.gz").symlink_to(root / "masks" / "case0.nii.gz")  # inside
    with pytest.raises(ConfigError, match=r"case2\.nii\.gz' is a symlink leading outside"):
        resolve(["plugin=medgan", f"data.path={root}", "spatial_dims=3"])
    (root / "images" / "case2.nii.gz").unlink()
    _save(root / "images" / "case2.nii.gz", _image(9))
    resolve(["plugin=medgan", f"data.path={root}", "spatial_dims=3"])


def test_an_rgb_nifti_is_named_as_such(tmp_path: Path) -> None:
    """It was "unreadable or truncated: Cannot cast array data from dtype([('R', 'u1')..."."""
    root = _lesion_set(tmp_path / "set", [1.0, 1.0])
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, AFFINE), str(root / "images" / "case1.nii.gz"))
    problems = [p for _, _, p in _by_item(_report(root, "spatial_dims=3"))["images/case1.nii.gz"]]
    assert problems == [
        "is an RGB NIfTI (a colour per voxel); ganhub medgan reads one intensity per voxel: "
        "save one channel or a grey conversion"
    ]


def test_a_mask_with_negative_labels_is_refused(tmp_path: Path) -> None:
    """A label map's -1 (often "ignore") was lesion by the non-zero rule, with only a note."""
    root = _lesion_set(tmp_path / "set", [1.0, 1.0])
    mask = _block(1.0)
    mask[0, 0, 0] = -1
    _save(root / "masks" / "case1.nii.gz", mask)
    problems = [p for _, _, p in _by_item(_report(root, "spatial_dims=3"))["masks/case1.nii.gz"]]
    assert problems == [
        "holds negative values (down to -1); a lesion mask is 0/1, 0/255, soft values in [0, 1] "
        "or labels >= 0 (an 'ignore' label such as -1 is not read: set those voxels to 0)"
    ]
    with pytest.raises(UsageError, match=r"^mask '.*case1\.nii\.gz' holds negative values"):
        read_mask(root / "masks" / "case1.nii.gz", 3)


# -- soft masks: the threshold rule, the warning, the all-empty error ----------------------------


def test_soft_masks_below_the_threshold_stop_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _lesion_set(tmp_path / "soft", [0.4, 0.4, 0.4])
    report = _report(root, "spatial_dims=3", "model.image_size=16")
    items = _by_item(report)
    for i in range(3):
        [(severity, action, problem)] = items[f"masks/case{i}.nii.gz"]
        assert (severity, action) == ("warning", "keep")
        assert problem == (
            "mask values up to 0.4, none >= data.mask_threshold=0.5: it becomes an empty mask"
        )
    [(severity, action, problem)] = items["(masks)"]
    assert (severity, action) == ("error", "training stops")
    assert problem.startswith("every lesion mask under") and "largest mask value is 0.4" in problem
    assert not report.clean and report.summary["lesion voxels (loaded)"] == 0
    # the loader: one warning line per file, naming it, then the error before any training
    cfg = MedData(source="folder", path=root)
    with pytest.raises(UsageError, match=r"^every lesion mask under '.*soft/masks' is empty"):
        load_folder("lesion", cfg, 3, 16)
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert f"masks/case{i}.nii.gz'" in line and "none >= data.mask_threshold=0.5" in line
    # the same through a run: refused when the data is built, at step 0
    with pytest.raises(UsageError, match=r"every lesion mask under .* is empty"):
        _train([f"data.path={root}", "spatial_dims=3", "model.image_size=16", "eval.metrics=[]"])


def test_the_threshold_is_configurable_and_0_255_masks_equal_0_1_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    soft = _lesion_set(tmp_path / "soft", [0.4, 0.4])
    report = _report(soft, "spatial_dims=3", "model.image_size=16", "data.mask_threshold=0.4")
    assert report.clean
    note = _by_item(report)["masks/case0.nii.gz"]
    assert note == [("note", "convert", "mask values in [0, 0.4], not {0, 1}: voxels >= "
                     "data.mask_threshold=0.4 are lesion (320 of 320 non-zero voxels)")]  # fmt: skip
    cfg = MedData(source="folder", path=soft, mask_threshold=0.4)
    (_, soft_masks), _ = load_folder("lesion", cfg, 3, 16)
    binary = _lesion_set(tmp_path / "binary", [1.0, 1.0])
    (_, masks01), _ = load_folder("lesion", MedData(source="folder", path=binary), 3, 16)
    bytes255 = _lesion_set(tmp_path / "b255", [255.0, 255.0])
    (_, masks255), _ = load_folder("lesion", MedData(source="folder", path=bytes255), 3, 16)
    assert masks01.sum() > 0 and set(masks01.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(soft_masks, masks01) and torch.equal(masks255, masks01)
    assert _warnings(capsys.readouterr().err) == []
    note = _by_item(_report(bytes255, "spatial_dims=3", "model.image_size=16"))
    assert note["masks/case0.nii.gz"] == [
        ("note", "convert", "mask with values {0, 255}, not {0, 1}: every non-zero voxel is "
         "lesion (320 voxels)")
    ]  # fmt: skip
    assert (
        _by_item(_report(binary, "spatial_dims=3", "model.image_size=16")).get("masks/case0.nii.gz")
        is None
    )  # 0/1 masks: nothing to say
    # `medgan simulate --mask` reads masks with the same rule
    assert read_mask(bytes255 / "masks" / "case0.nii.gz", 3)[0].sum() == _block(1.0).sum()
    assert read_mask(soft / "masks" / "case0.nii.gz", 3)[0].sum() == 0
    assert read_mask(soft / "masks" / "case0.nii.gz", 3, 0.4)[0].sum() == _block(1.0).sum()


def test_one_soft_mask_among_good_ones_warns_and_trains_on_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _lesion_set(tmp_path / "mixed", [1.0, 0.4, 1.0])
    _save(root / "images" / "high.nii.gz", _image(7))  # 2D: the lesion misses the central slice
    top = np.zeros(SHAPE, np.float32)
    top[5:10, 5:10, 10:] = 1
    _save(root / "masks" / "high.nii.gz", top)
    report = _report(root, "model.image_size=16")
    items = _by_item(report)
    assert items["masks/case1.nii.gz"][0][:2] == ("warning", "keep")
    assert items["masks/high.nii.gz"] == [("warning", "keep", "its 50 lesion voxels lie outside "
                                          "the central axial slice(s) the loader takes: it becomes an empty mask")]  # fmt: skip
    assert "masks/case0.nii.gz" not in items and "(masks)" not in items
    assert items["images/case0.nii.gz"] == [("note", "convert",
                                            "central 1 of 12 axial slices; 20x18 resized to 16x16 "
                                            "(its 40x36 mm field of view made square, the aspect "
                                            "ratio changed: y stretched 1.11x; data.fit=crop_pad "
                                            "keeps the proportions)")]  # fmt: skip
    (_, masks), _ = load_folder("lesion", MedData(source="folder", path=root), 2, 16)
    assert [bool(m.sum()) for m in masks] == [True, False, True, False]
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 2 and "case1.nii.gz" in lines[0] and "high.nii.gz" in lines[1]


# -- every other problem class ---------------------------------------------------------------------


def _problem_set(root: Path) -> Path:
    """Good pairs plus one pair (or file) per problem class."""
    _lesion_set(root, [1.0, 1.0, 1.0])
    nan = _image(10)
    nan[3, 3, 3] = np.nan
    _save(root / "images" / "nan.nii.gz", nan)
    _save(root / "masks" / "nan.nii.gz", _block(1.0))
    _save(root / "images" / "constant.nii.gz", np.full(SHAPE, 7.0, np.float32))
    _save(root / "masks" / "constant.nii.gz", _block(1.0))
    _save(root / "images" / "lonely.nii.gz", _image(11))  # no mask
    _save(root / "masks" / "orphan.nii.gz", _block(1.0))  # no image
    _save(root / "images" / "shape.nii.gz", _image(12))
    _save(root / "masks" / "shape.nii.gz", _block(1.0, (20, 18, 10)))
    _save(root / "images" / "spacing.nii.gz", _image(13))
    _save(root / "masks" / "spacing.nii.gz", _block(1.0), np.diag([1.0, 1.0, 1.0, 1.0]))
    whole = (root / "images" / "case0.nii.gz").read_bytes()
    (root / "images" / "cut.nii.gz").write_bytes(whole[: len(whole) // 2])  # truncated gzip
    _save(root / "masks" / "cut.nii.gz", _block(1.0))
    raw = _save(root / "images" / "short.nii", _image(14)).read_bytes()
    (root / "images" / "short.nii").write_bytes(raw[: len(raw) - 500])  # header fine, data short
    _save(root / "masks" / "short.nii.gz", _block(1.0))
    shutil.copy(root / "images" / "case2.nii.gz", root / "images" / "copy.nii.gz")
    _save(root / "masks" / "copy.nii.gz", _block(1.0))
    _save(root / "masks" / "empty.nii.gz", np.zeros(SHAPE, np.float32))
    _save(root / "images" / "empty.nii.gz", _image(15))
    (root / "images" / "notes.txt").write_text("not an image")
    return root


def test_each_problem_is_reported_and_the_loader_does_what_the_report_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cli
) -> None:  # type: ignore[no-untyped-def]
    root = _problem_set(tmp_path / "data")
    report = _report(root, "spatial_dims=3", "model.image_size=16")
    items = _by_item(report)

    def one(item: str) -> tuple[str, str, str]:
        [finding] = [f for f in items[item] if f[0] != "note"]
        return finding

    assert one("images/nan.nii.gz") == ("error", "drop", "1 NaN/Inf voxels (of 4,320)")
    assert one("masks/nan.nii.gz") == ("error", "drop", "its partner images/nan.nii.gz is dropped")
    assert one("images/constant.nii.gz")[:2] == ("warning", "keep")
    assert "constant volume (every voxel 7)" in one("images/constant.nii.gz")[2]
    assert one("images/lonely.nii.gz") == ("error", "drop", "no partner named 'lonely' in masks/")
    assert one("masks/orphan.nii.gz") == ("error", "drop", "no partner named 'orphan' in images/")
    shape = "'images/shape.nii.gz' has shape [20, 18, 12] but its partner 'masks/shape.nii.gz' has"
    assert one("images/shape.nii.gz")[:2] == one("masks/shape.nii.gz")[:2] == ("error", "drop")
    assert one("masks/shape.nii.gz")[2].startswith(shape)
    assert one("masks/spacing.nii.gz")[:2] == ("warning", "keep")
    assert (
        "voxels of 2x2x3 mm but its partner 'masks/spacing.nii.gz' 1x1x1 mm"
        in one("masks/spacing.nii.gz")[2]
    )
    assert one("images/cut.nii.gz")[:2] == ("error", "drop")
    assert one("images/cut.nii.gz")[2].startswith("unreadable: truncated: its gzip data ends")
    assert one("masks/cut.nii.gz")[2] == "its partner images/cut.nii.gz is dropped"
    assert one("images/short.nii")[:2] == ("error", "drop")
    assert one("images/copy.nii.gz") == ("warning", "drop", "duplicate of images/case2.nii.gz")
    # the loader keeps a duplicate pair, clean drops both: a warning on each, not an error
    assert one("masks/copy.nii.gz") == (
        "warning",
        "drop",
        "its partner images/copy.nii.gz is dropped",
    )
    assert one("masks/empty.nii.gz") == ("warning", "keep", "empty mask (every voxel 0)")
    assert items["images/notes.txt"] == [("note", "ignore", "not a NIfTI file or DICOM series: not read")]  # fmt: skip
    for i in range(3):  # the good pairs: the resize note on the image, nothing on the mask
        assert [f[0] for f in items[f"images/case{i}.nii.gz"]] == ["note"]
        assert f"masks/case{i}.nii.gz" not in items
    assert not report.clean and len(report.items) == 24
    # the loader: the first problem stops it, naming the file...
    cfg = MedData(source="folder", path=root)
    with pytest.raises(UsageError, match=r"'.*lonely\.nii\.gz' has no partner named 'lonely'"):
        load_folder("lesion", cfg, 3, 16)
    # ... and data.skip_bad=true keeps what the report keeps: every pair without an error
    capsys.readouterr()
    (images, _), _ = load_folder(
        "lesion", MedData(source="folder", path=root, skip_bad=True), 3, 16
    )
    kept = {"case0", "case1", "case2", "constant", "copy", "empty", "spacing"}
    assert len(images) == len(kept) and torch.isfinite(images).all()
    err = capsys.readouterr().err
    for name in ("nan", "shape", "cut", "short", "lonely"):
        assert f"{name}.nii" in err
    assert "constant volume (every voxel 7): it becomes all -1" in err
    assert "the loader pairs them voxel by voxel" in err
    # `ganhub data clean` copies what the report keeps (the duplicate pair goes as well)
    code, out, _ = cli("data", "clean", str(root), "plugin=medgan", "spatial_dims=3",
                       "model.image_size=16", "--out", str(tmp_path / "clean"))  # fmt: skip
    assert code == 0, out
    left = sorted(p.name for p in (tmp_path / "clean" / "images").iterdir())
    assert left == sorted(f"{n}.nii.gz" for n in kept - {"copy"})
    (images, _), _ = load_folder("lesion", MedData(source="folder", path=tmp_path / "clean"), 3, 16)
    assert len(images) == 6
    code, out, _ = cli("data", "check", str(root), "plugin=medgan", "spatial_dims=3",
                       "model.image_size=16", "--json")  # fmt: skip
    assert code == 1 and json.loads(out)["clean"] is False


def test_orientation_is_what_the_loader_undoes(tmp_path: Path) -> None:
    ras = _lesion_set(tmp_path / "ras", [1.0])
    lps = tmp_path / "lps"
    flip = AFFINE.copy()  # the same head stored with x and y reversed: voxel (i, j, k) holds
    flip[:3, 0], flip[:3, 1] = -AFFINE[:3, 0], -AFFINE[:3, 1]  # what (X-1-i, Y-1-j, k) held
    flip[:3, 3] = AFFINE[:3, :3] @ [SHAPE[0] - 1, SHAPE[1] - 1, 0] + AFFINE[:3, 3]
    _save(lps / "images" / "case0.nii.gz", _image(0)[::-1, ::-1].copy(), flip)
    _save(lps / "masks" / "case0.nii.gz", _block(1.0)[::-1, ::-1].copy(), flip)
    note = _by_item(_report(lps, "spatial_dims=3", "model.image_size=16"))["images/case0.nii.gz"]
    assert note == [("note", "convert", "LPS reoriented to RAS; 20x18x12 resized to 16x16x16 "
                     "(its 40x36x36 mm field of view made a cube, the aspect ratio changed: y "
                     "stretched 1.11x, z stretched 1.11x; data.pixdim=[2, 2, 2] (isotropic voxels) "
                     "with data.fit=crop_pad keeps the proportions)")]  # fmt: skip
    (a, am), aff_a = load_folder("lesion", MedData(source="folder", path=ras), 3, 16)
    (b, bm), aff_b = load_folder("lesion", MedData(source="folder", path=lps), 3, 16)
    torch.testing.assert_close(a, b)
    assert torch.equal(am, bm)
    np.testing.assert_allclose(aff_a, aff_b, atol=1e-6)


def test_2d_files_translate_pairs_and_generate_folders(tmp_path: Path) -> None:
    trans = tmp_path / "trans"
    for i in range(2):
        _save(trans / "source" / f"s{i}.nii.gz", _image(i, (24, 24)))
        _save(trans / "target" / f"s{i}.nii.gz", _image(i + 5, (24, 24, 1)))
    _save(trans / "source" / "odd.nii.gz", _image(3, (24, 24)))
    _save(trans / "target" / "odd.nii.gz", _image(4, (24, 20)))
    items = _by_item(_report(trans, "task=translate", "model.image_size=16"))
    assert items["source/odd.nii.gz"][-1][:2] == ("error", "drop")
    assert "partner 'target/odd.nii.gz' has [24, 20]" in items["target/odd.nii.gz"][-1][2]
    assert items["source/s0.nii.gz"] == [("note", "convert", "24x24 resized to 16x16")]
    gen = tmp_path / "gen"
    _save(gen / "a.nii.gz", _image(0, (24, 24)))
    _save(gen / "b.nii.gz", _image(1, (24, 24, 4, 2)))  # 4D: not an image for this loader
    report = _report(gen, "task=generate", "model.image_size=16")
    assert _by_item(report)["b.nii.gz"] == [
        ("error", "drop", "has shape [24, 24, 4, 2]: spatial_dims=2 needs 2D images or 3D volumes")
    ]
    with pytest.raises(UsageError, match=r"b\.nii\.gz' has shape \[24, 24, 4, 2\]"):
        load_folder("generate", MedData(source="folder", path=gen), 2, 16)
    (gen / "b.nii.gz").unlink()
    phase = _image(2, (24, 24)) * np.exp(1j * _image(3, (24, 24)))  # raw MRI: complex values
    _save(gen / "c.nii.gz", phase.astype(np.complex64))
    assert _by_item(_report(gen, "task=generate", "model.image_size=16"))["c.nii.gz"][0][:2] == (
        "error", "drop"
    )  # fmt: skip
    with pytest.raises(UsageError, match=r"c\.nii\.gz' holds complex values"):
        load_folder("generate", MedData(source="folder", path=gen), 2, 16)


# -- the embedded phantoms ---------------------------------------------------------------------


@pytest.mark.parametrize("task", ["lesion", "translate", "progress", "generate"])
@pytest.mark.parametrize("dims", [2, 3])
def test_the_embedded_phantoms_are_clean(cli, task: str, dims: int) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("data", "check", "plugin=medgan", f"task={task}", f"spatial_dims={dims}")
    assert code == 0, out + err
    n = 512 if dims == 2 else 128
    assert out.startswith(f"medgan phantoms (task={task}, {dims}D): {n} {task} samples, clean (0 errors, 0 warnings, 0 notes)")  # fmt: skip


# -- data convert --to nifti -----------------------------------------------------------------------


def test_convert_to_nifti_loads_back_the_same_and_trains(
    workdir: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    root = _lesion_set(workdir / "data", [255.0] * 4)
    _save(root / "masks" / "case3.nii.gz", _block(0.4))  # empty at the default threshold
    keys = ["spatial_dims=2", "model.image_size=16", "data.slices_per_volume=2",
            "data.pixdim=[1.5,1.5,2]"]  # fmt: skip
    code, out, err = cli("data", "convert", str(root), "plugin=medgan", *keys,
                         "--to", "nifti", "--out", "conv")  # fmt: skip
    assert code == 0, err
    assert out.split() == ["conv", f"conv/{MANIFEST}"]
    assert len(_warnings(err)) == 1 and "case3.nii.gz" in err  # the loader's warning, once
    written = nib.load(str(workdir / "conv" / "images" / "case0.nii.gz"))
    assert written.shape == (16, 16, 2)  # 2D: the loader's two central slices as a stack
    assert nib.load(str(workdir / "conv" / "masks" / "case0.nii.gz")).get_data_dtype() == np.uint8
    cfg = resolve(["plugin=medgan", f"data.path={root}", *keys]).data
    (a, am), aff_a = load_folder("lesion", cfg, 2, 16)
    conv = resolve(["plugin=medgan", "data.path=conv", *keys]).data
    capsys.readouterr()
    (b, bm), aff_b = load_folder("lesion", conv, 2, 16)
    assert torch.equal(a, b) and torch.equal(am, bm)  # read as it is: the same tensors
    np.testing.assert_allclose(aff_a, aff_b, atol=1e-4)
    assert _warnings(capsys.readouterr().err) == []  # converted masks are 0/1 already
    code, out, _ = cli("data", "check", "conv", "plugin=medgan", *keys)
    assert code == 1 and "converted by ganhub data convert: read as it is" in out
    assert "masks/case3.nii.gz  empty mask (every voxel 0)" in out
    # other settings than the conversion's: one line naming the key
    with pytest.raises(UsageError, match=r"converted for model.image_size=16 .*this run has "
                       r"model.image_size=32: set model.image_size=16"):  # fmt: skip
        load_folder("lesion", conv, 2, 32)
    code, _, err = cli("data", "convert", str(root), "plugin=medgan", "--to", "shard",
                       "--out", "x.safetensors")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "a shard would lose the masks" in err
    code, _, err = cli("data", "convert", str(root), "plugin=medgan", *keys, "--to", "nifti",
                       "--out", "conv")  # fmt: skip
    assert code == 2 and "is a folder" in err
    run = _train(["data.path=conv", *keys, "eval.metrics=[]", "trainer.steps=2"])
    assert len(run.system.train_set.images) == 8


@pytest.mark.parametrize(
    ("task", "folders"),
    [("translate", ["source", "target"]), ("progress", ["baseline", "followup"])],
)
def test_convert_the_embedded_phantoms(workdir: Path, cli, task: str, folders: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The phantom pairs as NIfTI folders, read back by the folder loader as the same tensors."""
    keys = ["preset=tiny", "model.image_size=32", f"task={task}"]
    code, _, err = cli("data", "convert", "plugin=medgan", *keys, "--to", "nifti", "--out", "ph")
    assert code == 0, err
    assert sorted(p.name for p in (workdir / "ph").iterdir()) == sorted([MANIFEST, *folders])
    config = resolve(["plugin=medgan", *keys])
    phantoms = build_split(config, "train")
    back = build_split(resolve(["plugin=medgan", *keys, "data.path=ph"]), "train")
    assert torch.equal(back.images, phantoms.images)
    assert back.conditions is not None and phantoms.conditions is not None
    assert torch.equal(back.conditions, phantoms.conditions)
    np.testing.assert_allclose(back.affines, phantoms.affines, atol=1e-5)
    manifest = json.loads((workdir / "ph" / MANIFEST).read_text())
    assert manifest["count"] == 80 and manifest["source"] == "phantom"


def test_progress_folders_with_lesion_masks_load_check_and_score_growth(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Baseline and follow-up masks are two more folders of each sample: converted phantoms load
    back as the same masks, `data check` pairs all four files, and med_growth scores the run."""
    masks = ["data.baseline_mask_dir=masks_t0", "data.followup_mask_dir=masks_t1"]
    keys = ["preset=tiny", "model.image_size=32", "task=progress", *masks]
    code, _, err = cli("data", "convert", "plugin=medgan", *keys, "--to", "nifti", "--out", "ph")
    assert code == 0, err
    assert sorted(p.name for p in (workdir / "ph").iterdir()) == sorted(
        [MANIFEST, "baseline", "followup", "masks_t0", "masks_t1"]
    )
    phantoms = build_split(resolve(["plugin=medgan", *keys]), "train")
    back = build_split(resolve(["plugin=medgan", *keys, "data.path=ph"]), "train")
    assert back.masks is not None and back.prior_masks is not None
    assert phantoms.masks is not None and phantoms.prior_masks is not None
    assert torch.equal(back.masks, phantoms.masks) and torch.equal(
        back.prior_masks, phantoms.prior_masks
    )
    code, out, err = cli("data", "check", "ph", "plugin=medgan", *keys)
    assert code == 0, out + err
    assert out.startswith("ph: 321 files (baseline/follow-up scans and their masks), clean")
    assert "pairs (matched by name): 80" in out and "mask rule" in out
    run = _train(["task=progress", "data.path=ph", *masks, "trainer.steps=1"])
    assert run.system.default_metrics()[-1] == "med_growth"
    final = json.loads((run.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"eval/dice", "eval/new_recall", "eval/dice_unchanged"} <= set(final)
    # a follow-up mask missing: its three partners are unpaired, named with the folder
    (workdir / "ph" / "masks_t1" / "phantom_0003.nii.gz").unlink()
    code, out, _ = cli("data", "check", "ph", "plugin=medgan", *keys)
    assert (
        code == 1
        and "baseline/phantom_0003.nii.gz  no partner named 'phantom_0003' in masks_t1/" in out
    )
    with pytest.raises(ConfigError, match="go together"):
        resolve(["plugin=medgan", "task=progress", masks[0]])
    with pytest.raises(ConfigError, match=r"apply to task=progress \(this run: task=lesion\)"):
        resolve(["plugin=medgan", *masks])
