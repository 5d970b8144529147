"""Decoding image files the way users really have them, keeping their information.

One function for every image domain: 16-bit and 32-bit images are scaled by their bit depth
(never clipped to white by an 8-bit conversion), the EXIF orientation is applied, palette
images are expanded, transparency is composited on black on purpose, CMYK is converted, and
the result is float32 in [0, 1] with the channels asked for. `describe_image` says what the
decoding will do to a file, for `ganhub data check`. Imports numpy and Pillow only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import numpy as np

from ganhub.errors import UsageError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# Pillow's decompression-bomb guard, explicit: an image this large is refused (not decoded).
MAX_PIXELS = 89_478_485
# full-scale values of the integer modes Pillow gives 16- and 32-bit images
_DEPTH = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0}

Source = Path | IO[bytes]
_T = TypeVar("_T")


@dataclass
class ImageFacts:
    """What a file is and what decoding does to it (notes, in words), without decoding pixels.
    Width and height are the upright image's (after its EXIF orientation)."""

    width: int
    height: int
    mode: str
    bits: int
    channels: int
    notes: list[str] = field(default_factory=list)


def _open(source: Source, name: str) -> PILImage:
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(source)
    except UnidentifiedImageError:
        raise UsageError(
            f"cannot read image '{name}': not an image in a format Pillow reads"
        ) from None
    except (OSError, ValueError) as exc:
        reason = str(exc).replace(str(source), name) if isinstance(source, Path) else str(exc)
        raise UsageError(f"cannot read image '{name}': {reason}") from None
    if im.width * im.height > MAX_PIXELS:
        raise UsageError(
            f"image '{name}' is {im.width}x{im.height}, over {MAX_PIXELS:,} pixels; refused"
        )
    return im


def describe_image(source: Source, name: str) -> ImageFacts:
    """The facts of an image and the conversions `decode_image` will apply (a PNG's EXIF may
    sit after its pixels, so reading it can decode them; a broken file is a UsageError)."""
    with _open(source, name) as im:
        return _guarded(name, lambda: _facts(im))


def read_image(source: Source, channels: int, name: str = "") -> tuple[np.ndarray, ImageFacts]:
    """Decode once and describe: (pixels as `decode_image` gives them, facts)."""
    from PIL import ImageOps

    name = name or str(source)
    with _open(source, name) as im:

        def read() -> tuple[np.ndarray, ImageFacts]:
            facts = _facts(im)
            return _to_array(ImageOps.exif_transpose(im), channels), facts

        return _guarded(name, read)


def decode_image(source: Source, channels: int, name: str = "") -> np.ndarray:
    """Decode an image file to float32 (channels, H, W) in [0, 1] (see the module doc)."""
    return read_image(source, channels, name)[0]


def _guarded(name: str, work: Callable[[], _T]) -> _T:
    """Run `work`; a file that breaks after its header (truncated) is a one-line UsageError."""
    try:
        return work()
    except (OSError, ValueError, SyntaxError) as exc:
        raise UsageError(f"cannot read image '{name}': {str(exc).splitlines()[0]}") from None


def _facts(im: PILImage) -> ImageFacts:
    mode, notes = im.mode, []
    bits = 16 if mode.startswith("I;16") or mode == "I" else 32 if mode == "F" else 8
    if bits > 8:
        notes.append(f"{bits}-bit ({mode}): scaled by its full range, not clipped")
    if mode == "P":
        notes.append("palette image: expanded to its colours")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        notes.append("transparency: composited on black")
    if mode == "CMYK":
        notes.append("CMYK: converted to RGB")
    orientation = im.getexif().get(0x0112, 1)
    width, height = im.width, im.height
    if orientation not in (1, None):
        notes.append(f"EXIF orientation {orientation}: rotated upright")
        if orientation in (5, 6, 7, 8):  # a quarter turn: the upright image is transposed
            width, height = height, width
    channels = 1 if mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;16") else 3
    return ImageFacts(width, height, mode, bits, channels, notes)


def _to_array(im: PILImage, channels: int) -> np.ndarray:
    from PIL import Image

    mode = im.mode
    if mode in _DEPTH or mode == "I":
        full = _DEPTH.get(mode, 65535.0)
        grey = np.asarray(im, dtype=np.float32) / full
        grey = np.clip(grey, 0.0, 1.0)  # an "I" image of more than 16 bits is rare: clip its top
        arr = grey[None] if channels == 1 else np.repeat(grey[None], 3, axis=0)
        return np.ascontiguousarray(arr, dtype=np.float32)
    if mode == "F":
        grey = np.asarray(im, dtype=np.float32)
        lo, hi = float(np.nanmin(grey)), float(np.nanmax(grey))
        grey = (grey - lo) / (hi - lo) if hi > lo else np.zeros_like(grey)
        arr = grey[None] if channels == 1 else np.repeat(grey[None], 3, axis=0)
        return np.ascontiguousarray(arr, dtype=np.float32)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, rgba).convert("RGB")
    im = im.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(im, dtype=np.float32) / 255.0
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


__all__ = ["MAX_PIXELS", "ImageFacts", "decode_image", "describe_image", "read_image"]
