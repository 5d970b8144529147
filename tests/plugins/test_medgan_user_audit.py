"""medgan after a user audit: `simulate --image` takes a DICOM series folder as `predict
--image` does; a permuted data.orientation (RSA: coronal slices labelled axial) is refused;
resized masks stay on their images and affines, and upsampled images are interpolated; the
subfolder keys stay inside data.path; data.n_samples is refused with folder data; a DICOM
series without pydicom says what to install; an export's left-out data.path says so.

Each test writes a few tiny NIfTI files into tmp_path (or trains one step on 16 px phantoms).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from ganhub_medgan.config import MedData, MedGANConfig  # noqa: E402
from ganhub_medgan.splits import missing_folder  # noqa: E402
from ganhub_medgan.volume import load_file, read_file  # noqa: E402

from ganhub.config.resolve import resolve  # noqa: E402
from ganhub.errors import ConfigError, UsageError  # noqa: E402
from ganhub.exported import NOT_EXPORTED  # noqa: E402

from .test_medgan_simulate_grid import train  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
Cli = Callable[..., tuple[int, str, str]]
NO_DICOM_READER = not any(importlib.util.find_spec(m) for m in ("pydicom", "itk"))


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4) if affine is None else affine),
             str(path))  # fmt: skip
    return path


def _lesions(root: Path, n: int = 2) -> Path:
    """images/ + masks/ of n tiny volumes, a box lesion in each."""
    for i in range(n):
        mask = np.zeros((12, 12, 4))
        mask[4:8, 4:8, 1:3] = 1
        _save(root / "images" / f"c{i}.nii.gz", np.random.default_rng(i).normal(100, 9, mask.shape))
        _save(root / "masks" / f"c{i}.nii.gz", mask)
    return root


# -- 1. simulate --image takes a series folder (and says what a folder without one is) ---------


def test_simulate_image_takes_a_folder_as_predict_does(tmp_path: Path, cli: Cli) -> None:
    """click refused any folder: "File '...' is a directory"; --help said "(NIfTI)"."""
    code, out, _ = cli("medgan", "simulate", "--help")
    assert code == 0 and "DICOM series folder" in " ".join(out.split()), out
    run = train([], tmp_path)  # a phantom task=lesion run
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("not a scan")
    code, _, err = cli("medgan", "simulate", str(run), "--image", str(notes), "--at", "8,8",
                       "--out", str(tmp_path / "s"))  # fmt: skip
    assert code == 2 and err.count("\n") == 1, err
    assert f"'{notes}' is a folder without DICOM files (not a series)" in err
    assert "is a directory" not in err


@pytest.mark.skipif(not NO_DICOM_READER, reason="pydicom or itk is installed")
def test_a_series_without_pydicom_says_what_to_install(tmp_path: Path) -> None:
    """predict/simulate --image said only MONAI's "cannot find a suitable reader"."""
    series = tmp_path / "series"
    series.mkdir()
    (series / "IM0001.dcm").write_bytes(bytes(128) + b"DICM" + bytes(8))
    for path in (series, series / "IM0001.dcm"):
        with pytest.raises(UsageError, match=r"needs pydicom \(pip install pydicom\) or itk"):
            read_file(path, 2)


# -- 2. data.orientation keeps S/I third ---------------------------------------------------------


@pytest.mark.parametrize("codes", ["RSA", "SAR", "ARS", "IPL"])
def test_a_permuted_orientation_is_refused(codes: str) -> None:
    """RSA was accepted and 2D runs took coronal slices, called axial."""
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=medgan", f"data.orientation={codes}"])
    text = str(err.value)
    assert "\n" not in text and f"data.orientation='{codes}'" in text
    assert "S/I third" in text and "RAS, LPS, LAS" in text


def test_orientations_in_axis_order_are_kept_and_no_hint_names_a_permuted_one() -> None:
    for codes in ("RAS", "LPS", "LAS", "RPI"):
        assert resolve(["plugin=medgan", f"data.orientation={codes}"]).data.orientation == codes
    with pytest.raises(ConfigError) as err:
        resolve(["plugin=medgan", "data.orientation=rsa"])
    assert "did you mean" not in str(err.value)


# -- 3. resizing keeps masks on their images -----------------------------------------------------


def _centroid(x: np.ndarray) -> np.ndarray:
    return np.argwhere(x).mean(axis=0)


def test_resized_masks_stay_on_their_images_and_affines(tmp_path: Path) -> None:
    """The audit's 240x240 box image and its mask resized to 16: the mask sat half an output
    voxel off the image (torch's legacy nearest takes floor(i * zoom)), 7.5 mm off in world."""
    mask = np.zeros((240, 240, 1))
    mask[100:140, 100:140] = 1
    image = np.where(mask > 0, 1000.0, 100.0)
    cfg = MedData(source="folder", path=tmp_path)
    img = load_file(_save(tmp_path / "i.nii.gz", image), cfg, 2, 16, mask=False)
    msk = load_file(_save(tmp_path / "m.nii.gz", mask), cfg, 2, 16, mask=True)
    bright, lesion = img.image[0, 0].numpy() > 0, msk.image[0, 0].numpy() > 0.5
    assert np.allclose(_centroid(bright), [7.5, 7.5]) and lesion.sum() == bright.sum()
    assert np.allclose(_centroid(lesion), _centroid(bright))
    world = msk.affine[0] @ np.array([*_centroid(lesion), 0.0, 1.0])
    assert np.allclose(world[:2], [119.5, 119.5])  # the box centre on disk, in mm


def test_an_upsampled_image_is_interpolated_not_repeated(tmp_path: Path) -> None:
    """A ramp of 6 voxels resized to 16 came back in blocks of equal values (area)."""
    ramp = np.broadcast_to(np.arange(6.0)[:, None, None], (6, 6, 1)).copy()
    cfg = MedData(source="folder", path=tmp_path, percentiles=(0.0, 100.0))
    out = load_file(_save(tmp_path / "r.nii.gz", ramp), cfg, 2, 16, mask=False).image[0, 0]
    row = out[:, 8].numpy()
    assert np.all(np.diff(row) > 0), row
    assert np.allclose(out.numpy(), row[:, None])  # constant along y, as on disk


# -- 4. subfolder keys stay inside data.path -----------------------------------------------------


def test_subfolder_keys_outside_data_path_are_refused(tmp_path: Path) -> None:
    root, other = _lesions(tmp_path / "les"), _lesions(tmp_path / "other")
    base = ["plugin=medgan", f"data.path={root}"]
    cases = {
        "data.image_dir=../other/images": r"data.image_dir='\.\./other/images': .*without '\.\.'",
        f"data.mask_dir={other / 'masks'}": r"data.mask_dir='.*other/masks': .*relative to it",
    }
    for key, words in cases.items():
        with pytest.raises(ConfigError, match=words):
            resolve([*base, key])
    (root / "elsewhere").symlink_to(other / "masks")
    with pytest.raises(ConfigError, match=r"les/elsewhere' is a symlink leading outside"):
        resolve([*base, "data.mask_dir=elsewhere"])
    with pytest.raises(
        ConfigError, match=r"data.image_dir='images' and data.mask_dir='images' name the same"
    ):
        resolve([*base, "data.mask_dir=images"])
    assert resolve([*base, "data.image_dir=./images"]).data.image_dir == "./images"


# -- 5. data.n_samples counts phantoms -----------------------------------------------------------


def test_n_samples_is_refused_with_folder_data(tmp_path: Path) -> None:
    root = _lesions(tmp_path / "les")
    with pytest.raises(ConfigError, match=r"data.n_samples=10 applies to the embedded phantoms"):
        resolve(["plugin=medgan", "preset=tiny", f"data.path={root}", "data.n_samples=10"])
    # the values defaults and presets give are no user's choice
    assert resolve(["plugin=medgan", "preset=tiny", f"data.path={root}"]).data.n_samples == 80
    resolve(["plugin=medgan", "spatial_dims=3", f"data.path={root}"])
    assert resolve(["plugin=medgan", "data.n_samples=10"]).data.n_samples == 10  # phantoms


# -- 6. an export's data.path -----------------------------------------------------------------------


def test_an_exports_left_out_data_path_says_so() -> None:
    config = MedGANConfig(data=MedData(source="folder", path=Path(NOT_EXPORTED)))
    text = missing_folder(config)
    assert "an export leaves out the paths of the machine it was trained on" in text
    assert "give data.path=FOLDER" in text
