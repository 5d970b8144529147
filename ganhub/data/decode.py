"""Decoding image files the way users really have them, keeping their information.

One function for every image domain: 16-bit images are scaled by their bit depth (never
clipped to white by an 8-bit conversion), 32-bit ones keep values that fit 16 bits (integers)
or [0, 1] (floats) and are otherwise scaled by their own range, NaN or infinite pixels are
refused, the EXIF orientation is applied, palette images are expanded, transparency is
composited on black on purpose, CMYK is converted, and the result is float32 in [0, 1] with
the channels asked for. `describe_image` says what the decoding will do to a file, for
`ganhub data check`. Imports numpy and Pillow only.
"""

from __future__ import annotations

import re
import struct
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import numpy as np

from ganhub.errors import UsageError, one_line
from ganhub.plural import counted

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# Pillow's decompression-bomb guard, explicit: an image this large is refused (not decoded).
MAX_PIXELS = 89_478_485
# the modes Pillow gives 16-bit (I;16*) and 32-bit (I, F) grey images
_DEEP_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})

Source = Path | IO[bytes]
_T = TypeVar("_T")
_FILTER_LOCK = threading.Lock()
_FILTER: object = None  # the filter `_quiet_pillow_warnings` added last
# Pillow's warnings (two lines each, naming no file) that `_open` and `_facts` say themselves:
# an image over MAX_PIXELS (PIL/Image.py), refused in one line naming the file; a corrupt EXIF
# block (PIL/TiffImagePlugin.py, as it reads the block), a note of the file (`_exif_fault`)
_PILLOW_WARNINGS = (
    r"(Image size \(|(Possibly )?corrupt EXIF data|Tag data larger than file|"
    r"Tag offset too large|Truncated File Read)"
)


def _quiet_pillow_warnings() -> None:
    """Ignore the Pillow warnings `_PILLOW_WARNINGS` lists. A filter (those warnings only),
    not `warnings.catch_warnings()` around each open: header reads run in threads, and that
    context manager is not thread-safe (hence a filter, and `_exif_fault` reading the EXIF
    block itself, not a warning caught). Set at each open, since a caller's `catch_warnings`
    block ending drops filters added within it; adding it again replaces it, so the list does
    not grow. Added only when it is not first in the list (a look at one entry, where adding
    it took microseconds per file of a large folder)."""
    global _FILTER
    filters = warnings.filters
    if filters and filters[0] is _FILTER:
        return
    with _FILTER_LOCK:  # two threads adding it at once could both insert it
        warnings.filterwarnings(
            "ignore", message=_PILLOW_WARNINGS, module=r"PIL\.(Image|TiffImagePlugin)$"
        )
        _FILTER = warnings.filters[0]


class ImageError(UsageError):
    """A file that cannot be decoded: the message names it; `reason` says why without the
    name (for reports that show the name in a column of its own). Made from the message
    alone too, as PyTorch remakes a DataLoader worker's error."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message

    @classmethod
    def unreadable(cls, name: str, reason: str) -> ImageError:
        """'cannot read image NAME: REASON'."""
        return cls(f"cannot read image '{one_line(name)}': {reason}", reason)


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
    orientation: int = 1  # the EXIF orientation decoding applies (1: none; read once per file)


def _open(source: Source, name: str) -> PILImage:
    from PIL import Image, UnidentifiedImageError

    # a file's name is data: shown on one line (`one_line`), escaped only when an error says it
    _quiet_pillow_warnings()
    try:
        im = Image.open(source)
    except Image.DecompressionBombError:  # over twice MAX_PIXELS: Pillow refuses first
        reason = f"over {MAX_PIXELS:,} pixels (Pillow's decompression-bomb guard); refused"
        raise ImageError(f"image '{one_line(name)}' is {reason}", reason) from None
    except UnidentifiedImageError:
        raise ImageError.unreadable(name, "not an image in a format Pillow reads") from None
    except (OSError, ValueError) as exc:
        reason = str(exc).replace(str(source), name) if isinstance(source, Path) else str(exc)
        raise ImageError.unreadable(name, one_line(reason)) from None
    if im.width * im.height > MAX_PIXELS:
        im.close()
        reason = f"{im.width}x{im.height}, over {MAX_PIXELS:,} pixels; refused"
        raise ImageError(f"image '{one_line(name)}' is {reason}", reason)
    return im


def probe_image(source: Source, name: str = "") -> None:
    """Read an image file's header only (its format and size, checked as decoding checks them):
    a UsageError naming the file when it is not an image; no pixel is decoded."""
    with _open(source, name or str(source)):
        pass


def describe_image(source: Source, name: str) -> ImageFacts:
    """The facts of an image and the conversions `decode_image` will apply (a PNG's EXIF may
    sit after its pixels, so reading it can decode them; a broken file is a UsageError)."""
    with _open(source, name) as im:
        return _guarded(name, lambda: _facts(im))


def read_image(source: Source, channels: int, name: str = "") -> tuple[np.ndarray, ImageFacts]:
    """Decode once and describe: (pixels as `decode_image` gives them, facts)."""
    return _read(source, channels, name, _to_array)


def read_native(source: Source, channels: int, name: str = "") -> tuple[np.ndarray, ImageFacts]:
    """Decode once and describe, keeping the pixels' own type: (H, W, channels) uint8, or
    float32 in [0, 1] for 16/32-bit grey (`read_pixels`), and the facts. A quarter of the
    memory of `read_image`'s float32 for 8-bit images: what the data check of a large image
    needs."""
    return _read(source, channels, name, _pixels)


def read_pixels(source: Source, channels: int, name: str = "") -> tuple[np.ndarray, float]:
    """Decode to the pixels' own type, (H, W, channels): uint8 with scale 255, or float32 in
    [0, 1] with scale 1 (16/32-bit grey). Loaders resize these and scale once at the small size,
    not at the file's (half the float passes over a large image)."""
    pixels, _ = _read(source, channels, name, _pixels)
    return pixels, 255.0 if pixels.dtype == np.uint8 else 1.0


def _read(
    source: Source,
    channels: int,
    name: str,
    convert: Callable[[PILImage, int, str], tuple[np.ndarray, list[str]]],
) -> tuple[np.ndarray, ImageFacts]:
    """Open, describe and `convert` the upright image; a broken file is one line."""
    from PIL import ImageOps

    name = name or str(source)
    with _open(source, name) as im:

        def read() -> tuple[np.ndarray, ImageFacts]:
            facts = _facts(im)
            # only a turn or flip to make is made: for an upright image Pillow's exif_transpose
            # returns a copy of every pixel (the most common case, at every decode)
            upright = ImageOps.exif_transpose(im) if facts.orientation != 1 else im
            pixels, notes = convert(upright, channels, name)
            if notes:  # this image's own scaling says more than its mode's general rule
                facts.notes = [n for n in facts.notes if not n.startswith("32-bit ")]
            facts.notes = [*facts.notes, *notes]
            return pixels, facts

        return _guarded(name, read)


def decode_image(source: Source, channels: int, name: str = "") -> np.ndarray:
    """Decode an image file to float32 (channels, H, W) in [0, 1] (see the module doc)."""
    return read_image(source, channels, name)[0]


def _guarded(name: str, work: Callable[[], _T]) -> _T:
    """Run `work`; a file that breaks after its header (truncated) is a one-line UsageError."""
    try:
        return work()
    except (OSError, ValueError, SyntaxError) as exc:
        reason = one_line((str(exc).splitlines() or [""])[0])
        raise ImageError.unreadable(name, reason) from None


def _facts(im: PILImage) -> ImageFacts:
    mode, notes = im.mode, []
    bits = 16 if mode.startswith("I;16") else 32 if mode in ("I", "F") else 8
    if bits == 16:
        notes.append(f"16-bit ({mode}): scaled by its full range, not clipped")
    elif mode == "I":
        notes.append("32-bit integer (I): values up to 65535 scaled as 16-bit, beyond by its range")
    elif mode == "F":
        notes.append("32-bit float (F): values in [0, 1] kept, outside scaled by its range")
    if mode == "P":
        notes.append("palette image: expanded to its colours")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        notes.append("transparency: composited on black")
    if mode == "CMYK":
        notes.append("CMYK: converted to RGB")
    # an animated GIF, WebP or PNG, a multi-page TIFF: one seek to the second frame, not a
    # count of them all (this runs at every decode)
    if getattr(im, "is_animated", False):
        notes.append("animated or multi-page: the first frame only")
    orientation = _orientation(im)
    width, height = im.width, im.height
    fault = _exif_fault(im.info.get("exif"))
    if fault:
        notes.append(
            f"corrupt EXIF data ({fault}): the tags that cannot be read are ignored (an "
            "orientation among them is not applied)"
        )
    if orientation != 1:
        notes.append(f"EXIF orientation {orientation}: rotated upright")
        if orientation in (5, 6, 7, 8):  # a quarter turn: the upright image is transposed
            width, height = height, width
    channels = 1 if mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;16") else 3
    return ImageFacts(width, height, mode, bits, channels, notes, orientation)


def _orientation(im: PILImage) -> int:
    """The EXIF orientation that turns or flips the image (2 to 8), else 1: another value (0,
    "undefined", which some cameras write, or 9) is left as Pillow's exif_transpose leaves it."""
    orientation = im.getexif().get(0x0112, 1)
    return orientation if isinstance(orientation, int) and 2 <= orientation <= 8 else 1


# bytes per value of each TIFF field type Pillow reads (others it skips, as this does)
_TIFF_UNITS = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
               16: 8}  # fmt: skip


def _exif_fault(block: object) -> str | None:
    """What is corrupt in an EXIF block (a JPEG's APP1, a PNG's eXIf, a WebP's EXIF chunk), in
    words, where Pillow reading its first directory (where the orientation is) warns; None for
    a sound block, or none. A TIFF header Pillow does not read makes the file unreadable."""
    if not isinstance(block, bytes):
        return None
    tiff = re.sub(b"^(Exif\x00\x00){1,2}", b"", block)
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return None  # empty, BigTIFF (Pillow reads it), or a header Pillow refuses itself
    end, size = "<" if tiff[:2] == b"II" else ">", len(tiff)
    (ifd,) = struct.unpack_from(end + "L", tiff, 4)
    if ifd + 2 > size:
        return f"its first directory at byte {ifd} is past the block's {size} bytes"
    (count,) = struct.unpack_from(end + "H", tiff, ifd)
    if ifd + 2 + 12 * count + 4 > size:
        return (
            f"its first directory ({counted(count, 'entries')}) runs past the block's {size} bytes"
        )
    total, seen = 0, set()
    for at in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind, n, offset = struct.unpack_from(end + "HHLL", tiff, at)
        unit = _TIFF_UNITS.get(kind)
        if tag in seen or unit is None:  # Pillow keeps a tag's first entry, skips odd types
            continue
        seen.add(tag)
        if n * unit <= 4:  # the value itself, in the entry
            continue
        total += n * unit
        if offset + n * unit > size or total > size:
            return f"tag {tag}'s {n * unit} bytes run past the block's {size} bytes"
    return None


def _to_array(im: PILImage, channels: int, name: str) -> tuple[np.ndarray, list[str]]:
    """Pixels as float32 (channels, H, W) in [0, 1], and what their values made decoding do."""
    pixels, notes = _pixels(im, channels, name)
    scale = 255.0 if pixels.dtype == np.uint8 else 1.0
    return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / scale, notes


def _pixels(im: PILImage, channels: int, name: str) -> tuple[np.ndarray, list[str]]:
    """Pixels as (H, W, channels): uint8, or float32 in [0, 1] for 16/32-bit grey images; and
    what their values made decoding do."""
    from PIL import Image

    mode = im.mode
    if mode in _DEEP_MODES:
        grey, notes = _deep_grey(np.asarray(im), mode, name)
        grey = grey.astype(np.float32)[..., None]
        return (grey if channels == 1 else np.repeat(grey, 3, axis=2)), notes
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, rgba).convert("RGB")
    arr = np.array(im.convert("L" if channels == 1 else "RGB"))  # a writable copy, for torch
    return (arr[..., None] if arr.ndim == 2 else arr), []


def _deep_grey(values: np.ndarray, mode: str, name: str) -> tuple[np.ndarray, list[str]]:
    """A 16/32-bit grey image in [0, 1]: by its depth where its values fit one (65535 for
    integers, 1 for floats), else by its own range, which is said in a note (that image's
    brightness is no longer comparable with the others')."""
    if mode == "F" and not np.isfinite(values).all():
        bad = int(values.size - np.isfinite(values).sum())
        raise ImageError.unreadable(
            name,
            f"{counted(bad, 'NaN or infinite pixel values')} in a 32-bit float image; replace "
            "them (e.g. with 0) or leave the file out",
        )
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    full = 1.0 if mode == "F" else 65535.0
    if lo >= 0.0 and hi <= full:
        return values.astype(np.float32) / np.float32(full), []
    # float64: an int32's range is exact there, not rounded to float32's 24 bits first
    span = hi - lo if hi > lo else 1.0  # one value everywhere: all 0
    scaled = (values.astype(np.float64) - lo) / span
    kind = "float" if mode == "F" else "integer"
    fits = "[0, 1]" if mode == "F" else "[0, 65535]"
    note = f"32-bit {kind} values {lo:.6g}..{hi:.6g} outside {fits}: scaled by this image's range"
    return scaled.astype(np.float32), [note]


__all__ = [
    "MAX_PIXELS",
    "ImageError",
    "ImageFacts",
    "decode_image",
    "describe_image",
    "probe_image",
    "read_image",
    "read_native",
    "read_pixels",
]
