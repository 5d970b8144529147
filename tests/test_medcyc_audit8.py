"""medgan and cyclegan audit 8: `medgan simulate` without --image reads only the first pair
(and checks a mask's grid first), `data convert` writes a pair on one grid, a file named .nii
that is no NIfTI file is called so, and a task=paired BtoA run's metrics are named B -> A."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from ganhub.config.resolve import resolve
from ganhub.errors import UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

pytestmark = pytest.mark.usefixtures("one_thread")


def _lesion_folder(root: Path) -> Path:
    """Three 16x16x8 lesion pairs; the mask of 'b' (not the first) has 1.5 mm voxels, so
    loading 'b' warns that it is paired voxel by voxel."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for name in ("a", "b", "c"):
        mask = np.zeros((16, 16, 8), np.uint8)
        mask[6:10, 6:10, 3:5] = 1
        spacing = [1.5, 1.5, 1.0, 1.0] if name == "b" else [1.0] * 4
        image = rng.normal(100, 10, (16, 16, 8)).astype(np.float32)
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(root / "images" / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(mask, np.diag(spacing)), str(root / "masks" / f"{name}.nii.gz"))
    return root


KEYS = ["plugin=medgan", "task=lesion", "spatial_dims=2", "model.image_size=16", "preset=tiny"]


def test_simulate_on_a_folder_run_reads_only_the_first_pair(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without --image the base is the folder's first image: the other cases' loader warnings
    (here 'b''s, with its absolute path) were printed, even before a mask was refused."""
    import nibabel as nib

    data = _lesion_folder(tmp_path / "data")
    code, _, err = cli("run", *KEYS, f"data.path={data}", "trainer.steps=1",
                       "trainer.batch_size=2", "eval.metrics=[]", "trainer.progress=false",
                       f"out_dir={tmp_path / 'runs'}")  # fmt: skip
    assert code == 0 and "b.nii.gz" in err, err  # training reads 'b' and says so
    run = next((tmp_path / "runs").iterdir())
    small = np.zeros((8, 8), np.uint8)
    nib.save(nib.Nifti1Image(small, np.eye(4)), str(tmp_path / "m8.nii.gz"))
    code, _, err = cli("medgan", "simulate", str(run), "--mask", str(tmp_path / "m8.nii.gz"),
                       "--out", str(tmp_path / "sim"))  # fmt: skip
    assert code == 2 and "does not match the run's image grid [16, 16]" in err
    assert "b.nii.gz" not in err and "warning" not in err, err
    code, _, err = cli("medgan", "simulate", str(run), "--at", "8,8", "--out", str(tmp_path / "s"))
    assert code == 0 and "b.nii.gz" not in err, err

    from ganhub_medgan.simulate import default_base

    from ganhub.api import load

    system = load(run, plugin="medgan").system
    image, affine = default_base(system)  # the same image as the run's eval_batch(1)
    first = system.eval_batch(1)
    assert np.array_equal(image.numpy(), first.images[0].numpy())
    assert np.allclose(affine, first.affines[0])


def test_convert_writes_a_pair_on_the_image_grid(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The converted mask of 'b' kept its 1.5 mm affine: a run on the converted folder
    repeated the "paired voxel by voxel" warning for a pair the conversion had aligned."""
    import nibabel as nib
    from ganhub_medgan.data import convert_data
    from ganhub_medgan.folder import load_folder

    data = _lesion_folder(tmp_path / "data")
    config = resolve([*KEYS, f"data.path={data}"])
    convert_data(config, "nifti", tmp_path / "conv")  # type: ignore[arg-type]
    assert "voxel by voxel" in capsys.readouterr().err  # the source's pair, said once
    for name in ("a", "b", "c"):
        image = nib.load(str(tmp_path / "conv" / "images" / f"{name}.nii.gz"))
        mask = nib.load(str(tmp_path / "conv" / "masks" / f"{name}.nii.gz"))
        assert np.allclose(image.affine, mask.affine), name  # type: ignore[attr-defined]
    before = load_folder("lesion", config.data, 2, 16)  # type: ignore[attr-defined]
    converted = config.data.model_copy(update={"path": tmp_path / "conv"})  # type: ignore[attr-defined]
    capsys.readouterr()
    after = load_folder("lesion", converted, 2, 16)
    assert capsys.readouterr().err == ""
    for x, y in zip(before[0], after[0]):  # the pairing training used is kept, voxel by voxel
        assert np.allclose(x.numpy(), y.numpy(), atol=1e-3)


def test_a_file_that_is_no_nifti_file_is_called_so(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """nibabel's "Cannot work out file type of ..." became "unreadable or truncated"."""
    import nibabel as nib
    from ganhub_medgan.volume import read_file

    folder = tmp_path / "scans"
    folder.mkdir()
    volume = np.random.default_rng(0).normal(100, 10, (12, 10, 8)).astype(np.float32)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(folder / "ok0.nii.gz"))
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(folder / "ok1.nii.gz"))
    packed = (folder / "ok0.nii.gz").read_bytes()
    (folder / "text.nii").write_bytes(b"x" * 400)
    (folder / "zipped.nii.gz").write_bytes(gzip.compress(b"not nifti" * 100))
    (folder / "plain.nii.gz").write_bytes(gzip.decompress(packed))
    (folder / "cut.nii.gz").write_bytes(packed[:60])
    said = {}
    for name in ("text.nii", "zipped.nii.gz", "plain.nii.gz", "cut.nii.gz"):
        with pytest.raises(UsageError) as refused:
            read_file(folder / name, 3)
        said[name] = str(refused.value)
    assert all("Cannot work out" not in m and "cannot read" in m for m in said.values()), said
    assert "not a NIfTI file" in said["text.nii"] and "not a NIfTI file" in said["zipped.nii.gz"]
    assert "not gzip-compressed: name it .nii" in said["plain.nii.gz"]
    assert "truncated" in said["cut.nii.gz"]
    code, out, _ = cli("data", "check", str(folder), "plugin=medgan", "task=generate",
                       "spatial_dims=3", "model.image_size=16")  # fmt: skip
    assert code == 1 and "text.nii       unreadable: not a NIfTI file" in out, out
    assert "unreadable or truncated: not" not in out


CYCLE_TINY = [
    "plugin=cyclegan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.n_layers_d=1",
    "trainer.batch_size=2", "trainer.progress=false", "data.n_test=8", "eval.n_samples=8",
    "task=paired", "model.dropout=false",
]  # fmt: skip


def test_a_paired_b_to_a_run_names_its_scores_b_to_a(tmp_path: Path) -> None:
    """data.direction=BtoA learns B -> A: its scores were named psnr_AtoB (input -> target)."""
    metric = get_hub().metrics.get("translation_psnr_ssim")
    names = {}
    for direction in ("AtoB", "BtoA"):
        config = resolve([*CYCLE_TINY, f"data.direction={direction}", f"out_dir={tmp_path}"])
        names[direction] = metric.compute(make_run(config).system, n_samples=4, seed=0)
    assert {"psnr_BtoA", "ssim_BtoA", "psnr_identity_BtoA"} <= set(names["BtoA"])
    assert not any("AtoB" in key for key in names["BtoA"])
    assert {"psnr_AtoB", "ssim_AtoB"} <= set(names["AtoB"])
    assert not any("BtoA" in key for key in names["AtoB"])


def test_a_small_image_is_kept_not_converted(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`data check` said "smaller than the crop ... -> convert", but `clean` keeps the file
    as it is (every image is resized on load)."""
    from PIL import Image

    for side, shade in (("trainA", 40), ("trainB", 200)):
        (tmp_path / side).mkdir()
        for i in range(2):
            pixels = np.full((8, 8, 3), shade + 20 * i, np.uint8)
            pixels[2:5, 2 + i : 6] = 255 - shade
            Image.fromarray(pixels).save(tmp_path / side / f"{i}.png")
    _, out, err = cli("data", "check", str(tmp_path), "plugin=cyclegan", "model.image_size=16")
    small = [line for line in out.splitlines() if "smaller than the 16 px crop" in line]
    assert len(small) == 4 and all(line.endswith("-> keep") for line in small), out + err
