"""`ganhub data check` says the whole truth: every row of a labels CSV naming no file (not the
first), the centre crop the loaders make of a non-square image, and a shard upscaled to a
larger run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganhub.data.images import load_image
from ganhub.data.shards import read_manifest


def _images(root: Path, n: int, shape: tuple[int, int] = (24, 24), seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(root / f"{i}.png")


def _labelled(workdir: Path) -> list[str]:
    """data/: 0..5.png and an unlabelled extra.png; labels.csv: rows for 0..5 and three files
    that are not there."""
    _images(workdir / "data", 6)
    _images(workdir / "data" / "more", 1, seed=1)
    rows = [f"{i}.png,{i % 2}" for i in range(6)] + ["gone1.png,0", "sub/gone2.png,1", "x.png,1"]
    (workdir / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    return ["plugin=dcgan", "model.conditional=true", "data.labels=labels.csv"]


def test_every_labels_row_naming_no_file_is_reported(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    keys = _labelled(workdir)
    code, out, err = cli("data", "check", "data", *keys, "--json")
    assert code == 1, err
    report = json.loads(out)
    errors = {f["item"]: f for f in report["findings"] if f["severity"] == "error"}
    assert {"gone1.png", "sub/gone2.png", "x.png", "more/0.png"} <= set(errors)
    assert "row 9" in errors["sub/gone2.png"]["problem"]
    assert "no data.labels row" in errors["more/0.png"]["problem"]
    assert report["summary"]["data.labels rows naming no image"] == 3
    assert report["summary"]["classes"] == {"0": 3, "1": 3}  # the images still counted
    code, out, _ = cli("data", "check", "data", *keys)  # the table too: all three named
    assert code == 1 and all(name in out for name in ("gone1.png", "sub/gone2.png", "x.png"))
    # training refuses the CSV as it did
    code, _, err = cli("run", "data.path=data", *keys, "preset=tiny", "trainer.steps=1")
    assert code == 2 and "not a file in data.path" in err
    # the cleaned copy drops the rows and the unlabelled image, and trains
    code, out, err = cli("data", "clean", "data", *keys, "--out", "clean")
    assert code == 0, err
    assert "not copied" not in out  # a missing file is no file left behind
    text = (workdir / "clean" / "labels.csv").read_text()
    assert "gone" not in text and "x.png" not in text and len(text.splitlines()) == 7
    assert not (workdir / "clean" / "more").exists()
    code, _, err = cli("data", "check", "clean", "plugin=dcgan", "model.conditional=true",
                       "data.labels=clean/labels.csv")  # fmt: skip
    assert code == 0, err


def test_a_labels_file_of_no_existing_file_is_still_refused_in_one_line(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _images(workdir / "data", 2)
    (workdir / "labels.csv").write_text("file,label\nimgs/0.png,a\nimgs/1.png,b\n")
    code, _, err = cli("data", "check", "data", "plugin=dcgan", "model.conditional=true",
                       "data.labels=labels.csv")  # fmt: skip
    assert code == 2 and "the paths are taken relative to it" in err
    assert len(err.strip().splitlines()) == 1


def test_the_summary_says_non_square_images_are_centre_cropped(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _images(workdir / "data", 2, shape=(100, 80))  # 80 wide, 100 high
    _images(workdir / "data" / "sq", 1, shape=(48, 48), seed=3)
    code, out, err = cli("data", "check", "data", "plugin=dcgan", "--json")
    assert code == 0, err
    changes = json.loads(out)["summary"]["resized on load"]
    assert changes == {
        "80x100 -> 32x32 (centre-cropped to 80x80 first: 20% cut)": 2,
        "48x48 -> 32x32": 1,
    }
    # what it says is what the loader does: the centre 80x80, resized
    whole = load_image(workdir / "data" / "0.png", 32, 3)
    Image.open(workdir / "data" / "0.png").crop((0, 10, 80, 90)).save(workdir / "centre.png")
    centre = load_image(workdir / "centre.png", 32, 3)
    # (the edge rows differ: the whole image's filter also reads the rows beyond the crop)
    assert torch.allclose(whole[:, 1:-1], centre[:, 1:-1], atol=0.02)
    # stylegan's data.center_crop crops the same way; without it the image is refused
    code, out, _ = cli("data", "check", "data", "plugin=stylegan", "model.image_size=16",
                       "data.center_crop=true", "--json")  # fmt: skip
    assert "80x100 -> 16x16 (centre-cropped to 80x80 first: 20% cut)" in out
    code, out, _ = cli("data", "check", "data", "plugin=stylegan", "model.image_size=16",
                       "data.resize=true", "--json")  # fmt: skip
    assert code == 1 and "centre-cropped" not in out and "not square" in out


def test_a_shard_smaller_than_the_run_is_noted_with_the_command_that_fixes_it(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    _images(workdir / "photos", 4, shape=(64, 64))
    code, _, err = cli("data", "convert", "photos", "plugin=dcgan", "--to", "shard", "--out",
                       "p32.safetensors")  # fmt: skip
    assert code == 0, err
    code, _, err = cli("data", "check", "p32.safetensors", "plugin=dcgan", "model.image_size=64")
    notes = [line for line in err.splitlines() if "upscaled" in line]
    assert code == 0 and len(notes) == 1, err
    assert "32x32 images, smaller than model.image_size=64: they are upscaled 2x" in notes[0]
    command = notes[0].split("ganhub data convert ", 1)[1]
    code, _, err = cli("data", "convert", *shlex.split(command))  # the command it gives works
    assert code == 0, err
    assert read_manifest(workdir / "p32-64px.safetensors")["shape"] == [3, 64, 64]
    code, _, err = cli("data", "check", "p32-64px.safetensors", "plugin=dcgan",
                       "model.image_size=64")  # fmt: skip
    assert code == 0 and "upscaled" not in err  # at its size: nothing to say
    code, _, err = cli("data", "check", "p32-64px.safetensors", "plugin=dcgan")  # at 32 px
    assert code == 0 and "upscaled" not in err  # downscaling loses nothing worth a note


def test_every_symlink_leading_out_of_the_folder_is_an_error_of_the_check(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    _images(workdir / "data" / "a", 2)
    _images(workdir / "data" / "b", 2, seed=1)
    _images(workdir / "outside", 2, seed=2)
    (workdir / "data" / "a" / "out.png").symlink_to(workdir / "outside" / "0.png")
    (workdir / "data" / "b" / "far").symlink_to(workdir / "outside")
    for conditional in ([], ["model.conditional=true"]):
        code, out, err = cli("data", "check", "data", "plugin=dcgan", *conditional, "--json")
        assert code == 1, err
        report = json.loads(out)
        errors = {f["item"]: f["problem"] for f in report["findings"] if f["severity"] == "error"}
        assert set(errors) == {"a/out.png", "b/far"}, errors
        assert "outside the data folder" in errors["b/far"] and report["items"] == 4
    code, _, err = cli("run", "plugin=dcgan", "data.path=data", "preset=tiny", "trainer.steps=1")
    assert code == 2 and "symlink leading outside" in err  # a run still refuses them
    code, out, err = cli("data", "clean", "data", "plugin=dcgan", "--out", "clean")
    assert code == 0 and "4 of 4 kept" in out, err
    copied = sorted(
        p.relative_to(workdir / "clean").as_posix() for p in (workdir / "clean").rglob("*")
    )
    assert copied == ["a", "a/0.png", "a/1.png", "b", "b/0.png", "b/1.png"]
    code, _, err = cli("data", "check", "clean", "plugin=dcgan")
    assert code == 0, err


def test_a_crop_cutting_most_of_an_image_is_a_note(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _images(workdir / "data", 1, shape=(32, 96))  # a 3:1 strip: two thirds never trained on
    _images(workdir / "data" / "s", 1, shape=(3, 3000), seed=1)
    code, out, err = cli("data", "check", "data", "plugin=dcgan", "--json")
    report = json.loads(out)
    notes = {f["item"]: f["problem"] for f in report["findings"] if "never trained" in f["problem"]}
    assert code == 0 and set(notes) == {"0.png", "s/0.png"}, err
    assert "67% of it" in notes["0.png"] and "99.9% of it" in notes["s/0.png"]  # not "100%"
    assert "3000x3 -> 32x32 (centre-cropped to 3x3 first: 99.9% cut)" in json.dumps(
        report["summary"]
    )


def test_a_32_bit_image_scaled_by_its_range_has_one_note_not_two(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (workdir / "data").mkdir()
    values = np.linspace(0, 5, 32 * 32, dtype=np.float32).reshape(32, 32)
    Image.fromarray(values, "F").save(workdir / "data" / "f.tif")
    code, out, err = cli("data", "check", "data", "plugin=dcgan", "--json")
    notes = [f["problem"] for f in json.loads(out)["findings"] if "32-bit" in f["problem"]]
    assert code == 0 and len(notes) == 1, (err, notes)
    assert "outside [0, 1]: scaled by this image's range" in notes[0]
