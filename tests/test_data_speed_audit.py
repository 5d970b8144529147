"""The duplicate search's fingerprints (`ganhub.data.fingerprints`) computed with numpy for
all channels at once give the very values the former per-channel Pillow code gave, so
`ganhub data check`/`clean` find the same exact and near duplicates, faster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ganhub.data import fingerprints
from ganhub.data.inspect import DataReport, inspect_image_files

# -- the former definitions, kept as the reference ---------------------------------------------


def old_thumbnail(pixels: np.ndarray) -> np.ndarray:
    """The former `thumbnail`: one Pillow 'F' image and BOX resize per channel."""
    if pixels.ndim == 3:
        return np.stack([old_thumbnail(plane) for plane in pixels])
    small = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    return np.asarray(small.resize((16, 16), Image.Resampling.BOX), dtype=np.float32)


def old_native_thumbnail(pixels: np.ndarray) -> np.ndarray:
    """The former `native_thumbnail`."""
    planes = []
    for c in range(pixels.shape[2]):
        plane = np.ascontiguousarray(pixels[:, :, c])
        factor = min(plane.shape) // 256
        if plane.dtype == np.uint8 and factor > 1:
            plane = np.asarray(Image.fromarray(plane, mode="L").reduce(factor))
        scale = np.float32(255.0 if plane.dtype == np.uint8 else 1.0)
        planes.append(old_thumbnail(plane.astype(np.float32) / scale))
    return np.stack(planes)


def old_dhash(thumb: np.ndarray) -> int:
    """The former `dhash`: a Pillow resize and a Python loop over the 64 bits."""
    grey = thumb.mean(axis=0) if thumb.ndim == 3 else thumb
    small = Image.fromarray(np.ascontiguousarray(grey, dtype=np.float32), mode="F")
    cells = np.asarray(small.resize((9, 8), Image.Resampling.BOX))
    bits = (cells[:, 1:] > cells[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def old_stretch(thumb: np.ndarray) -> np.ndarray:
    """The former `stretch`, one thumbnail at a time."""
    lo, hi = float(thumb.min()), float(thumb.max())
    return (thumb - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(thumb)


def old_levels(thumb: np.ndarray) -> np.ndarray:
    """The former `levels`, one thumbnail at a time."""
    planes = thumb.reshape(1 if thumb.ndim == 2 else len(thumb), -1)
    spread = float(np.ptp(planes, axis=1).max())
    return np.append(planes.mean(axis=1), spread).astype(np.float64)


def old_compared(thumbs: list[np.ndarray]) -> tuple[list[Any], list[Any], list[int]]:
    """What the duplicate search did to each thumbnail in turn."""
    stretched = [old_stretch(t) for t in thumbs]
    return [old_levels(t) for t in thumbs], stretched, [old_dhash(t) for t in stretched]


# heights and widths: smaller than, equal to and larger than 16, whole multiples and not, tall
# and wide (Pillow 13 makes the vertical pass first where the height shrinks much more), and
# large enough for the 8-bit reduction first (a short side of 512 or more)
SIZES = [(1, 1), (5, 7), (16, 16), (17, 16), (16, 33), (23, 17), (31, 47), (48, 32), (64, 64)]
SIZES += [(89, 20), (20, 89), (300, 19), (127, 255), (97, 100), (520, 530), (700, 515)]


def _pixels(height: int, width: int, channels: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uint8":
        return rng.integers(0, 256, (height, width, channels)).astype(np.uint8)
    return rng.random((height, width, channels)).astype(np.float32)


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["uint8", "float32"])
def test_native_thumbnails_and_hashes_are_the_former_values(
    height: int, width: int, channels: int, kind: str
) -> None:
    """Bit for bit: the same float32 thumbnail and the same 64-bit hash as before."""
    pixels = _pixels(height, width, channels, kind, seed=height * 1000 + width)
    new, old = fingerprints.native_thumbnail(pixels), old_native_thumbnail(pixels)
    assert new.dtype == old.dtype == np.float32 and new.shape == old.shape == (channels, 16, 16)
    assert np.array_equal(new, old)
    assert fingerprints.dhash(old) == old_dhash(old)
    stretched = fingerprints.stretch(old)  # what the duplicate search hashes
    assert fingerprints.dhash(stretched) == old_dhash(stretched)
    assert fingerprints.dhash(stretched[0]) == old_dhash(stretched[0])


def test_thumbnails_of_float_planes_are_the_former_values() -> None:
    """`thumbnail` of (H, W) and (C, H, W) planes of any float type and range, odd sizes."""
    rng = np.random.default_rng(7)
    for height, width in [(3, 40), (19, 21), (33, 18), (90, 25), (16, 200)]:
        planes = rng.normal(0.0, 3.0, (2, height, width))  # float64, negative values too
        assert np.array_equal(fingerprints.thumbnail(planes), old_thumbnail(planes))
        assert np.array_equal(fingerprints.thumbnail(planes[0]), old_thumbnail(planes[0]))


def test_non_finite_values_stay_where_pillow_puts_them() -> None:
    """NaN and inf reach only the boxes that read them (a weight of 0 past a shorter window
    adds nothing, not 0 * inf = NaN)."""
    planes = np.random.default_rng(8).random((1, 37, 45)).astype(np.float32)
    planes[0, 5, 44] = np.inf
    planes[0, 36, 3] = np.nan
    new, old = fingerprints.thumbnail(planes), old_thumbnail(planes)
    assert np.array_equal(new, old, equal_nan=True)
    assert np.isfinite(new).sum() == 256 - 2


def test_hashes_of_random_thumbnails_are_the_former_values() -> None:
    """Many hashes: every bit where the former loop put it."""
    rng = np.random.default_rng(9)
    for _ in range(200):
        thumb = rng.random((int(rng.choice([1, 3])), 16, 16)).astype(np.float32)
        assert fingerprints.dhash(thumb) == old_dhash(thumb)


def test_a_pillow_of_another_pass_order_is_still_matched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where neither pass order gives Pillow's values, Pillow's own resize is used."""
    monkeypatch.setattr(fingerprints, "_pass_order", lambda *size: "pil")
    pixels = _pixels(41, 23, 3, "uint8", seed=1)
    assert np.array_equal(fingerprints.native_thumbnail(pixels), old_native_thumbnail(pixels))


def test_the_pass_order_rule_is_the_installed_pillows() -> None:
    """The order of passes `box_resize` follows for this Pillow is the one probes of Pillow
    itself show, for thumbnails and for hashes, wide, square and tall."""
    sizes = [(h, w) for h in range(17, 140, 7) for w in range(17, 140, 5)]
    sizes += [(900, 40), (40, 900), (1200, 610), (610, 1200)]
    for out in ((16, 16), (9, 8)):
        for height, width in sizes:
            probed = fingerprints._probed_order(height, width, *out)
            if probed != "pil":  # "pil": the probes found the two orders alike
                assert fingerprints._pass_order(height, width, *out) == probed


def test_small_images_need_no_pillow_work_per_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a size has been seen, its thumbnails and hashes are numpy alone: no Pillow image
    per channel per file (what made the check of 50,000 small files take minutes)."""
    batch = [_pixels(29, 41, 3, "uint8", seed=s) for s in range(20)]
    fingerprints.dhash(fingerprints.native_thumbnail(batch[0]))  # the size's pass order
    calls = []
    monkeypatch.setattr(Image, "fromarray", lambda *a, **k: calls.append(a))
    for pixels in batch:
        fingerprints.dhash(fingerprints.native_thumbnail(pixels))
    assert calls == []


def test_batched_levels_stretches_and_hashes_are_the_former_values() -> None:
    """`compared` over thumbnails of several shapes and types (flat ones, dim ones, 1, 3 and
    8 channels, float32 and float64) gives what `levels`, `stretch` and `dhash` gave."""
    rng = np.random.default_rng(12)
    thumbs: list[np.ndarray] = []
    for i in range(60):
        channels = [1, 3, 8][i % 3]
        shape = (16, 16) if i % 7 == 0 else (channels, 16, 16)
        thumb = rng.random(shape) * [1.0, 0.05, 1e-7, 0.0][i % 4] + rng.random()
        thumbs.append(thumb.astype(np.float64 if i % 5 == 0 else np.float32))
    new, old = fingerprints.compared(thumbs), old_compared(thumbs)
    assert new[2] == old[2]
    for a, b in zip(new[0] + new[1], old[0] + old[1], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def _folder(root: Path) -> None:
    """Mixed sizes, grey and colour, exact copies (re-saved) and near copies (noise)."""
    rng = np.random.default_rng(11)
    for i in range(30):
        path = root / f"img{i:03d}.png"
        if i % 10 == 3:
            Image.open(root / f"img{i - 3:03d}.png").save(path, compress_level=0)
            continue
        if i % 10 == 7:
            base = np.asarray(Image.open(root / f"img{i - 2:03d}.png")).astype(np.int16)
            noisy = np.clip(base + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(path)
            continue
        width, height = (int(v) for v in rng.integers(16, 65, 2))
        coarse = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR)
        (image.convert("L") if i % 3 == 0 else image).save(path)


def _findings(root: Path) -> list[tuple[str, str, str, str]]:
    report = DataReport(str(root), "images")
    files = [(p.name, lambda p=p: p) for p in sorted(root.glob("*.png"))]
    inspect_image_files(report, files, channels=3, size=32)
    return [(f.item, f.problem, f.action, f.severity) for f in report.findings]


def test_a_checks_findings_are_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same exact and near duplicates (and every other finding) as with the former
    fingerprints, on a folder of mixed sizes, grey and colour."""
    _folder(tmp_path)
    new = _findings(tmp_path)
    monkeypatch.setattr("ganhub.data.inspect.native_thumbnail", old_native_thumbnail)
    monkeypatch.setattr("ganhub.data.inspect.compared", old_compared)
    assert new == _findings(tmp_path)
    problems = {item: problem for item, problem, _, _ in new if "duplicate" in problem}
    assert problems["img013.png"] == "duplicate of img010.png"
    assert problems["img017.png"] == "near duplicate of img015.png"
    assert len(problems) == 6
