"""medgan's NIfTI outputs after the second CLI audit: training and `ganhub sample` files say in
their header's `descrip` what produced them (it was empty), every output carries a display
window (`cal_min` 0, `cal_max` 1: intensities in [0, 1]; there was none), and a scan given as
`simulate --mask` is refused (read as a soft mask, it painted a lesion over half the image)
while a probability map in [0, 1] stays a soft mask.

DATA: the tiny runs of `test_medgan_cli_audit` (16 px 2D, one step; task=lesion), and 16 x 16
NIfTI files on their grid: a scan (grey levels around 100), a probability map in [0, 1] and a
label mask of whole numbers (0/2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from tests.plugins.test_medgan_cli_audit import QUICK, Cli, descrip, runs  # noqa: E402

__all__ = ["runs"]  # the fixture, shared with the first audit's tests
pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_and_sampled_files_say_what_produced_them(
    runs: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    """Training's samples/step_N.nii.gz (and _mask) and `ganhub sample` files had no descrip."""
    run = runs["lesion"]
    want = f"ganhub medgan train: samples at step 1; run {run.name}"
    for name in ("step_0000001.nii.gz", "step_0000001_mask.nii.gz"):
        assert descrip(run / "samples" / name) == want
    code, _, err = cli("sample", str(run), "--n", "2", "--seed", "3")  # into RUN/samples
    assert code == 0, err
    assert descrip(run / "samples" / "sample_seed3_n2.nii.gz") == (
        f"ganhub medgan sample: samples, seed 3, step 1; run {run.name}"
    )
    code, _, err = cli("sample", str(run), "--n", "2", "--out", str(tmp_path / "s"))
    assert code == 0, err  # elsewhere too: the engine tells write_samples the run and step
    assert descrip(tmp_path / "s" / "sample_seed0_n2.nii.gz") == (
        f"ganhub medgan sample: samples, seed 0, step 1; run {run.name}"
    )


def test_noise_samples_say_what_produced_them(tmp_path: Path) -> None:
    """task=generate writes its samples through another writer: its descrip was empty too."""
    from ganhub.config.resolve import resolve
    from ganhub.wiring import make_run

    run = make_run(resolve([*QUICK, "task=generate", f"out_dir={tmp_path}"]))
    paths = run.write_samples()
    (nii,) = [p for p in paths if p.name.endswith(".nii.gz")]
    assert descrip(nii) == f"ganhub medgan train: samples at step 0; run {run.run_dir.name}"
    header = nib.load(str(nii)).header
    assert (float(header["cal_min"]), float(header["cal_max"])) == (0.0, 1.0)


def test_outputs_carry_a_display_window(runs: dict[str, Path], tmp_path: Path, cli: Cli) -> None:
    """cal_min/cal_max were 0/0 ("unset"): each viewer windowed each file by its own range."""
    code, _, err = cli("medgan", "simulate", str(runs["lesion"]), "--at", "8,7",
                       "--out", str(tmp_path / "a"))  # fmt: skip
    assert code == 0, err
    files = [tmp_path / "a" / "simulated.nii.gz", tmp_path / "a" / "simulated_mask.nii.gz"]
    files += sorted((runs["lesion"] / "samples").glob("step_*.nii.gz"))
    for path in files:
        image = nib.load(str(path))
        header = image.header
        assert (float(header["cal_min"]), float(header["cal_max"])) == (0.0, 1.0), path
        values = np.asarray(image.dataobj)
        assert values.min() >= 0 and values.max() <= 1  # the window holds every value


def _save(path: Path, array: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(array.astype(np.float32), np.eye(4)), str(path))
    return path


def test_scan_given_as_mask_is_refused(runs: dict[str, Path], tmp_path: Path, cli: Cli) -> None:
    """A scan on the run's grid was read as a soft mask (value / max >= 0.5): a large lesion.
    Probability maps in [0, 1] and label masks of whole numbers are still masks."""
    rng = np.random.default_rng(0)
    scan = _save(tmp_path / "scan.nii.gz", rng.normal(100, 20, (16, 16)))
    run = str(runs["lesion"])
    code, out, err = cli(
        "medgan", "simulate", run, "--mask", str(scan), "--out", str(tmp_path / "x")
    )
    assert code == 2 and err.count("\n") == 1 and not out, err
    assert f"'{scan}' holds values above 1 that are not whole numbers (100% of" in err
    assert "an image, not a lesion mask" in err and "soft values in [0, 1]" in err
    assert not (tmp_path / "x").exists()
    # a probability map (a blob falling off from 1) and a 0/2 label mask give their lesion
    xx, yy = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    blob = np.exp(-((xx - 8.0) ** 2 + (yy - 7.0) ** 2) / 8)
    labels = np.where(blob > 0.5, 2.0, 0.0)
    for name, mask in (("prob", blob), ("labels", labels)):
        path = _save(tmp_path / f"{name}.nii.gz", mask)
        code, _, err = cli("medgan", "simulate", run, "--mask", str(path),
                           "--out", str(tmp_path / name))  # fmt: skip
        assert code == 0, err
        written = np.asarray(nib.load(str(tmp_path / name / "simulated_mask.nii.gz")).dataobj)
        assert np.array_equal(written.reshape(16, 16) > 0, blob >= 0.5), name  # (16, 16, 1)
