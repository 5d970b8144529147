"""`ganhub data check | clean | convert` and decoding that keeps what files hold.

Each problem class gets a small fixture set written here; the tests check the report and what
the loader does with the same files.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganhub.config.resolve import resolve
from ganhub.data import decode
from ganhub.data.decode import decode_image, describe_image
from ganhub.data.images import load_image
from ganhub.data.inspect import DataReport, class_balance, inspect_image_files, inspect_samples
from ganhub.data.shards import load_shard, write_shard
from ganhub.engine.loop import fit
from ganhub.errors import UsageError
from ganhub.plugins import get_hub
from ganhub.wiring import make_run

from .conftest import TINY_DCGAN


def _noise(rng: np.random.Generator, h: int = 40, w: int = 40, c: int = 3) -> np.ndarray:
    return rng.integers(0, 255, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)


# -- decoding keeps information --------------------------------------------------------------


def test_a_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    pixels = decode_image(tmp_path / "deep.png", 1)
    assert pixels.min() == 0 and pixels.max() == 1  # full range, not saturated
    assert np.allclose(pixels[0], ramp / 65535.0, atol=1e-6)
    x = load_image(tmp_path / "deep.png", 64, 1)
    assert x.min() == -1 and x.max() == 1 and (x > 0).float().mean() == pytest.approx(0.5, abs=0.01)
    assert "16-bit" in describe_image(tmp_path / "deep.png", "deep.png").notes[0]


def test_32_bit_images_keep_their_brightness_and_nan_is_refused(tmp_path: Path) -> None:
    """Floats in [0, 1] and integers up to 65535 are kept as they are (a dark image stays dark);
    values outside are scaled by the image's range, said in a note; NaN pixels are an error."""
    rng = np.random.default_rng(0)
    dark = (0.1 + 0.01 * rng.random((8, 8))).astype(np.float32)
    Image.fromarray(dark).save(tmp_path / "dark.tif")
    pixels, facts = decode.read_image(tmp_path / "dark.tif", 1, "dark.tif")
    assert np.allclose(pixels[0], dark) and not any("this image's range" in n for n in facts.notes)
    wide = np.linspace(0, 1e6, 1024).reshape(32, 32).astype(np.int32)  # past 16 bits
    Image.fromarray(wide).save(tmp_path / "wide.tif")
    pixels, facts = decode.read_image(tmp_path / "wide.tif", 3, "wide.tif")
    assert np.allclose(pixels[1], wide / 1e6, atol=1e-6)  # scaled by its range, not clipped
    assert "32-bit integer values 0..1e+06 outside [0, 65535]" in facts.notes[-1]
    Image.fromarray((wide // 20).astype(np.int32)).save(tmp_path / "fits.tif")  # <= 50000
    assert np.allclose(decode_image(tmp_path / "fits.tif", 1)[0], wide // 20 / 65535.0)
    dark[2, 3] = np.nan
    Image.fromarray(dark).save(tmp_path / "nan.tif")
    with pytest.raises(UsageError, match=r"^cannot read image 'nan.tif': 1 NaN or infinite"):
        decode_image(tmp_path / "nan.tif", 1, "nan.tif")
    report = DataReport("imgs", "images")
    inspect_image_files(report, [("nan.tif", lambda: tmp_path / "nan.tif")], channels=1)
    assert [(f.item, f.severity) for f in report.findings] == [("nan.tif", "error")]


def test_exif_orientation_palette_transparency_and_cmyk_are_converted(tmp_path: Path) -> None:
    tall = np.zeros((20, 10, 3), dtype=np.uint8)
    tall[:5] = 255  # a white band on top
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(tall).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    upright = decode_image(tmp_path / "rotated.jpg", 3)
    assert upright.shape == (3, 10, 20) and upright[:, :, -3:].mean() > 0.9  # band now on the right
    solid = Image.fromarray(np.full((8, 8, 3), 200, np.uint8))
    solid.convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "pal.png")
    assert np.allclose(decode_image(tmp_path / "pal.png", 3), 200 / 255, atol=0.01)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128  # half-transparent red
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    assert decode_image(tmp_path / "alpha.png", 3)[0].mean() == pytest.approx(128 / 255, abs=0.01)
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert decode_image(tmp_path / "cmyk.jpg", 3).min() > 0.95  # no ink: white
    notes = {
        name: describe_image(tmp_path / name, name).notes
        for name in ("rotated.jpg", "pal.png", "alpha.png", "cmyk.jpg")
    }
    assert "EXIF orientation 6" in notes["rotated.jpg"][0] and "palette" in notes["pal.png"][0]
    assert "transparency" in notes["alpha.png"][0] and "CMYK" in notes["cmyk.jpg"][0]


def test_truncated_and_oversized_images_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf = io.BytesIO()
    Image.fromarray(_noise(np.random.default_rng(0), 64, 64)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(UsageError, match=r"^cannot read image '.*cut.png'"):
        decode_image(tmp_path / "cut.png", 3)
    report = DataReport("cut", "images")  # a truncated file is a finding, not a crash
    inspect_image_files(report, [("cut.png", lambda: tmp_path / "cut.png")], channels=3)
    assert [(f.item, f.severity, f.action) for f in report.findings] == [
        ("cut.png", "error", "drop")
    ]
    monkeypatch.setattr(decode, "MAX_PIXELS", 100)
    Image.fromarray(_noise(np.random.default_rng(1), 20, 20)).save(tmp_path / "big.png")
    with pytest.raises(UsageError, match=r"is 20x20, over 100 pixels"):
        decode_image(tmp_path / "big.png", 3)
    # Pillow refuses twice its own limit before ganhub's check runs: a traceback (no
    # OSError/ValueError) from data check, clean and the run
    monkeypatch.setattr(decode, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(UsageError, match=r"^image 'big\.png' is over .* decompression-bomb"):
        decode_image(tmp_path / "big.png", 3, "big.png")
    report = DataReport("imgs", "images")
    inspect_image_files(report, [("big.png", lambda: tmp_path / "big.png")], channels=3)
    assert [(f.item, f.severity) for f in report.findings] == [("big.png", "error")]


# -- the report --------------------------------------------------------------------------------


def _problem_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(4):
        Image.fromarray(_noise(rng, 32, 32)).save(root / f"ok{i}.png")
    Image.open(root / "ok0.png").save(root / "same.png")  # an exact copy
    Image.open(root / "ok1.png").resize((64, 64)).save(root / "bigger.png")  # a resized copy
    (root / "broken.png").write_bytes(b"not an image")
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(ramp).save(root / "deep.png")
    return root


def test_the_report_names_each_problem_and_its_action(tmp_path: Path) -> None:
    root = _problem_folder(tmp_path / "imgs")
    report = DataReport(str(root), "images")
    files = [(p.name, lambda p=p: p) for p in sorted(root.iterdir())]
    inspect_image_files(report, files, channels=3, size=32)
    by_item = {(f.item, f.severity): f for f in report.findings}
    assert by_item[("broken.png", "error")].action == "drop"
    assert by_item[("same.png", "warning")].problem == "duplicate of ok0.png"
    assert by_item[("ok1.png", "warning")].problem == "near duplicate of bigger.png"
    assert any("16-bit" in f.problem for f in report.findings if f.item == "deep.png")
    assert not report.clean and report.dropped() == {"broken.png", "same.png", "ok1.png"}
    assert json.loads(json.dumps(report.to_json()))["items"] == 8


def test_plain_images_of_different_shades_are_not_near_duplicates(tmp_path: Path) -> None:
    """Stretched to their own range, two plain images of different shades were both nothing,
    so every plain image after the first was dropped as a near duplicate of it."""
    root = tmp_path / "plain"
    root.mkdir()
    for i, shade in enumerate((0, 80, 160, 240)):
        Image.new("RGB", (32, 32), (shade, shade, shade)).save(root / f"{i}.png")
    photo = _noise(np.random.default_rng(1), 32, 32)
    Image.fromarray(photo).save(root / "photo.png")
    Image.fromarray(photo // 2).save(root / "photo_dim.png")  # a darker copy: still a copy
    Image.fromarray(photo).resize((64, 64)).save(root / "photo_big.png")
    Image.new("RGB", (32, 32), (82, 82, 82)).save(root / "z.png")  # 1 shade from 80: a copy
    report = DataReport(str(root), "images")
    inspect_image_files(
        report, [(p.name, lambda p=p: p) for p in sorted(root.iterdir())], channels=3
    )
    near = {f.item: f.problem for f in report.findings if "duplicate" in f.problem}
    assert near == {name: f"near duplicate of {first}" for name, first in
                    (("photo_big.png", "photo.png"), ("photo_dim.png", "photo.png"),
                     ("z.png", "1.png"))}, near  # fmt: skip


def test_samples_with_nan_and_unbalanced_classes_are_found() -> None:
    x = torch.rand(20, 1, 8, 8)
    x[3, 0, 0, 0] = float("nan")
    x[7] = 0.5  # constant
    report = DataReport("mem", "images")
    inspect_samples(report, x, images=True)
    class_balance(report, [0] * 18 + [1] * 2)
    problems = {(f.item, f.problem) for f in report.findings}
    assert ("sample 3", "NaN or Inf values") in problems
    assert ("sample 7", "constant image (one value everywhere)") in problems
    assert any("unbalanced: class 1" in p for _, p in problems)


# -- the commands ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("plugin", get_hub().domains.names())
def test_every_domains_embedded_data_is_clean(cli, plugin: str) -> None:  # type: ignore[no-untyped-def]
    """Generated from the registry: `ganhub data check plugin=X` on each default data set."""
    code, out, err = cli("data", "check", f"plugin={plugin}")
    assert code == 0, out + err
    assert ", clean (0 errors, 0 warnings" in out


def test_check_clean_convert_and_train_from_the_shard(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = _problem_folder(workdir / "imgs")
    code, out, _ = cli("data", "check", str(root), "plugin=dcgan", "--json")
    assert code == 1 and json.loads(out)["clean"] is False
    code, out, _ = cli("data", "clean", str(root), "plugin=dcgan", "--out", "cleaned")
    assert code == 0 and "5 of 8 kept, 3 dropped" in out
    assert sorted(p.name for p in (workdir / "cleaned").iterdir()) == [
        "bigger.png", "deep.png", "ok0.png", "ok2.png", "ok3.png",
    ]  # fmt: skip
    assert (root / "broken.png").exists()  # the user's files are never changed
    code, _, err = cli("data", "clean", str(root), "plugin=dcgan", "--out", str(root / "in"))
    assert code == 2 and "is DATA or inside it" in err
    code, out, _ = cli("data", "check", "cleaned", "plugin=dcgan")
    assert code == 0, out
    code, out, _ = cli("data", "convert", "cleaned", "plugin=dcgan", "--to", "shard", "--out", "s.safetensors")  # fmt: skip
    assert code == 0 and "s.safetensors" in out
    shard = load_shard(workdir / "s.safetensors")
    assert shard.shape == (5, 3, 32, 32) and shard.min() >= -1 and shard.max() <= 1
    (workdir / "cleaned" / "bigger.png").unlink()
    convert = ("data", "convert", "cleaned", "plugin=dcgan", "--to", "shard", "--out")
    code, _, err = cli(*convert, "s.safetensors")  # a typo'd --out must not replace a file
    assert code == 2 and "--out s.safetensors exists; give --force to replace it" in err
    assert load_shard(workdir / "s.safetensors").shape[0] == 5
    code, _, err = cli(*convert, str(root), "--force")
    assert code == 2 and "is a folder" in err and (root / "broken.png").exists()
    code, _, err = cli(*convert, "s.safetensors", "--force")
    assert code == 0 and load_shard(workdir / "s.safetensors").shape[0] == 4, err
    # a 64 px run upsamples the 32 px shard: the check says so, as it does for a folder
    code, out, _ = cli("data", "check", "s.safetensors", "plugin=dcgan", "model.image_size=64",
                       "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["summary"]["resized on load"] == {"32x32 -> 64x64": 4}
    summary = fit(
        make_run(resolve([*TINY_DCGAN, "data.path=s.safetensors", "trainer.batch_size=4"]))
    )
    assert summary["steps"] == 2


def test_clean_never_writes_over_or_into_data_and_refuses_shards(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`--list` once replaced DATA itself (a text file) with the list, and a shard was
    'cleaned' line by line into a corrupt file; both exited 0."""
    root = _problem_folder(workdir / "v=2")  # a folder named like a setting is DATA
    text = workdir / "lines.txt"
    text.write_text("one line\n\nanother line\none line\n")
    before = text.read_bytes()
    for args, message in [
        ((str(text), "plugin=textgan", "--list", str(text)), "is DATA or inside it"),
        ((str(root), "plugin=dcgan", "--list", str(root / "kept.txt")), "is DATA or inside it"),
    ]:
        code, _, err = cli("data", "clean", *args)
        assert code == 2 and message in err, err
    assert text.read_bytes() == before and not (root / "kept.txt").exists()
    code, out, err = cli("data", "clean", str(root), "plugin=dcgan", "--list", "new/kept.txt")
    assert code == 0 and "5 of 8 kept" in out, err  # the folder is made, as for --out
    assert len((workdir / "new/kept.txt").read_text().splitlines()) == 5
    code, _, err = cli("data", "clean", str(root), "plugin=dcgan", "--list", "new/kept.txt")
    assert code == 2 and "--list new/kept.txt exists; choose a new path" in err
    code, out, err = cli("data", "clean", str(text), "plugin=textgan", "--out", "c/lines.txt")
    assert code == 0, err
    assert (workdir / "c/lines.txt").read_text() == "one line\nanother line\n"
    write_shard(workdir / "s.safetensors", torch.zeros(3, 3, 32, 32), {"plugin": "dcgan"})
    code, _, err = cli("data", "clean", "s.safetensors", "plugin=dcgan", "--out", "c.safetensors")
    assert code == 2 and "is a shard: clean the data it was converted from" in err
    assert not (workdir / "c.safetensors").exists()
    code, _, err = cli("data", "convert", str(root), "plugin=dcgan", "--to", "shard",
                       "--out", str(root / "x.safetensors"))  # fmt: skip
    assert code == 2 and "is DATA or inside it" in err


def test_a_shard_round_trips_and_refuses_a_wrong_manifest(tmp_path: Path) -> None:
    x = torch.rand(6, 3, 4, 4) * 2 - 1
    write_shard(tmp_path / "d.safetensors", x, {"plugin": "test"})
    back = load_shard(tmp_path / "d.safetensors")
    assert (back - x).abs().max() <= 1 / 127.5  # 8-bit
    (tmp_path / "d.json").write_text('{"format": "other"}')
    with pytest.raises(UsageError, match="not a ganhub shard manifest"):
        load_shard(tmp_path / "d.safetensors")


@pytest.mark.parametrize(
    ("samples", "encoding", "message"),
    [
        (torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 255, "raw",
         r"hold values \d+\.?\d*\.\.25\d\.?\d*; images are stored in \[-1, 1\]"),  # seeded: was flaky
        (torch.randint(0, 255, (4, 3, 8, 8), dtype=torch.uint8), "raw", r"are uint8; image shards hold floats in \[-1, 1\]"),
        (torch.full((4, 3, 8, 8), float("nan")), "raw", r"4 hold NaN or infinite values"),
        (torch.zeros(4, 3, 8, 8), "uint8", r"says encoding 'uint8' but the samples are float32"),
    ],
)  # fmt: skip
def test_a_hand_made_image_shard_is_checked_by_check_and_run(
    workdir: Path, cli, samples: torch.Tensor, encoding: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    """Shards written by other tools: values in [0, 255] trained silently, uint8 was refused as
    "the data yields (3, 32, 32) uint8", NaN ended as a NaN loss, a mislabelled encoding was
    decoded as if it were right."""
    from safetensors.torch import save_file

    save_file({"samples": samples}, "s.safetensors")
    manifest = {"format": "ganhub-shard/1", "count": 4, "shape": [3, 8, 8], "encoding": encoding}
    Path("s.json").write_text(json.dumps(manifest))
    for command in (("data", "check", "s.safetensors"), ("run", "data.path=s.safetensors")):
        code, _, err = cli(*command, "plugin=dcgan", "preset=tiny")
        assert code == 2 and len(err.strip().splitlines()) == 1, (command, err)
        assert re.search(message, err), err


def test_a_float16_shard_trains_in_float32(workdir: Path) -> None:
    """A raw float16 shard reached the float32 models as float16: "expected scalar type Half"."""
    from safetensors.torch import save_file

    save_file({"samples": (torch.rand(8, 1, 8, 8) * 2 - 1).half()}, "h.safetensors")
    manifest = {"format": "ganhub-shard/1", "count": 8, "shape": [1, 8, 8], "encoding": "raw"}
    Path("h.json").write_text(json.dumps(manifest))
    fit(make_run(resolve([*TINY_DCGAN, "data.path=h.safetensors",
                          "data.channels=1"])))  # fmt: skip


def test_a_shard_is_readable_by_others_and_a_failed_write_names_it(tmp_path: Path) -> None:
    import errno

    from safetensors.torch import save_file

    from ganhub.errors import writing

    (out,) = write_shard(tmp_path / "s.safetensors", torch.zeros(2, 1, 4, 4), {})[:1]
    assert out.stat().st_mode & 0o777 == 0o644  # safetensors alone writes 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.safetensors"]
    target = tmp_path / "gone" / "x.safetensors"  # the library's own error type, not OSError
    with pytest.raises(OSError) as error, writing(target):
        save_file({"a": torch.zeros(1)}, str(target))
    assert error.value.errno == errno.ENOENT and error.value.filename == str(target)


def test_dcgan_checks_a_shard_against_the_run_and_resizes_it(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Wrong channels or a bad manifest are one line before anything is built; another image
    size is resized, as dcgan resizes folders."""
    write_shard(workdir / "rgb.safetensors", torch.rand(8, 3, 32, 32) * 2 - 1, {"plugin": "t"})
    code, _, err = cli("run", *TINY_DCGAN, "data.path=rgb.safetensors", "data.channels=1")
    assert code == 2 and err.strip() == (
        "ganhub: error: data.path='rgb.safetensors': the shard holds 3-channel images; set "
        "data.channels=3"
    )
    assert not (workdir / "runs").exists()
    run = make_run(resolve([*TINY_DCGAN, "data.path=rgb.safetensors", "model.image_size=64",
                            "trainer.batch_size=4"]))  # fmt: skip
    assert run.system.data().gather(torch.arange(2)).shape == (2, 3, 64, 64)
    (workdir / "rgb.json").write_text('{"format": "ganhub-shard/1", "shape": "32x32"}')
    code, _, err = cli("run", *TINY_DCGAN, "data.path=rgb.safetensors")
    assert code == 2 and "'rgb.json': 'shape' must be a list of positive sizes" in err


def test_data_check_says_which_domain_is_needed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("data", "check", str(tmp_path))
    assert code == 2 and "add plugin=NAME" in err


@pytest.mark.parametrize("plugin", ["dcgan", "stylegan"])
def test_data_check_refuses_a_folder_without_images_as_run_does(cli, tmp_path: Path, plugin: str) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """It said "0 images, clean" (exit 0) of a folder `ganhub run` refuses."""
    (tmp_path / "readme.txt").write_text("no images here")
    code, out, err = cli("data", "check", str(tmp_path), f"plugin={plugin}")
    assert code == 2 and "no images (.png" in err and "clean" not in out


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An MNIST idx file (the format torchvision reads): magic, dims, then uint8 bytes."""
    import struct

    magic = 0x0800 | array.ndim  # 0x08: unsigned bytes
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_a_torchvision_dataset_is_read_from_disk_and_offline_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.error
    import urllib.request

    from ganhub.data.images import torchvision_dataset, torchvision_targets

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # this machine, without a network
    with pytest.raises(UsageError) as error:
        torchvision_dataset("mnist", tmp_path, 32, 1)
    assert str(error.value) == (
        f"data=mnist: not in '{tmp_path}' and downloading it failed (<urlopen error Name or "
        "service not known>); copy torchvision's download of it into that folder, or set data.path=DIR where "
        "one is"
    )
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)  # the failed download made it
    pixels = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256
    for split, n in (("train", 5), ("t10k", 2)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", pixels[:n])
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    x = torchvision_dataset("mnist", tmp_path, 28, 3)  # read from disk: no download is tried
    assert x.shape == (5, 3, 28, 28)
    assert torch.equal(x[:, 0], torch.from_numpy(pixels).float() / 127.5 - 1)
    assert torchvision_targets("mnist", tmp_path).tolist() == [0, 1, 2, 3, 4]


def test_toy2d_refuses_a_shard_it_could_not_read_back(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """It wrote one (exit 0) that `data.path` could not read: toy2d has no such key."""
    code, _, err = cli("data", "convert", "plugin=toy2d", "--to", "shard", "--out", "t.safetensors")
    assert code == 2 and "toy2d has no converted format; its points are drawn" in err
    assert not (workdir / "t.safetensors").exists()


@pytest.mark.parametrize("plugin", ["dcgan", "stylegan"])
def test_data_check_counts_the_classes_of_conditional_folder_data(cli, tmp_path: Path, plugin: str) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """Class folders and CSV labels were checked file by file only: a CSV's mistyped label
    (`Cat`) made a one-image class of its own and the data still read "clean"."""
    rng = np.random.default_rng(0)
    for i in range(7):
        (tmp_path / "imgs").mkdir(exist_ok=True)
        pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "imgs" / f"{i}.png")
    rows = ["file,label", *(f"{i}.png,{'cat' if i < 3 else 'dog'}" for i in range(6)), "6.png,Cat"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    code, out, _ = cli("data", "check", str(tmp_path / "imgs"), f"plugin={plugin}", "--json",
                       "model.conditional=true", f"data.labels={tmp_path / 'labels.csv'}")  # fmt: skip
    report = json.loads(out)
    assert code == 1 and not report["clean"]  # a warning: not clean
    assert report["summary"]["classes"] == {"Cat": 1, "cat": 3, "dog": 3}, out
    assert any("unbalanced: class Cat" in f["problem"] for f in report["findings"]), out


def test_clean_copies_the_image_a_symlink_names_not_the_link(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A kept link to a dropped duplicate dangled in the copy (one image fewer than reported);
    an absolute link still pointed into the original folder."""
    root = workdir / "imgs"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in ("b.png", "c.png", "zz.png"):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(root / name)
    (root / "aa.png").symlink_to("zz.png")  # kept; zz.png is then its duplicate: dropped
    code, out, err = cli("data", "clean", str(root), "plugin=dcgan", "--out", "clean")
    assert code == 0 and "3 of 4 kept, 1 dropped" in out, out + err
    kept = workdir / "clean" / "aa.png"
    assert not kept.is_symlink() and kept.read_bytes() == (root / "zz.png").read_bytes()


def test_a_moved_folder_keeps_its_data_fingerprint_and_an_edited_one_does_not(
    tmp_path: Path,
) -> None:
    """Caches of feature networks and real-data statistics are keyed by the data's
    fingerprint: a folder moved with its files' times (or reached by another path) keeps it,
    so nothing is retrained; an edited file changes it. It held absolute paths before."""
    import os

    from ganhub.metrics.features import data_fingerprint

    rng = np.random.default_rng(0)
    root = tmp_path / "old" / "images"
    for i in range(6):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_noise(rng, 20, 20)).save(root / f"c{i % 2}" / f"{i}.png")

    def fingerprint(path: Path) -> dict[str, object]:
        overrides = [*TINY_DCGAN, "data=folder", f"data.path={path}"]
        return data_fingerprint(make_run(resolve(overrides)).system)

    before = fingerprint(root)
    moved = tmp_path / "new" / "place"
    moved.parent.mkdir(parents=True)
    os.rename(root, moved)  # a move keeps the files' modification times
    assert fingerprint(moved) == before
    edited = moved / "c1" / "3.png"
    Image.fromarray(_noise(rng, 20, 20)).save(edited)
    assert fingerprint(moved) != before
