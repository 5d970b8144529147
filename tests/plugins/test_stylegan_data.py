"""The stylegan plugin's data (faces, digits, folders, zips, shards; data check and convert)
and sampling. Each problem class gets a fixture file written here; the tests check the report
and what the loader does with the same files."""

from __future__ import annotations

import io
import json
import math
import pickle
import shlex
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ganhub_stylegan.data import N_FACES, ImageFiles, faces, list_files, refuse_unusable
from ganhub_stylegan.sampling import interpolation_frames
from PIL import Image

import ganhub
from ganhub import testing
from ganhub.config.resolve import resolve
from ganhub.data.shards import load_shard
from ganhub.engine.loop import fit
from ganhub.errors import ConfigError, UsageError
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


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _problem_set(root: Path) -> Path:
    """Four faces at 16 px and one file per problem class stylegan's data check knows."""
    rng = np.random.default_rng(0)
    _face_folder(root, 4, 16)
    shutil.copy(root / "face_00.png", root / "face_00_copy.png")  # an exact duplicate
    Image.open(root / "face_01.png").save(root / "face_01_again.jpg", quality=95)  # a near one
    ramp = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    Image.fromarray(ramp).save(root / "deep16.png")  # 16-bit grey: scaled, not clipped
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "big.png")
    Image.fromarray(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)).save(root / "wide.png")
    (root / "broken.png").write_bytes(b"not an image")
    whole = _png_bytes(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    (root / "cut.png").write_bytes(whole[: len(whole) // 2])  # truncated pixel data
    noise = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    noise.convert("P", palette=Image.Palette.ADAPTIVE).save(root / "pal.png")
    band = np.zeros((16, 16, 3), dtype=np.uint8)
    band[:4] = 255  # a white band on top, shown on the right: EXIF orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(band).save(root / "turned.jpg", exif=exif, quality=100)
    return root


def _zip_of(folder: Path, out: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, prefix + p.name)
    return out


# (item, severity, words of the problem) the report gives at model.image_size=16, RGB
EXPECTED = {
    ("broken.png", "error", "not an image in a format Pillow reads"),
    ("cut.png", "error", "truncated"),
    ("wide.png", "error", "not square (20x16)"),
    ("big.png", "error", "32x32, not 16x16"),
    ("face_00_copy.png", "warning", "duplicate of face_00.png"),
    ("face_01_again.jpg", "warning", "near duplicate of face_01.png"),
    ("deep16.png", "note", "16-bit"),
    ("deep16.png", "note", "grey image in 3-channel data"),
    ("pal.png", "note", "palette image"),
    ("turned.jpg", "note", "EXIF orientation 6"),
}


def _found(report: dict[str, Any], prefix: str = "") -> set[tuple[str, str, str]]:
    found = set()
    for item, severity, words in EXPECTED:
        named = words.replace(" of ", f" of {prefix}")  # zip members are named with their folder
        for f in report["findings"]:
            if f["item"] == prefix + item and f["severity"] == severity and named in f["problem"]:
                found.add((item, severity, words))
    return found


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_data_check_finds_each_problem_in_a_folder_or_zip(workdir: Path, cli, kind: str) -> None:  # type: ignore[no-untyped-def]
    folder = _problem_set(workdir / "data")
    data = folder if kind == "folder" else _zip_of(folder, workdir / "data.zip", "sub/")
    prefix = "" if kind == "folder" else "sub/"
    code, out, err = cli("data", "check", str(data), "plugin=stylegan", "model.image_size=16", "--json")  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    assert report["items"] == 13 and report["clean"] is False
    assert _found(report, prefix) == EXPECTED
    errors = {f["item"] for f in report["findings"] if f["severity"] == "error"}
    assert errors == {prefix + n for n in ("broken.png", "cut.png", "wide.png", "big.png")}
    # data.resize=true: the wrong size becomes a conversion; non-square stays an error
    code, out, _ = cli("data", "check", str(data), "plugin=stylegan", "model.image_size=16", "data.resize=true", "--json")  # fmt: skip
    resized = json.loads(out)
    findings = {(f["item"], f["severity"]) for f in resized["findings"]}
    assert prefix + "big.png" not in {item for item, _ in findings}  # counted, not a finding
    assert resized["summary"]["resized on load"] == {"32x32 -> 16x16": 1}
    assert (prefix + "wide.png", "error") in findings


def test_clean_keeps_what_trains(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    data = _zip_of(_problem_set(workdir / "data"), workdir / "data.zip", "sub/")
    args = ("plugin=stylegan", "model.image_size=16")
    code, out, err = cli("data", "clean", str(data), *args, "--out", "clean.zip")
    assert code == 0 and "7 of 13 kept, 6 dropped" in out, err
    with zipfile.ZipFile("clean.zip") as zf:
        assert sorted(zf.namelist()) == [
            "sub/deep16.png", "sub/face_00.png", "sub/face_01.png", "sub/face_02.png",
            "sub/face_03.png", "sub/pal.png", "sub/turned.jpg",
        ]  # fmt: skip
    code, out, _ = cli("data", "check", "clean.zip", *args)
    assert code == 0 and "7 images, clean (0 errors, 0 warnings, 4 notes)" in out
    fit(make_run(resolve([*TINY, "data.path=clean.zip"])))


def test_the_loader_reads_the_same_files_as_the_report_says(workdir: Path) -> None:
    folder = _problem_set(workdir / "data")
    names = list_files(folder)
    rgb = ImageFiles(folder, 16, 3, mirror=False)
    grey = ImageFiles(folder, 16, 1, mirror=False)

    def load(dataset: ImageFiles, name: str) -> torch.Tensor:
        return dataset[names.index(name)]

    deep = load(grey, "deep16.png")  # scaled by its depth: the full [-1, 1] range, not white
    assert deep.shape == (1, 16, 16) and deep.min() == -1 and deep.max() == 1
    ramp = np.linspace(0, 65535, 16 * 16).reshape(16, 16) / 65535 * 2 - 1
    assert np.allclose(deep[0].numpy(), ramp, atol=1e-5)
    assert torch.equal(load(rgb, "deep16.png")[0], deep[0])  # grey repeated into RGB
    turned = load(rgb, "turned.jpg")  # upright: the band is on the right
    assert turned[:, :, -4:].mean() > 0.9 and turned[:, :, :8].mean() < -0.9
    original = np.asarray(Image.open(folder / "pal.png").convert("RGB"), dtype=np.float32)
    assert np.allclose(
        load(rgb, "pal.png").permute(1, 2, 0).numpy(), original / 127.5 - 1, atol=1e-5
    )
    for name, words in (("broken.png", "cannot read image"), ("cut.png", "cannot read image"),
                        ("wide.png", "not square"), ("big.png", "data.resize=true")):  # fmt: skip
        with pytest.raises(UsageError, match=words) as info:
            load(rgb, name)
        assert name in str(info.value) and len(str(info.value).splitlines()) == 1
    assert load(ImageFiles(folder, 16, 3, mirror=False, resize=True), "big.png").shape == (
        3,
        16,
        16,
    )
    # x-flips follow the originals
    mirrored_set = ImageFiles(folder, 16, 3, mirror=True)
    assert len(mirrored_set) == 2 * len(names)
    i = names.index("face_02.png")
    assert torch.equal(mirrored_set[len(names) + i], mirrored_set[i].flip(2))
    # the same through a zip
    zipped = ImageFiles(_zip_of(folder, workdir / "d.zip"), 16, 1, mirror=False)
    assert torch.equal(zipped[names.index("deep16.png")], deep)
    again = pickle.loads(pickle.dumps(zipped))  # as sent to spawned workers: without the open zip
    assert torch.equal(again[names.index("deep16.png")], deep)


def test_center_crop_keeps_the_centre_square_of_non_square_images(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """StyleGAN2-ADA's dataset_tool --transform=center-crop: LSUN-style landscape photos were
    refused as "not square" with no way to train on them but cropping them by hand."""
    folder = workdir / "wide"
    folder.mkdir()
    for i in range(4):  # 48x32, white in the centre 32x32, black bands left and right
        pixels = np.zeros((32, 48, 3), np.uint8)
        pixels[:, 8:40] = 255
        Image.fromarray(pixels).save(folder / f"w{i}.png")
    Image.fromarray(np.full((24, 24, 3), 255, np.uint8)).save(folder / "z_small.png")
    with pytest.raises(
        ConfigError, match=r"'w0\.png' is 48x32, not square \(data\.center_crop=true"
    ):
        make_run(resolve([*TINY, f"data.path={folder}"]))
    cropped = ImageFiles(folder, 16, 3, mirror=False, crop=True)
    for i in range(len(cropped)):  # the bands are gone; any square image is resized too
        assert cropped[i].shape == (3, 16, 16) and bool((cropped[i] == 1).all())
    _, out, err = cli("data", "check", str(folder), "plugin=stylegan", "model.image_size=16",
                      "data.center_crop=true")  # fmt: skip
    assert "(0 errors" in out and "48x32 -> 16x16" in out, out + err  # warned: duplicates
    run = make_run(resolve([*TINY, f"data.path={folder}", "data.center_crop=true"]))
    assert len(run.data) == 2 * 5
    fit(run)
    for key in ("data.center_crop", "data.resize"):  # ignored without a word before
        with pytest.raises(ConfigError, match=rf"^{key}=true is only read with your own images"):
            resolve([*TINY, "data=digits", f"{key}=true"])


def test_a_run_refuses_unusable_files_after_a_header_pass(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _problem_set(workdir / "data")
    config = resolve([*TINY, f"data.path={folder}"])  # resolving lists files only
    # headers only: broken, non-square and wrong size (truncated pixels show when decoded)
    with pytest.raises(ConfigError, match=r"3 files cannot be trained on, e\.g\. 'big\.png'.*ganhub data check"):  # fmt: skip
        make_run(config)
    for name in ("broken.png", "cut.png", "wide.png", "face_00_copy.png", "face_01_again.jpg"):
        (folder / name).unlink()
    with pytest.raises(ConfigError, match=r"'big\.png' is 32x32, not 16x16 \(data\.resize=true"):
        make_run(config)
    # the pass reads headers only: nothing is decoded before training starts
    import ganhub.data.decode

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded before training")

    with monkeypatch.context() as patch:
        patch.setattr(ganhub.data.decode, "decode_image", no_decoding)
        refuse_unusable(folder, 16, resize=True)
    run = make_run(resolve([*TINY, f"data.path={folder}", "data.resize=true"]))
    assert len(run.data) == 2 * 8
    fit(run)
    # structural problems are found when the config is resolved
    (workdir / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"data\.path='empty': no images"):
        resolve([*TINY, "data.path=empty"])
    with pytest.raises(ConfigError, match=r"data\.path='nowhere' does not exist"):
        resolve([*TINY, "data.path=nowhere"])
    with pytest.raises(ConfigError, match=r"no such shard"):
        resolve([*TINY, "data.path=nowhere.safetensors"])


def test_too_few_images_for_fd_rotnet_are_refused_before_the_first_step(workdir: Path) -> None:
    folder = _face_folder(workdir / "few", 4, 16)
    config = resolve(["plugin=stylegan", "preset=tiny", "eval.metrics=null",
                      f"data.path={folder}", "trainer.progress=false"])  # fmt: skip
    with pytest.raises(UsageError, match=r"8 are too few \(it needs 80\)"):
        fit(make_run(config))


def test_stylegan_check_is_data_check(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder = _problem_set(workdir / "data")
    code, out, err = cli("data", "check", str(folder), "plugin=stylegan", "model.image_size=16")
    assert code == 1 and "NOT clean (4 errors, 2 warnings" in out, err
    code, alias_out, _ = cli("stylegan", "check", str(folder), "--image-size", "16")
    assert code == 1 and alias_out == out
    # the old name and option still work for one release, with a notice each
    code, old_out, err = cli("stylegan-check", str(folder), "--resolution", "16")
    assert code == 1 and old_out == out and "stylegan check" in err and "--image-size" in err
    code, out, _ = cli("stylegan", "check", str(folder), "--image-size", "16", "data.resize=true", "--json")  # fmt: skip
    assert code == 1 and json.loads(out)["findings"]
    code, _, err = cli("stylegan", "check", str(folder), "--image-size", "48")
    assert code == 2 and "model.image_size" in err
    clean = _face_folder(workdir / "clean", 4, 32)
    code, out, _ = cli("stylegan", "check", str(clean))  # the default model.image_size, 32
    assert code == 0 and "4 images, clean" in out


def test_the_embedded_data_is_clean(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("data", "check", "plugin=stylegan")
    assert code == 0, out + err
    assert out.startswith(
        "stylegan faces: 100 images (x-flips left out), clean (0 errors, 0 warnings"
    )
    code, out, err = cli("data", "check", "plugin=stylegan", "data=digits", "preset=tiny")
    assert code == 0, out + err
    assert "5000 images (x-flips left out), clean (0 errors, 0 warnings" in out
    assert '"0": 500' in out  # class balance


def test_convert_to_zip_and_shard_then_train(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    folder = _face_folder(workdir / "faces", 6, 32)  # 32 px sources for a 16 px model
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(ramp).save(folder / "deep16.png")
    Image.open(folder / "face_05.png").save(folder / "face_05.jpg", quality=95)  # same stem
    args = (str(folder), "plugin=stylegan", "model.image_size=16", "--to")
    code, out, err = cli("data", "convert", *args, "zip", "--out", "faces.zip")
    assert code == 0 and out.strip() == "faces.zip", err
    with zipfile.ZipFile("faces.zip") as zf:
        names = zf.namelist()
        assert "deep16.png" in names and "face_05.png" in names and "face_05.jpg.png" in names
        with Image.open(io.BytesIO(zf.read("deep16.png"))) as im:
            assert im.size == (16, 16) and im.mode == "RGB"
            pixels = np.asarray(im)  # the ramp, averaged down to 16 px: not clipped to white
            assert pixels.min() < 10 and pixels.max() > 245
    first = Path("faces.zip").read_bytes()
    cli("data", "convert", *args, "zip", "--out", "faces.zip")
    assert Path("faces.zip").read_bytes() == first  # reproducible
    code, out, _ = cli("data", "check", "faces.zip", "plugin=stylegan", "model.image_size=16")
    assert "8 images" in out and "(0 errors, 1 warning," in out  # face_05 twice: a duplicate
    fit(make_run(resolve([*TINY, "data.path=faces.zip"])))
    code, out, err = cli("data", "convert", *args, "shard", "--out", "faces.safetensors")
    assert code == 0 and "faces.safetensors" in out, err
    shard = load_shard(Path("faces.safetensors"))
    zipped = ImageFiles(Path("faces.zip"), 16, 3, mirror=False)
    assert shard.shape == (8, 3, 16, 16)
    assert torch.allclose(shard, torch.stack([zipped[i] for i in range(8)]), atol=1e-6)
    run = make_run(resolve([*TINY, "data.path=faces.safetensors"]))
    assert len(run.data) == 16  # x-flips added by the loader, not stored
    fit(run)
    code, out, _ = cli("data", "check", "faces.safetensors", "plugin=stylegan", "model.image_size=16")  # fmt: skip
    assert "8 shard images" in out and "duplicate of sample" in out
    # the embedded faces convert too (grey): a grey shard trains with data.channels=1
    code, _, err = cli("data", "convert", "plugin=stylegan", "model.image_size=16", "--to", "shard", "--out", "lfw.safetensors")  # fmt: skip
    assert code == 0, err
    with pytest.raises(ConfigError, match=r"1-channel images; set data\.channels=1"):
        make_run(resolve([*TINY, "data.path=lfw.safetensors"]))
    run = make_run(resolve([*TINY, "data.path=lfw.safetensors", "data.channels=1"]))
    assert torch.equal(run.data.gather(torch.arange(100)), load_shard(Path("lfw.safetensors")))
    # a file that cannot be converted stops the conversion with one line; nothing is written
    (folder / "broken.png").write_bytes(b"not an image")
    code, _, err = cli("data", "convert", *args, "zip", "--out", "bad.zip")
    assert code == 2 and "1 file cannot be converted" in err and "ganhub data clean" in err
    assert not Path("bad.zip").exists() and len(err.strip().splitlines()) == 1
    # the suggested clean keeps the conversion's size and resizing (it judged by 32 px)
    suggested = shlex.split(err.split("`")[1])
    assert "model.image_size=16" in suggested and "data.resize=true" in suggested
    code, out, err = cli(*suggested[1:-2], "--out", "cleaned")
    assert code == 0 and "7 of 9 kept, 2 dropped" in out, err  # broken.png, face_05's twin
    code, _, err = cli("data", "clean", str(folder), "plugin=stylegan", "model.image_size=64",
                       "--out", "empty")  # fmt: skip
    assert code == 2 and "all 9 items of" in err and "would be dropped" in err
    assert not Path("empty").exists()
    code, _, err = cli("data", "convert", *args, "nifti", "--out", "x.nii")
    assert code == 2 and "converts to: zip, shard" in err
    code, _, err = cli("data", "convert", "plugin=stylegan", "data=digits", "model.conditional=true",
                       "--to", "zip", "--out", "digits.zip")  # fmt: skip
    assert code == 2 and "the zip holds the samples without their labels" in err
    assert not Path("digits.zip").exists()


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
    # other settings sit beside them: the names carry every option that changes the image
    code, out, err = cli("stylegan", "explore", str(run_dir), "--psi", "0.5", "--frames", "4",
                         "--cutoff", "1", "--crossover", "1")  # fmt: skip
    assert code == 0, err
    assert [Path(p).name for p in out.split()] == [
        "seed0_psi0.5_cutoff1_grid.png", "seed0_cutoff1_truncation.png",
        "seed0_psi0.5_cutoff1_crossover1_mixing.png",
        "seed0_psi0.5_cutoff1_frames4_interp.gif"]  # fmt: skip
    assert all(p.is_file() for p in paths)  # the first call's, not overwritten
    for verb, suffix in (("mix", "_mixing.png"), ("truncation", "_truncation.png"),
                         ("interpolate", "_interp.gif")):  # fmt: skip
        code, out, err = cli("stylegan", verb, str(run_dir), "--seed", "3", "--out", "one")
        assert code == 0, err
        assert out.strip().endswith(suffix) and Path(out.strip()).is_file()
    code, out, err = cli("stylegan-sample", str(run_dir), "--frames", "4", "--out", "old")
    assert code == 0 and len(out.split()) == 4 and "use 'ganhub stylegan explore'" in err
    code, _out, err = cli("stylegan", "explore", str(run_dir), "--cutoff", "99")
    assert code == 2 and "style vectors" in err
    code, _out, err = cli("stylegan", "explore", str(run_dir), "--crossover", "99", "--out", "bad")
    assert code == 2 and "--crossover 99: a 16 px generator has 6" in err and "give 1..5" in err
    assert not Path("bad").exists()  # refused before the grid or truncation rows were written
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
