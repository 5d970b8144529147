"""medgan, three gaps: a whole-number scan given as a lesion mask (an int16 MR) is refused, not
read as a lesion everywhere; `write_samples` is told the run and step (`write_samples_of`), so
`ganhub sample --out elsewhere` names them in the NIfTI `descrip`, while a method written
without those keywords is called as before; `ganhub data convert --to nifti` sets each file's
display window (`cal_min`/`cal_max`) and `descrip`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ganhub.config.resolve import resolve
from ganhub.errors import UsageError

pytestmark = pytest.mark.usefixtures("one_thread")

GRID = (16, 16, 16)


def _save(path: Path, data: np.ndarray) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def _smooth_scan() -> np.ndarray:
    """An int16 MR-like volume: a bright blob over a ramp, hundreds of distinct grey levels."""
    g = np.mgrid[0:16, 0:16, 0:16].astype(np.float32)
    return (800 * np.exp(-((g - 8) ** 2).sum(0) / 40) + 20 * g[0]).astype(np.int16)


def _labels() -> np.ndarray:
    """A label map 0..5: five small regions."""
    lab = np.zeros(GRID, np.int16)
    for value, (x, y, z) in enumerate([(4, 4, 4), (9, 9, 9), (2, 11, 3), (12, 2, 2), (5, 12, 12)]):
        lab[x : x + 3, y : y + 3, z : z + 2] = value + 1
    return lab


def _load_mask(path: Path) -> Any:
    """The file through the loader every mask goes through (folders, `data check`, --mask)."""
    from ganhub_medgan.volume import load_file

    cfg = resolve(["plugin=medgan", "task=lesion", "spatial_dims=3", "model.image_size=16"])
    return load_file(path, cfg.data, 3, 16, mask=True)  # type: ignore[attr-defined]


def test_a_whole_number_scan_is_refused_as_a_mask_and_label_maps_pass(tmp_path: Path) -> None:
    scan = _save(tmp_path / "t1_int16.nii.gz", _smooth_scan())
    with pytest.raises(UsageError) as refused:
        _load_mask(scan)  # before: every non-zero voxel (the whole volume) became lesion
    message = str(refused.value)
    assert "\n" not in message and str(scan) in message, message
    assert "distinct values" in message and "not a lesion mask" in message, message
    # a noisy uint8 scan: few enough values, but no regions
    noisy = np.random.default_rng(0).integers(0, 60, GRID).astype(np.uint8)
    with pytest.raises(UsageError, match="change between"):
        _load_mask(_save(tmp_path / "noisy.nii.gz", noisy))
    labels = _labels()
    loaded = _load_mask(_save(tmp_path / "labels.nii.gz", labels))
    assert int(loaded.image.sum()) == int(np.count_nonzero(labels))  # every label is lesion
    binary = (labels > 0).astype(np.uint8) * 255
    loaded = _load_mask(_save(tmp_path / "mask255.nii.gz", binary))
    assert int(loaded.image.sum()) == int(np.count_nonzero(binary))


@pytest.fixture(scope="module")
def lesion_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import ganhub

    out = tmp_path_factory.mktemp("runs")
    summary = ganhub.train(
        ["plugin=medgan", "task=lesion", "spatial_dims=3", "model.image_size=16", "preset=tiny",
         "trainer.steps=1", "trainer.batch_size=2", "eval.metrics=[]", "trainer.progress=false",
         "data.n_samples=4", f"out_dir={out}"]
    )  # fmt: skip
    return Path(summary["run_dir"])


def test_ganhub_sample_elsewhere_names_the_run_and_step(
    cli: Any, lesion_run: Path, tmp_path: Path
) -> None:
    import nibabel as nib

    code, out, err = cli("sample", str(lesion_run), "--n", "1", "--out", str(tmp_path / "x"))
    assert code == 0, err
    niftis = [Path(line) for line in out.split() if line.endswith(".nii.gz")]
    assert niftis
    for path in niftis:
        about = nib.load(str(path)).header["descrip"].item().decode()  # type: ignore[attr-defined]
        assert about == f"ganhub medgan sample: samples, seed 0, step 1; run {lesion_run.name}"


def test_write_samples_without_the_new_keywords_is_called_as_before(
    lesion_run: Path, tmp_path: Path
) -> None:
    """A third-party `write_samples(directory, stem, *, n=None, seed=0)` gets no run_dir/step;
    one declaring only `step` gets only that."""
    from ganhub.api import load
    from ganhub.engine.system import write_samples_of

    system = load(lesion_run).system
    calls: list[dict[str, Any]] = []

    def old(directory: Path, stem: str, *, n: int | None = None, seed: int = 0) -> list[Path]:
        calls.append({"n": n, "seed": seed})
        return []

    def new(directory: Path, stem: str, *, n: int | None = None, seed: int = 0,
            step: int | None = None) -> list[Path]:  # fmt: skip
        calls.append({"step": step})
        return []

    for method in (old, new):
        system.write_samples = method
        write_samples_of(system, tmp_path, "s", n=2, run_dir=lesion_run, step=7)
    assert calls == [{"n": 2, "seed": 0}, {"step": 7}]


def test_convert_to_nifti_sets_the_display_window_and_descrip(tmp_path: Path) -> None:
    import nibabel as nib
    from ganhub_medgan.data import convert_data

    for sub in ("images", "masks"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        _save(tmp_path / "data" / "images" / f"{name}.nii.gz", rng.normal(100, 10, GRID))
        _save(tmp_path / "data" / "masks" / f"{name}.nii.gz", (_labels() > 0).astype(np.uint8))
    config = resolve(["plugin=medgan", "task=lesion", "spatial_dims=3", "model.image_size=16",
                      f"data.path={tmp_path / 'data'}"])  # fmt: skip
    convert_data(config, "nifti", tmp_path / "conv")  # type: ignore[arg-type]
    for sub, role, window in (("images", "image in [-1, 1]", (-1, 1)), ("masks", "mask {0, 1}", (0, 1))):  # fmt: skip
        header = nib.load(str(tmp_path / "conv" / sub / "a.nii.gz")).header  # type: ignore[attr-defined]
        assert (float(header["cal_min"]), float(header["cal_max"])) == window, sub
        assert header["descrip"].item().decode() == f"ganhub data convert: {role} of a", sub
