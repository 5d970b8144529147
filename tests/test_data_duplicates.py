"""Duplicates in `ganhub data check`/`clean`: exact copies are identical decoded pixels, near
copies look alike in every channel, and images differing only in colour are neither."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ganhub.data.inspect import DataReport, inspect_image_files

COLOURS = {"blue": (0, 0, 210), "green": (0, 210, 0), "red": (210, 0, 0), "grey": (90, 90, 90)}


def _check(root: Path) -> dict[str, str]:
    """Every image under `root` through the checks `ganhub data check plugin=dcgan` runs:
    {item: problem} of the duplicate findings."""
    report = DataReport(str(root), "images")
    files = [(str(p.relative_to(root)), lambda p=p: p) for p in sorted(root.rglob("*.png"))]
    inspect_image_files(report, files, channels=3, size=32)
    return {f.item: f.problem for f in report.findings if "duplicate" in f.problem}


def _shapes(fill: tuple[int, int, int], k: int) -> Image.Image:
    """Rectangle number k (position and size vary with k) in `fill` on black."""
    im = Image.new("RGB", (32, 32))
    ImageDraw.Draw(im).rectangle((2 + 3 * k, 4 + 2 * k, 14 + 4 * k, 20 + 3 * k), fill=fill)
    return im


def _photo(seed: int) -> np.ndarray:
    """Smooth random structure (a blurred noise field), 32x32 RGB."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((32, 32), Image.Resampling.BICUBIC))


def test_the_same_shapes_in_three_colours_are_not_duplicates(tmp_path: Path) -> None:
    """QA: class folders blue/, green/, red/ with the same rectangles in each colour lost two
    of three classes to `data clean` as 'exact duplicates'."""
    for colour in ("blue", "green", "red"):
        (tmp_path / colour).mkdir()
        for k in range(3):
            _shapes(COLOURS[colour], k).save(tmp_path / colour / f"{colour}{k}.png")
    assert _check(tmp_path) == {}


def test_solid_colours_are_duplicates_only_of_their_own_colour(tmp_path: Path) -> None:
    """Same-colour solid images have the same decoded pixels: exact duplicates of the first of
    their colour (docs/data.md); no image is a duplicate of another colour's."""
    for colour, rgb in COLOURS.items():
        for i in range(10):
            Image.new("RGB", (32, 32), rgb).save(tmp_path / f"{colour}{i:03d}.png")
    found = _check(tmp_path)
    expected = {
        f"{colour}{i:03d}.png": f"duplicate of {colour}000.png"
        for colour in COLOURS
        for i in range(1, 10)
    }
    assert found == expected


def test_a_recompressed_png_is_an_exact_duplicate(tmp_path: Path) -> None:
    """Different bytes (compression level, no optimisation), the same decoded pixels."""
    Image.fromarray(_photo(0)).save(tmp_path / "a.png", compress_level=9)
    Image.open(tmp_path / "a.png").save(tmp_path / "b.png", compress_level=0)
    Image.fromarray(_photo(1)).save(tmp_path / "c.png")
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()
    assert _check(tmp_path) == {"b.png": "duplicate of a.png"}


def test_a_slightly_noisy_copy_is_a_near_duplicate(tmp_path: Path) -> None:
    photo = _photo(2)
    noise = np.random.default_rng(3).integers(-4, 5, photo.shape)
    Image.fromarray(photo).save(tmp_path / "a.png")
    Image.fromarray(np.clip(photo + noise, 0, 255).astype(np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(_photo(4)).save(tmp_path / "c.png")
    assert _check(tmp_path) == {"b.png": "near duplicate of a.png"}


def test_clean_keeps_every_class_of_recoloured_shapes(workdir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The QA run itself, in-process: nothing dropped, and an exact copy under another class
    (one image, two labels) is still reported."""
    data = workdir / "dupc"
    for colour in ("blue", "green", "red"):
        (data / colour).mkdir(parents=True)
        for k in range(3):
            _shapes(COLOURS[colour], k).save(data / colour / f"{colour}{k}.png")
    args = ("plugin=dcgan", "model.conditional=true", "model.image_size=32")
    code, out, err = cli("data", "clean", str(data), *args, "--out", "dupc_clean")
    assert code == 0 and "9 of 9 kept, 0 dropped" in out, out + err
    _shapes(COLOURS["red"], 0).save(data / "blue" / "blue9.png")  # a red image labelled blue
    code, out, err = cli("data", "check", str(data), *args)
    assert code == 1 and "blue/blue9.png" in out and "duplicate of" in out, out + err
