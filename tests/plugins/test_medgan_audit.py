"""medgan after a user audit: exports hold no scans of the user's, a run without its data folder
says how to give inputs, NIfTI samples keep each case's geometry, 3D generate writes every
volume, n samples are n distinct ones where the task can make them, med_growth's recall of
nothing is NaN, keys that do not apply are refused, and simulate's mask errors name the file.

Tiny runs (16 px, a few steps) on folders of three cases of different voxel spacings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

import ganhub  # noqa: E402
from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.engine.loop import fit  # noqa: E402
from ganhub.errors import ConfigError, UsageError  # noqa: E402
from ganhub.export import export_run  # noqa: E402
from ganhub.wiring import make_run  # noqa: E402

TINY16 = [
    "plugin=medgan",
    "preset=tiny",
    "trainer.steps=2",
    "trainer.batch_size=2",
    "trainer.progress=false",
    "loggers=[jsonl]",
    "model.image_size=16",
    "eval.metrics=[]",
]
SPACINGS = ((1.5, 1.5, 3.0), (0.5, 0.5, 1.0), (1.0, 1.0, 2.0))  # mm, one per case
SHAPE = (12, 12, 8)
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def _scans(root: Path, task: str = "lesion", n: int = 3) -> Path:
    """n cases of different spacing: images/ + masks/ (lesion) or flat files (generate)."""
    subs = ("images", "masks") if task == "lesion" else (".",)
    for i in range(n):
        affine = np.diag([*SPACINGS[i % len(SPACINGS)], 1.0])
        image = np.random.default_rng(i).normal(100, 20, SHAPE).astype(np.float32)
        mask = np.zeros(SHAPE, np.float32)
        mask[4:8, 4:8, 2:6] = 1
        for sub, data in zip(subs, (image, mask)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data, affine), str(root / sub / f"case{i}.nii.gz"))
    return root


def _fit(args: list[str], out: Path) -> Path:
    run = make_run(resolve([*TINY16, *args, f"out_dir={out}"]))
    fit(run)
    return run.run_dir


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run, data folder) of a 2D lesion run on three cases of different spacing."""
    root = tmp_path_factory.mktemp("folder")
    data = _scans(root / "scans")
    return _fit([f"data.path={data}"], root / "runs"), data


@pytest.fixture
def moved(folder_run: tuple[Path, Path]) -> Iterator[Path]:
    """The folder run's data folder moved away for one test (then put back)."""
    data = folder_run[1]
    away = data.rename(data.with_name("moved"))
    try:
        yield away
    finally:
        away.rename(data)


# -- 1. exports of the user's data, runs without their folder ---------------------------------


def test_an_export_of_a_folder_run_holds_no_scans(
    folder_run: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    code, out, err = cli("export", str(folder_run[0]), "--out", str(tmp_path / "exp"))
    assert code == 0, err
    dest = Path(out.strip())
    assert sorted(p.name for p in dest.iterdir()) == [
        "README.md", "config.yaml", "export.json", "generator.safetensors", "requires.json",
    ]  # fmt: skip
    assert json.loads((dest / "export.json").read_text())["samples"] == []
    card = (dest / "README.md").read_text()
    assert "No samples were drawn" in card and "an export is made for sharing" in card
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganhub: note: no samples: this run's samples")


def test_only_samples_made_from_the_users_scans_are_declared(tmp_path: Path) -> None:
    from ganhub.engine.system import BuildHints
    from ganhub.export import SAMPLES_FROM_DATA
    from ganhub.wiring import components

    data = _scans(tmp_path / "scans")
    for args, declared in (
        ([f"data.path={data}"], True),  # lesion on the user's scans
        ([], False),  # the embedded phantoms are synthetic
        (["task=translate"], False),
        (["task=generate", f"data.path={_scans(tmp_path / 'flat', 'generate')}"], False),
    ):
        config = resolve([*TINY16, *args])
        system = components(config, training=False).domain.build(config, BuildHints())
        assert system.capabilities().can(SAMPLES_FROM_DATA) is declared, args


def test_without_its_folder_a_run_or_export_says_how_to_give_inputs(
    folder_run: tuple[Path, Path], moved: Path, tmp_path: Path, cli: Cli
) -> None:
    run_dir = folder_run[0]
    dest = export_run(run_dir, out=tmp_path / "exp")
    with pytest.raises(UsageError) as exc:
        ganhub.load(dest).sample(2)  # the card's own snippet
    text = str(exc.value)
    assert "\n" not in text and "is not there" in text and "data.path=FOLDER" in text
    assert "ganhub medgan simulate RUN --image SCAN --mask MASK" in text
    for args in (
        ["sample", str(run_dir), "--n", "2", "--out", str(tmp_path / "s")],
        ["eval", str(run_dir), "eval.metrics=[med_fidelity]"],
        ["medgan", "simulate", str(run_dir), "--at", "8,8"],
    ):
        code, _, err = cli(*args)
        error = [line for line in err.splitlines() if line.startswith("ganhub: error:")]
        assert code != 0 and len(error) == 1, (args, err)
        assert "data.path=FOLDER" in error[0] and "--image SCAN --mask MASK" in error[0], args
    # where the data is now, or a scan of the user's own
    code, _, err = cli("sample", str(dest), "--n", "2", "--out", str(tmp_path / "s"),
                       f"data.path={moved}")  # fmt: skip
    assert code == 0, err
    scan = moved / "images" / "case0.nii.gz"
    code, _, err = cli("medgan", "simulate", str(run_dir), "--at", "8,8", "--image", str(scan),
                       "--out", str(tmp_path / "sim"))  # fmt: skip
    assert code == 0, err


def test_a_generate_run_samples_without_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _scans(tmp_path / "flat", "generate")
    run_dir = _fit(["task=generate", f"data.path={data}"], tmp_path / "runs")
    data.rename(tmp_path / "gone")
    capsys.readouterr()
    paths = ganhub.load(run_dir).write_samples(tmp_path / "s", n=2)
    assert [p.name for p in paths] == ["samples.png", "samples.nii.gz"]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("medgan: note: data.path=") and "1 mm grid" in err[0]
    with pytest.raises(UsageError, match=r"is not there: .*ganhub eval RUN data.path=FOLDER"):
        ganhub.load(run_dir).system.eval_batch(2)


# -- 2. NIfTI samples: each case with its own geometry --------------------------------------


def test_cases_of_different_geometry_get_one_file_each(tmp_path: Path) -> None:
    data = _scans(tmp_path / "scans")
    summary = ganhub.train(["plugin=medgan", "spatial_dims=3", f"data.path={data}",
                            "trainer.steps=1", "trainer.batch_size=2",
                            "eval.metrics=[med_fidelity]", "model.image_size=16",
                            "trainer.progress=false", "loggers=[jsonl]",
                            f"out_dir={tmp_path / 'runs'}"])  # fmt: skip
    samples = Path(summary["run_dir"]) / "samples"
    names = sorted(p.name for p in samples.glob("*.nii.gz"))
    assert names == [f"step_0000001_row0{i}{m}.nii.gz" for i in range(3) for m in ("", "_mask")]
    for i, spacing in enumerate(SPACINGS):  # each resized to 16^3 from 12x12x8
        for suffix in ("", "_mask"):
            image = nib.load(str(samples / f"step_0000001_row0{i}{suffix}.nii.gz"))
            assert image.shape == (16, 16, 16)
            want = np.array(spacing) * np.array(SHAPE) / 16
            np.testing.assert_allclose(image.header.get_zooms(), want, rtol=1e-5)


def test_2d_rows_share_a_file_only_where_one_affine_places_them(
    folder_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from ganhub_medgan.outputs import file_groups

    model = ganhub.load(folder_run[0])
    paths = model.write_samples(tmp_path, "s", n=3)
    affines = model.system.eval_batch(3).affines
    for i in range(3):
        image = nib.load(str(tmp_path / f"s_row0{i}.nii.gz"))
        assert image.shape == (16, 16, 1)
        np.testing.assert_allclose(image.affine[:3, :2], affines[i][:3, :2])
        np.testing.assert_allclose(image.affine[:3, 3], affines[i][:3, 3])
    assert len(paths) == 7  # the PNG, three images, three masks
    # the rule: one affine for all (phantoms), or consecutive slices of one volume
    one = np.diag([2.0, 2.0, 3.0, 1.0])
    step = one.copy()
    step[2, 3] = 3.0
    other = np.diag([1.0, 1.0, 1.0, 1.0])
    assert file_groups(np.stack([one] * 4), slices=True) == [(0, 4)]
    assert file_groups(np.stack([one, step]), slices=True) == [(0, 2)]
    assert file_groups(np.stack([one, step]), slices=False) == [(0, 1), (1, 2)]
    assert file_groups(np.stack([one, step, one, step, other]), slices=True) == [
        (0, 2), (2, 4), (4, 5),
    ]  # fmt: skip
    assert file_groups(np.stack([one, one, step]), slices=True) == [(0, 2), (2, 3)]


# -- 3. 3D generate: every volume in the NIfTI file ----------------------------------------


def test_3d_generate_writes_every_volume_the_png_shows(tmp_path: Path) -> None:
    run_dir = _fit(["task=generate", "spatial_dims=3"], tmp_path / "runs")
    png, nii = ganhub.load(run_dir).write_samples(tmp_path / "s", n=5)
    assert nib.load(str(nii)).shape == (16, 16, 16, 5)
    from PIL import Image

    height = Image.open(png).size[1]
    assert 5 * 16 <= height < 6 * 16 + 20  # five rows of 16 px tiles (and their padding)


# -- 4. n samples --------------------------------------------------------------------------


def test_more_samples_than_held_out_phantoms_are_all_distinct(tmp_path: Path) -> None:
    run_dir = _fit([], tmp_path / "runs")  # tiny: 8 held-out phantoms
    model = ganhub.load(run_dir)
    many = model.sample(20)
    flat = many.flatten(1)
    distances = torch.cdist(flat, flat) + torch.eye(len(flat)) * 1e9
    assert len(many) == 20 and float(distances.min()) > 1e-3
    torch.testing.assert_close(many[:8], model.sample(8))  # the held-out ones first
    model.write_samples(tmp_path / "s", n=20)
    stack = nib.load(str(tmp_path / "s" / "samples.nii.gz")).get_fdata()
    assert stack.shape == (16, 16, 20) and not np.allclose(stack[..., 12], stack[..., 4])


def test_more_samples_than_scans_repeat_them_with_a_note(
    folder_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = ganhub.load(folder_run[0])
    capsys.readouterr()
    three = model.sample(3)
    assert capsys.readouterr().err == ""
    five = model.sample(5)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("medgan: note: 5 samples from the 3 images read")
    torch.testing.assert_close(five, torch.cat([three, three[:2]]))  # in order, repeated


# -- 5. med_growth when nothing grew -------------------------------------------------------


def test_new_recall_is_nan_when_no_lesion_grew(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganhub_medgan.metrics import growth_scores

    masks = torch.zeros(2, 1, 16, 16)
    masks[:, :, 4:8, 4:8] = 1
    images = masks * 2 - 1
    scores = growth_scores(images, masks, torch.zeros_like(masks), images)
    assert math.isnan(scores["new_recall"]) and scores["dice"] == pytest.approx(1.0)
    capsys.readouterr()
    run_dir = _fit(["task=progress", "data.growth=0", "eval.metrics=[med_growth]"],
                   tmp_path / "runs")  # fmt: skip
    err = capsys.readouterr().err
    assert "new_recall is undefined" in err
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    recall = [r["eval/new_recall"] for r in records if "eval/new_recall" in r]
    assert recall and recall[-1] is None  # nan: null in metrics.jsonl


# -- 6. keys that do not apply ----------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        (["task=translate", "data.erase=false"], "data.erase=false applies to task=lesion"),
        (["task=progress", "data.erase=false"], "data.erase=false applies to task=lesion"),
        (["task=generate", "data.erase=false"], "data.erase=false applies to task=lesion"),
        (["data.image_dir=imgs"], "data.image_dir=imgs names a subfolder of folder data"),
        (["task=progress", "data.followup_dir=t1"], "data.followup_dir=t1 names a subfolder"),
        (["data.path=DIR", "data.source_dir=t1"], "data.source_dir=t1 applies to task=translate"),
        (["data.skip_bad=true"], r"data.skip_bad=true applies to folder data \(data.path"),
        (["task=translate", "data.mask_threshold=0.3"], "applies to lesion masks"),
        (["task=generate", "data.path=DIR/images", "data.mask_threshold=0.3"], "reads none"),
    ],
)
def test_keys_that_do_not_apply_are_refused(tmp_path: Path, keys: list[str], words: str) -> None:
    data = _scans(tmp_path / "scans")
    with pytest.raises(ConfigError, match=words) as exc:
        resolve(["plugin=medgan", *(k.replace("DIR", str(data)) for k in keys)])
    assert "\n" not in str(exc.value)
    # the keys that do apply pass
    resolve(["plugin=medgan", "data.erase=false", f"data.path={data}", "data.image_dir=images"])
    resolve(["plugin=medgan", f"data.path={data}", "data.mask_threshold=0.3", "data.skip_bad=true"])
    # predict and simulate read the user's scans with the loader keys of a phantom run
    resolve(
        ["plugin=medgan", "data.orientation=LPS", "data.percentiles=[1,99]", "data.fit=crop_pad"]
    )


def test_more_slices_than_a_volume_has_is_one_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganhub_medgan.config import MedData
    from ganhub_medgan.folder import load_folder

    data = _scans(tmp_path / "scans")
    capsys.readouterr()
    (images, _), _ = load_folder("lesion", MedData(source="folder", path=data,
                                                   slices_per_volume=50), 2, 16)  # fmt: skip
    assert len(images) == 3 * SHAPE[2]  # every slice of each
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "medgan: note: data.slices_per_volume=50, but 3 of 3 volumes have fewer axial slices "
        "(8): all of their slices are taken"
    ]
    load_folder("lesion", MedData(source="folder", path=data, slices_per_volume=8), 2, 16)
    assert capsys.readouterr().err == ""


# -- 7. simulate's mask errors name the file ----------------------------------------------


def test_a_mask_off_the_run_grid_is_named(
    folder_run: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    from ganhub_medgan.outputs import write_nifti

    mask = np.zeros((10, 10), np.float32)
    mask[3:6, 3:6] = 1
    path = write_nifti(mask, np.eye(4), tmp_path / "m10.nii.gz", label=True)
    code, _, err = cli("medgan", "simulate", str(folder_run[0]), "--mask", str(path))
    assert code == 2 and err.count("\n") == 1, err
    assert f"mask '{path}' has shape [10, 10]" in err and "image grid [16, 16]" in err
    assert "--image" in err
