"""`ganhub medgan simulate` / `predict` after a radiologist-researcher's audit: the outputs'
NIfTI `descrip` says what produced them (it was empty), `--image` refuses a binary mask (it
predicted from one), `--at` names a non-number, a wrong count of coordinates or an off-grid
voxel (NaN said "outside the grid"), `--radius` with `--mask` is refused (it was ignored), and
a constant `--image` is said on stderr (it was silent).

DATA: a (40, 48, 20) NIfTI scan of 2x2x3 mm voxels with its 0/1 lesion mask; two tiny runs
(16 px, one step): task=lesion and task=progress.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.engine.loop import fit  # noqa: E402
from ganhub.errors import UsageError  # noqa: E402
from ganhub.wiring import make_run  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)
SHAPE = (40, 48, 20)
AFFINE = np.array([[2.0, 0, 0, -40], [0, 2, 0, -48], [0, 0, 3, -30], [0, 0, 0, 1]])
QUICK = ["plugin=medgan", "preset=tiny", "trainer.steps=1", "trainer.batch_size=2",
         "trainer.progress=false", "loggers=[jsonl]", "model.image_size=16",
         "eval.metrics=[]"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One-step runs of task=lesion and task=progress, shared by the module."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for task in ("lesion", "progress"):
        run = make_run(resolve([*QUICK, f"task={task}", f"out_dir={root / task}"]))
        fit(run)
        out[task] = run.run_dir
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA: scan.nii.gz, mask.nii.gz (uint8 0/1), and the mask stored float 0/255."""
    root = tmp_path_factory.mktemp("data")
    scan = np.random.default_rng(0).normal(100, 20, SHAPE).astype(np.float32)
    mask = np.zeros(SHAPE, np.uint8)
    mask[17:23, 21:27, 8:12] = 1
    scan[mask > 0] += 80
    for name, array in (("scan", scan), ("mask", mask), ("mask255", mask * np.float32(255))):
        nib.save(nib.Nifti1Image(array, AFFINE), str(root / f"{name}.nii.gz"))
    return root


def descrip(path: Path) -> str:
    return bytes(nib.load(str(path)).header["descrip"].item()).decode()


def test_outputs_say_what_produced_them_in_descrip(
    runs: dict[str, Path], data: Path, tmp_path: Path, cli: Cli
) -> None:
    """The header's descrip was empty; the outputs keep the scan's field of view."""
    lesion, progress = runs["lesion"].name, runs["progress"].name
    code, _, err = cli("medgan", "simulate", str(runs["lesion"]), "--at", "8,7", "--radius",
                       "2.5", "--out", str(tmp_path / "a"))  # fmt: skip
    assert code == 0, err
    want = f"ganhub medgan simulate: lesion r=2.5 at 8,7; run {lesion}"
    assert descrip(tmp_path / "a" / "simulated.nii.gz") == want
    assert descrip(tmp_path / "a" / "simulated_mask.nii.gz") == want
    code, _, err = cli("medgan", "predict", str(runs["progress"]), "--image",
                       str(data / "scan.nii.gz"), "--out", str(tmp_path / "b"))  # fmt: skip
    assert code == 0, err
    written = nib.load(str(tmp_path / "b" / "predicted.nii.gz"))
    text = descrip(tmp_path / "b" / "predicted.nii.gz")
    assert text.startswith("ganhub medgan predict: follow-up of scan.nii.gz; run ")
    assert len(text) <= 80 and progress[-6:] in text  # the run, shortened in the middle
    # the 80 x 96 mm field of view on the 16 x 16 grid, around the same centre; the central slice
    assert np.allclose(written.header.get_zooms(), (5, 6, 3))
    assert np.allclose(written.affine[:3, 3], [-38.5, -46, 0])


def test_image_that_is_a_binary_mask_is_refused(
    runs: dict[str, Path], data: Path, tmp_path: Path, cli: Cli
) -> None:
    """predict --image mask.nii.gz predicted a "follow-up" of the mask."""
    for name, top in (("mask", "1"), ("mask255", "255")):
        path = data / f"{name}.nii.gz"
        code, out, err = cli("medgan", "predict", str(runs["progress"]), "--image", str(path),
                             "--out", str(tmp_path / name))  # fmt: skip
        assert code == 2 and err.count("\n") == 1 and not out, err
        assert f"--image '{path}' holds only the values 0 and {top}: a segmentation mask" in err
    code, _, err = cli("medgan", "simulate", str(runs["lesion"]), "--image",
                       str(data / "mask.nii.gz"), "--at", "8,8")  # fmt: skip
    assert code == 2 and "its lesion mask: --mask" in err
    # a CT (int16, air at -1000) and a noiseless phantom of a few grey levels are scans
    from ganhub_medgan.outputs import mask_value

    ct = np.where(np.arange(64).reshape(8, 8) % 3 == 0, -1000, 40).astype(np.int16)
    assert mask_value(ct) is None and mask_value(np.array([0.0, 1, 2, 4])) is None
    assert mask_value(np.array([0.0, 0.5])) is None and mask_value(np.zeros(4)) is None


def test_at_and_radius_name_the_mistake(runs: dict[str, Path], data: Path, cli: Cli) -> None:
    """--at nan,3 said "lies outside the image grid"; --radius beside --mask was ignored."""
    from ganhub_medgan.simulate import parse_point, simulate_to_files

    for text, said in (("nan,3", "'nan' is not a finite number"),
                       ("1e400,3", "'1e400' is not a finite number"),
                       ("3", "gives 1 coordinate;"), ("3;4", "numbers separated by commas")):  # fmt: skip
        with pytest.raises(UsageError, match="^--at '.*': " if "gives" not in said else "^--at"):
            parse_point(text)
        with pytest.raises(UsageError, match=said):
            parse_point(text)
    run = str(runs["lesion"])
    for at, said in (("3,4,5", "--at 3,4,5 gives 3 coordinates; this 2D run's grid is 16x16: "
                               "give X,Y (voxel indices from 0 to 15)"),
                     ("-1,4", "--at -1,4: X=-1 lies outside the run's 16x16 grid (X from 0 to 15)"),
                     ("4,16", "Y=16 lies outside")):  # fmt: skip
        code, _, err = cli("medgan", "simulate", run, "--at", at)
        assert code == 2 and err.count("\n") == 1 and said in err, err
    code, _, err = cli("medgan", "simulate", run, "--at", "8,8", "--radius", "1000")
    assert code == 2 and "--radius 1000 covers every voxel of the run's 16x16 grid" in err, err
    with pytest.raises(UsageError, match=r"^--radius 4 sizes an --at lesion; --mask '.*mask"):
        simulate_to_files(runs["lesion"], Path("out"), mask_path=data / "mask.nii.gz", radius=4)


def test_constant_image_is_said(runs: dict[str, Path], tmp_path: Path, cli: Cli) -> None:
    """A constant --image (every voxel 7) was predicted from in silence."""
    path = tmp_path / "const.nii.gz"
    nib.save(nib.Nifti1Image(np.full(SHAPE, 7, np.float32), AFFINE), str(path))
    code, _, err = cli("medgan", "predict", str(runs["progress"]), "--image", str(path),
                       "--out", str(tmp_path / "c"))  # fmt: skip
    assert code == 0, err
    assert f"medgan: warning: --image '{path}': constant volume (every voxel 7)" in err
