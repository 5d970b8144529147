"""A folder is a folder whatever its name; a shard's manifest is read once; listing and decoding
a large folder do no per-file work they can leave out (no Path for a file that is no image, no
copy of an upright image's pixels, no escaped name or warning filter for a file that opens)."""

from __future__ import annotations

import json
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from ganhub.data import decode, listing
from ganhub.data.decode import probe_image, read_image
from ganhub.data.images import ImageFolder, has_images, list_images
from ganhub.data.shards import is_shard, load_image_shard, write_shard

from .conftest import TINY_DCGAN


def _images(folder: Path, names: list[str], size: int = 16, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, format="PNG")


def test_a_folder_named_like_a_shard_is_a_folder_for_runs_and_data_commands(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """`faces.safetensors/` holding images was taken for a shard by its suffix: the check and
    the run said "no such shard", and `ganhub data clean` "DATA is a shard"."""
    _images(workdir / "faces.safetensors", ["a.png", "b.png", "c.png"])
    assert not is_shard(workdir / "faces.safetensors")
    assert is_shard(workdir / "new.safetensors")  # not there yet: a shard to be written
    code, out, err = cli("data", "check", "faces.safetensors", "plugin=dcgan", "--json")
    assert code == 0, err
    assert json.loads(out)["items"] == 3
    code, out, err = cli("data", "clean", "faces.safetensors", "plugin=dcgan", "--out", "kept")
    assert code == 0, err
    assert sorted(p.name for p in (workdir / "kept").iterdir()) == ["a.png", "b.png", "c.png"]
    args = [*TINY_DCGAN, "trainer.batch_size=3", "trainer.steps=1", "data.path=faces.safetensors"]
    code, _, err = cli("run", *args)
    assert code == 0, err


def test_a_folder_named_like_an_image_is_walked_alike_everywhere(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """`photos/2019.png/` is a folder of images (listed, counted, checked and trained on);
    an empty `2020.jpg/` is no image, nor is a link to a folder named like one."""
    root = workdir / "photos"
    _images(root, ["a.png"])
    _images(root / "2019.png", ["b.png", "c.png"], seed=1)
    (root / "2020.jpg").mkdir()
    (root / "again.png").symlink_to(root / "2019.png")  # the same folder: listed once
    names = [p.relative_to(root).as_posix() for p in list_images(root)]
    assert names == ["2019.png/b.png", "2019.png/c.png", "a.png"]
    assert not has_images(root / "2020.jpg")
    assert len(ImageFolder(root, 16)) == 3
    code, out, err = cli("data", "check", "photos", "plugin=dcgan", "--json")
    assert code == 0, err
    assert json.loads(out)["items"] == 3


def test_listing_orders_as_paths_and_makes_paths_of_images_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names are matched as text: the order is the one paths sort in ("a/" before "a-b/",
    though "-" sorts before "/" as text), and a folder's other files cost no Path."""
    root = tmp_path / "d"
    for rel in ["a/b.png", "a-b/c.png", "a.png", "a b/x.JPG", "A.png", "a/c/d.png", "x.tar.png"]:
        _images(root / Path(rel).parent, [Path(rel).name])
    for i in range(40):
        (root / f"notes{i}.txt").write_text("not an image")
    (root / "a.").write_text("no suffix")
    expected = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() != ".txt")
    expected.remove(root / "a.")
    made: list[str] = []

    def counted(*parts: str) -> Path:
        made.append(str(parts[0]))
        return Path(*parts)

    monkeypatch.setattr(listing, "Path", counted)
    assert listing.list_images(root) == expected
    assert len(made) == len(expected)  # one Path per image, none for the 41 other files


@pytest.mark.parametrize("name", ["a.PNG", "a.", "noext", "x.tar.gz", "a..png", "a.b.c", "é.Jpg"])
def test_suffix_of_a_name_is_the_suffix_of_its_path(name: str) -> None:
    assert listing._suffix(name) == Path(name).suffix.lower()


def test_a_shard_upscaled_reads_its_manifest_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`note_upscaled` read the manifest `load_image_shard` had just read, a second time; it
    is given what was read, and still names the convert command of the shard's source."""
    shard = tmp_path / "small.safetensors"
    source = {"plugin": "dcgan", "data": {"path": "my photos"}}
    write_shard(shard, torch.rand(4, 3, 8, 8) * 2 - 1, source)
    reads: list[str] = []
    read_text = Path.read_text

    def counted(self: Path, *args: object, **kwargs: object) -> str:
        reads.append(self.name)
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counted)
    x = load_image_shard(shard, 16, 3, resize=True)
    assert x.shape == (4, 3, 16, 16)
    assert reads == ["small.json"]
    err = capsys.readouterr().err
    assert "upscaled 2x from their 8 bits" in err
    assert "ganhub data convert 'my photos' plugin=dcgan model.image_size=16" in err


def test_the_convert_command_a_small_shard_notes_keeps_its_data_keys(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """A shard converted with data.skip_bad=true (its folder holds a broken file) and
    data.channels=1 was noted with a command without them: run as given it stopped at the
    broken file the shard had left out, and would have written colour images."""
    _images(workdir / "photos", ["a.png", "b.png"], size=24)
    (workdir / "photos" / "broken.png").write_bytes(b"not an image")
    keys = ["plugin=dcgan", "data.skip_bad=true", "data.channels=1"]
    code, _, err = cli(
        "data", "convert", "photos", *keys, "--to", "shard", "--out", "p.safetensors"
    )
    assert code == 0, err
    code, _, err = cli("data", "check", "p.safetensors", "plugin=dcgan", "model.image_size=64")
    notes = [line for line in err.splitlines() if "upscaled" in line]
    assert code == 0 and len(notes) == 1, err
    command = notes[0].split("ganhub data convert ", 1)[1]
    assert "data.channels=1 data.skip_bad=true model.image_size=64" in command
    code, _, err = cli("data", "convert", *shlex.split(command))  # the command it gives works
    assert code == 0, err
    manifest = json.loads((workdir / "p-64px.json").read_text())
    assert manifest["shape"] == [1, 64, 64] and manifest["count"] == 2


def _exif_jpeg(path: Path, orientation: int) -> np.ndarray:
    """A 20x30 JPEG with the given EXIF orientation; returns its pixels as stored."""
    pixels = np.random.default_rng(orientation).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, quality=95)
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("orientation", [0, 9])
def test_an_undefined_exif_orientation_is_no_conversion(tmp_path: Path, orientation: int) -> None:
    """Orientation 0 ("undefined", which some cameras write) or 9 was noted as "rotated
    upright", though the image is read as stored, and the check said so for every file."""
    path = tmp_path / "photo.jpg"
    stored = _exif_jpeg(path, orientation)
    pixels, facts = read_image(path, 3)
    assert not any("orientation" in note for note in facts.notes)
    assert (facts.width, facts.height) == (30, 20)
    assert np.array_equal(np.round(pixels.transpose(1, 2, 0) * 255).astype(np.uint8), stored)


def test_only_a_turned_image_is_transposed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's exif_transpose copies every pixel of an upright image: it is called for an
    image to turn only, which is still turned."""
    calls: list[int] = []
    transpose = ImageOps.exif_transpose

    def counted(image: Image.Image) -> Image.Image:
        calls.append(1)
        return transpose(image)  # type: ignore[return-value]

    monkeypatch.setattr(ImageOps, "exif_transpose", counted)
    _exif_jpeg(tmp_path / "upright.jpg", 1)
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / "plain.png")
    assert read_image(tmp_path / "upright.jpg", 3)[0].shape == (3, 20, 30)
    assert read_image(tmp_path / "plain.png", 3)[0].shape == (3, 5, 7)
    assert calls == []
    stored = _exif_jpeg(tmp_path / "turned.jpg", 6)
    pixels, facts = read_image(tmp_path / "turned.jpg", 3)
    assert calls == [1] and pixels.shape == (3, 30, 20)
    assert "EXIF orientation 6: rotated upright" in facts.notes
    upright = np.round(pixels.transpose(1, 2, 0) * 255).astype(np.uint8)
    assert np.array_equal(upright, np.rot90(stored, -1))  # a quarter turn clockwise


def test_a_header_read_adds_no_filter_and_escapes_no_name_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each header read added Pillow's size-warning filter anew and escaped the file's name
    for an error it did not raise: a few microseconds a file, most of a large folder's probe
    beyond Pillow's own. The filter is added when it is not first; a name is escaped when
    an error shows it."""
    _images(tmp_path, [f"{i}.png" for i in range(20)], size=4)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    escaped: list[object] = []
    one_line = decode.one_line

    def counted(text: object, limit: int = 0) -> str:
        escaped.append(text)
        return one_line(text, limit)

    monkeypatch.setattr(decode, "one_line", counted)
    added: list[object] = []
    filterwarnings = warnings.filterwarnings

    def counted_filter(*args: object, **kwargs: object) -> None:
        added.append(args)
        filterwarnings(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(warnings, "filterwarnings", counted_filter)
    for i in range(20):
        probe_image(tmp_path / f"{i}.png", f"{i}.png")
    assert escaped == [] and len(added) <= 1
    with pytest.raises(decode.ImageError, match=r"cannot read image 'bad\.png'"):
        probe_image(tmp_path / "bad.png", "bad.png")
    big = tmp_path / "big.png"  # the filter still hides Pillow's warning on a huge header
    Image.new("1", (10_000, 10_000)).save(big)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(decode.ImageError, match="over 89,478,485 pixels"):
            probe_image(big, "big.png")


def test_a_folder_that_cannot_be_read_is_an_error_of_the_check(
    workdir: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sub-folder without read permission was skipped in silence: the check said clean
    for a folder whose images half never trained. It is an error row naming the folder; a
    data.path that cannot be read is refused saying so, not "no images found in it"."""
    _images(workdir / "photos", ["a.png", "b.png"])
    _images(workdir / "photos" / "locked", ["c.png"], seed=1)
    scandir = listing.os.scandir
    locked = {str(Path("photos") / "locked")}

    def refusing(path: str = ".") -> object:
        if str(path) in locked:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(listing.os, "scandir", refusing)
    code, out, err = cli("data", "check", "photos", "plugin=dcgan", "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["items"] == 2
    rows = [f for f in report["findings"] if f["item"] == "locked/"]
    assert len(rows) == 1 and rows[0]["severity"] == "error"
    assert "Permission denied" in rows[0]["problem"]
    code, _, err = cli("run", *TINY_DCGAN, "data.path=photos/locked")
    assert code == 2 and "data.path='photos/locked' cannot be read: Permission denied" in err


def test_a_decode_reads_the_exif_orientation_once(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each read parsed the EXIF block twice (once to describe the file, once to turn it):
    ~1 s of a 20,000-file check. Read once, the turn is still made."""
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: a quarter turn makes it upright
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(path, exif=exif.tobytes())
    reads = []
    real = decode._orientation
    monkeypatch.setattr(decode, "_orientation", lambda im: reads.append(1) or real(im))
    pixels, facts = decode.read_image(path, 3)
    assert len(reads) == 1 and facts.orientation == 6
    assert pixels.shape == (3, 12, 8)  # upright: the stored 12x8 turned to 8x12
