"""The stylegan plugin's data (faces, digits, folders, zips, the dataset check) and sampling."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from ganhub_stylegan.data import N_FACES, faces, scan_dataset
from ganhub_stylegan.sampling import interpolation_frames
from PIL import Image

import ganhub
from ganhub import testing
from ganhub.config.resolve import resolve
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .test_stylegan import TINY, _face_folder

pytestmark = pytest.mark.usefixtures("one_thread")


# -- data -----------------------------------------------------------------------------------


def test_embedded_faces_ship_with_scikit_image() -> None:
    import skimage.data

    assert (Path(skimage.data.__file__).parent / "lfw_subset.npy").is_file()  # no download
    x = faces(32)
    assert x.shape == (N_FACES, 1, 32, 32) and -1 <= x.min() < x.max() <= 1


def test_dataset_check_reports_bad_non_square_and_wrong_size(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder = _face_folder(workdir / "data", 2, 16)
    Image.new("RGB", (20, 16)).save(folder / "wide.png")
    Image.new("RGB", (32, 32)).save(folder / "big.png")
    (folder / "broken.png").write_bytes(b"not an image")
    report = scan_dataset(folder, 16)
    assert report.total == 5
    assert [n for n, _ in report.bad] == ["broken.png"]
    assert report.non_square == [("wide.png", (20, 16))]
    assert report.wrong_size == [("big.png", (32, 32))]
    code, out, _err = cli("stylegan", "check", str(folder), "--image-size", "16")
    assert code == 1 and "broken.png" in out and "wide.png" in out and "big.png" in out
    # the old name and option still work for one release, with a notice
    code, old_out, err = cli("stylegan-check", str(folder), "--resolution", "16")
    assert code == 1 and old_out == out and "stylegan check" in err and "--image-size" in err
    with pytest.raises(ConfigError, match=r"broken\.png.*ganhub stylegan check"):
        resolve([*TINY, f"data.path={folder}"])
    (folder / "broken.png").unlink()
    (folder / "wide.png").unlink()
    with pytest.raises(ConfigError, match=r"big\.png.*data\.resize=true"):
        resolve([*TINY, f"data.path={folder}"])
    resolve([*TINY, f"data.path={folder}", "data.resize=true"])
    # with the default metric, a folder too small for fd_rotnet's net is refused before training
    with pytest.raises(ConfigError, match=r"has 6 images.*fd_rotnet.*eval\.metrics=\[\]"):
        resolve(
            ["plugin=stylegan", "model.image_size=16", f"data.path={folder}", "data.resize=true"]
        )


def test_zip_data_trains(workdir: Path) -> None:
    import zipfile

    folder = _face_folder(workdir / "faces", 4, 16)
    with zipfile.ZipFile(workdir / "faces.zip", "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"sub/{p.name}")
    run = make_run(resolve([*TINY, f"data.path={workdir / 'faces.zip'}", "data.channels=3"]))
    batch = next(run.batches())
    assert batch.shape == (4, 3, 16, 16)
    fit(run)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.image_size"):
        resolve([*TINY, "model.image_size=48"])
    with pytest.raises(ConfigError, match=r"data\.path is only read with data=folder"):
        resolve([*TINY, "data=faces", "data.path=."])


@pytest.mark.parametrize(
    ("source", "dataset", "features"),
    [
        ("faces", "faces", ("rotnet",)),
        ("digits", "digits", ("digits",)),
        ("folder", None, ("rotnet",)),
    ],
)
def test_capabilities_declare_the_dataset_and_features(
    source: str, dataset: str | None, features: tuple[str, ...], workdir: Path
) -> None:
    data = (
        [f"data.path={_face_folder(workdir / 'f', 4, 16)}"]
        if source == "folder"
        else [f"data={source}"]
    )
    run = make_run(resolve([*TINY, *data]))
    caps = run.system.capabilities()
    assert (caps.modality, caps.samples, caps.real_samples) == ("image", True, True)
    assert (caps.dataset, caps.features) == (dataset, features)
    assert run.system.default_metrics() == ["fid"]
    assert get_hub().metrics.get("fid").supports(caps)
    real = run.system.real_samples(3)
    assert real.shape[1:] == run.system.sample(3, seed=0).shape[1:]


@pytest.mark.slow
def test_folder_data_keeps_the_contract(workdir: Path) -> None:
    """The ganhub.testing contract on RGB folder data (test_contract runs the tiny faces)."""
    folder = _face_folder(workdir / "rgb", 8, 16)
    testing.check_domain("stylegan", ["preset=tiny", f"data.path={folder}", "trainer.batch_size=4"],
                         workdir=workdir)  # fmt: skip


# -- sampling -------------------------------------------------------------------------------


def test_interpolation_loops_through_its_keys(workdir: Path) -> None:
    run = make_run(resolve(TINY))
    system = run.system
    frames = interpolation_frames(system, keys=3, frames=6, seed=1)
    assert frames.shape == (6, 1, 16, 16)
    start = system.synthesize(system.ws_for(system.latent(3, torch.Generator().manual_seed(1))))
    assert torch.allclose(frames[0], start[0], atol=1e-5)
    assert torch.allclose(frames[2], start[1], atol=1e-5)  # 6 frames over 3 keys: every 2nd
    same = system.sample(3, seed=4, psi=0.0)
    assert torch.allclose(same[0], same[1]) and torch.allclose(same[1], same[2])


@pytest.mark.slow
def test_cli_run_sample_and_python_api(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "run", "plugin=stylegan", "preset=tiny", "trainer.progress=false", "name=r",
        "eval.metrics=[fid]", "eval.n_samples=256",
    )  # fmt: skip
    assert code == 0, err
    assert "fd_rotnet" in out  # the face-feature distance, in the summary line
    assert "fd_rotnet" in (workdir / "runs" / "r" / "metrics.jsonl").read_text()
    run_dir = workdir / "runs" / "r"
    code, out, err = cli("sample", str(run_dir), "--n", "4")
    assert code == 0, err
    assert {Path(p).suffix for p in out.split()} == {".png", ".gif"}
    code, out, err = cli("stylegan", "explore", str(run_dir), "--psi", "0.5", "--frames", "4")
    assert code == 0, err
    paths = [Path(p) for p in out.split()]
    assert len(paths) == 4 and all(p.is_file() for p in paths)
    import imageio.v2 as imageio

    assert len(imageio.mimread(paths[-1])) == 4
    for verb, suffix in (("mix", "_mixing.png"), ("truncation", "_truncation.png"),
                         ("interpolate", "_interp.gif")):  # fmt: skip
        code, out, err = cli("stylegan", verb, str(run_dir), "--seed", "3", "--out", "one")
        assert code == 0, err
        assert out.strip().endswith(suffix) and Path(out.strip()).is_file()
    code, out, err = cli("stylegan-sample", str(run_dir), "--frames", "4", "--out", "old")
    assert code == 0 and len(out.split()) == 4 and "use 'ganhub stylegan explore'" in err
    code, _out, err = cli("stylegan", "explore", str(run_dir), "--cutoff", "99")
    assert code == 2 and "style vectors" in err
    other = workdir / "other"
    other.mkdir()
    (other / "config.yaml").write_text("plugin: dcgan\n")
    code, _out, err = cli("stylegan", "mix", str(other))
    assert code == 2 and "is a 'dcgan' run" in err and len(err.strip().splitlines()) == 1
    model = ganhub.load(run_dir, plugin="stylegan")
    images = model.system.sample(3, seed=0, psi=0.7, cutoff=2)
    assert images.shape == (3, 1, 16, 16) and images.abs().max() <= 1
    assert "stylegan" in get_hub().domains.names()
    assert math.isfinite(float(model.system.G_ema.mapping.w_avg.sum()))
