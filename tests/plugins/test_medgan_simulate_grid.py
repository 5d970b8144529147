"""`ganhub medgan simulate` after a user audit: a mask is read onto the run's grid in the run's
orientation (data.orientation=LPS wrote a mirrored image labelled RAS; a 2D mask with a non-RAS
affine crashed in nibabel), the outputs always take the base image's affine, and a 2D run with
data.slices_per_volume=K paints the central slice of a scan, not the first of the K.

DATA: a dozen NIfTI pairs (40, 48, 20) with a 2x2x3 mm affine, images/ + masks/, the mask a
6x6x4 box at the centre; tiny runs (16 px, one step).
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
from ganhub.wiring import make_run  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (40, 48, 20)
SPACING = (2.0, 2.0, 3.0)
BOX = (slice(17, 23), slice(21, 27), slice(8, 12))  # 6x6x4 voxels at the centre
QUICK = [
    "plugin=medgan",
    "preset=tiny",
    "trainer.steps=1",
    "trainer.batch_size=2",
    "trainer.progress=false",
    "loggers=[jsonl]",
    "model.image_size=16",
]
Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture: (exit code, stdout, stderr)


def scans(root: Path, n: int = 12, trailing: bool = False) -> Path:
    """DATA: n image/mask pairs of SHAPE at SPACING, a bright box lesion at the centre
    (`trailing`: stored (X, Y, Z, 1), as MONAI and nibabel often write them)."""
    affine = np.diag([*SPACING, 1.0])
    for i in range(n):
        image = np.random.default_rng(i).normal(100, 20, SHAPE).astype(np.float32)
        mask = np.zeros(SHAPE, np.float32)
        mask[BOX] = 1
        image[mask > 0] += 80
        for sub, data in (("images", image), ("masks", mask)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            data = data[..., None] if trailing else data
            nib.save(nib.Nifti1Image(data, affine), str(root / sub / f"case{i:02d}.nii.gz"))
    return root


def train(args: list[str], out: Path) -> Path:
    """The run directory of a one-step run (no metrics unless `args` ask for them)."""
    run = make_run(resolve([*QUICK, "eval.metrics=[]", *args, f"out_dir={out}"]))
    fit(run)
    return run.run_dir


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA, shared by the module's runs."""
    return scans(tmp_path_factory.mktemp("data") / "DATA")


def flipped(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same mask in world space, stored with its first two voxel axes reversed (an LPS
    grid stored RAS, or a RAS one stored LPS)."""
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[:2, 3] = np.array(mask.shape[:2]) - 1
    return mask[::-1, ::-1].copy(), np.asarray(affine) @ flip


def world(data: np.ndarray, affine: np.ndarray) -> list[tuple[float, ...]]:
    """The world positions (mm) of a mask's lesion voxels, sorted."""
    voxels = np.argwhere(np.asarray(data) > 0.5).astype(np.float64)
    if voxels.shape[1] == 2:  # a 2D file: the plane's third index is 0
        voxels = np.c_[voxels, np.zeros(len(voxels))]
    return sorted(tuple(p) for p in np.round(nib.affines.apply_affine(affine, voxels), 3))


def lesion(shape: tuple[int, ...]) -> np.ndarray:
    """A small off-centre lesion, so a mirrored one lands elsewhere."""
    mask = np.zeros(shape, np.float32)
    mask[(slice(2, 5), slice(9, 12), *[slice(3, 6)] * (len(shape) - 2))] = 1
    return mask


@pytest.mark.parametrize("dims", [2, 3])
def test_a_mask_on_an_lps_run_lands_where_it_was_drawn(
    dims: int, data: Path, tmp_path: Path, cli: Cli
) -> None:
    """data.orientation=LPS: simulated.nii.gz was labelled with the mask's RAS affine while its
    voxels were the base image's, in LPS order: the lesion landed at the mirrored anatomy."""
    from ganhub_medgan.outputs import to_intensity
    from ganhub_medgan.simulate import load_simulator

    run = train([f"spatial_dims={dims}", f"data.path={data}", "data.orientation=LPS"], tmp_path)
    sim = load_simulator(run)
    base_affine = np.asarray(sim.affine)
    assert nib.aff2axcodes(base_affine) == ("L", "P", "S")
    drawn = lesion(sim.shape)  # drawn on the base image's voxels, saved by a viewer as RAS
    stored, affine = flipped(drawn if dims == 3 else drawn[..., None], base_affine)
    assert nib.aff2axcodes(affine) == ("R", "A", "S")
    nib.save(nib.Nifti1Image(stored, affine), str(tmp_path / "mask.nii.gz"))
    code, _, err = cli("medgan", "simulate", str(run), "--mask", str(tmp_path / "mask.nii.gz"),
                       "--out", str(tmp_path / "sim"))  # fmt: skip
    assert code == 0, err
    assert "different affines" not in err  # the same place in space: nothing to say
    image = nib.load(str(tmp_path / "sim" / "simulated.nii.gz"))
    mask = nib.load(str(tmp_path / "sim" / "simulated_mask.nii.gz"))
    for written in (image, mask):  # the base image's voxels, placed by its affine
        np.testing.assert_allclose(written.affine, base_affine, atol=1e-5)
        assert nib.aff2axcodes(written.affine) == ("L", "P", "S")
    assert world(np.asarray(mask.dataobj), mask.affine) == world(stored, affine)
    painted = np.asarray(mask.dataobj).reshape(sim.shape) > 0
    near = np.zeros_like(painted)  # the lesion and its one-voxel rim: what G paints
    near[(slice(1, 6), slice(8, 13), slice(2, 7))[:dims]] = True  # `lesion`'s box, grown
    assert painted.sum() == drawn.sum() and near[painted].all()
    healthy = to_intensity(sim.base).reshape(sim.shape)
    got = np.asarray(image.dataobj).reshape(sim.shape)
    np.testing.assert_allclose(got[~near], healthy[~near], atol=1e-6)


def test_a_2d_mask_with_a_non_ras_affine_is_read(tmp_path: Path, cli: Cli) -> None:
    """A 2D (X, Y) mask with diag(-1, -1, 1, 1) stopped with nibabel's "Data array has fewer
    dimensions than orientation", though training reads such files."""
    from ganhub_medgan.simulate import load_simulator

    run = train([], tmp_path)  # 2D phantoms: the base is a healthy phantom, RAS
    sim = load_simulator(run)
    drawn = lesion(sim.shape)
    stored, affine = flipped(drawn, sim.affine)  # the phantom's grid, stored LPS
    assert np.allclose(np.diag(affine)[:3], [-1, -1, 1])
    nib.save(nib.Nifti1Image(stored, affine), str(tmp_path / "lps.nii.gz"))
    code, _, err = cli("medgan", "simulate", str(run), "--mask", str(tmp_path / "lps.nii.gz"),
                       "--out", str(tmp_path / "a"))  # fmt: skip
    assert code == 0, err
    mask = nib.load(str(tmp_path / "a" / "simulated_mask.nii.gz"))
    np.testing.assert_allclose(mask.affine, sim.affine, atol=1e-6)
    assert world(np.asarray(mask.dataobj), mask.affine) == world(stored, affine)
    # the plain diag(-1, -1, 1, 1) of the audit: read in the run's orientation, placed voxel
    # by voxel on the base image (it is elsewhere in space: one note says so)
    nib.save(nib.Nifti1Image(stored, np.diag([-1.0, -1.0, 1.0, 1.0])), str(tmp_path / "d.nii"))
    code, _, err = cli("medgan", "simulate", str(run), "--mask", str(tmp_path / "d.nii"),
                       "--out", str(tmp_path / "b"))  # fmt: skip
    assert code == 0, err
    notes = [line for line in err.splitlines() if "different affines" in line]
    assert len(notes) == 1 and notes[0].startswith("medgan: note: mask '"), err
    assert np.asarray(nib.load(str(tmp_path / "b" / "simulated_mask.nii.gz")).dataobj).sum() == 9


def test_simulate_on_a_scan_takes_its_central_slice(data: Path, tmp_path: Path, cli: Cli) -> None:
    """data.slices_per_volume=8: --image took the first of the 8 central slices (slice 6 of
    20), off-centre: the scan's own centred lesion mask "marks no lesion voxel"."""
    run = train([f"data.path={data}", "data.slices_per_volume=8"], tmp_path)
    image, mask = data / "images" / "case00.nii.gz", data / "masks" / "case00.nii.gz"
    centre_z = SPACING[2] * (SHAPE[2] // 2)  # slice 10 of 20, 3 mm apart, origin 0
    for args, out in ((["--mask", str(mask)], "m"), (["--at", "8,8"], "a")):
        code, _, err = cli("medgan", "simulate", str(run), "--image", str(image), *args,
                           "--out", str(tmp_path / out))  # fmt: skip
        assert code == 0, err
        for name in ("simulated.nii.gz", "simulated_mask.nii.gz"):
            written = nib.load(str(tmp_path / out / name))
            assert written.affine[2, 3] == pytest.approx(centre_z), (args, name)
    painted = np.asarray(nib.load(str(tmp_path / "m" / "simulated_mask.nii.gz")).dataobj)
    assert painted.sum() > 0
