"""Fingerprints of decoded pixels for `ganhub data check`'s duplicate search: an exact digest,
16x16 thumbnails, their difference hash, and what a plain image is (`ganhub.data.inspect`)."""

from __future__ import annotations

import hashlib

import numpy as np


def pixel_key(pixels: np.ndarray) -> bytes:
    """A digest of decoded pixels with their shape and type: equal only for identical images."""
    # the shape goes in so that, say, a 2x8 and a 4x4 image of the same values differ
    head = f"{pixels.dtype.str}{pixels.shape}".encode()
    digest = hashlib.sha256(head)
    digest.update(np.ascontiguousarray(pixels).data)  # the buffer itself: no copy of it
    return digest.digest()


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """A 16x16 thumbnail in [0, 1] of (H, W) pixels, or (C, 16, 16) of (C, H, W) (box filter)."""
    from PIL import Image

    if pixels.ndim == 3:  # every channel: a grey thumbnail would equate recoloured images
        return np.stack([thumbnail(plane) for plane in pixels])
    small = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    return np.asarray(small.resize((16, 16), Image.Resampling.BOX), dtype=np.float32)


def native_thumbnail(pixels: np.ndarray) -> np.ndarray:
    """`thumbnail` of (H, W, C) pixels as `read_native` gives them (uint8 or float32 in [0, 1]):
    (C, 16, 16). A large 8-bit plane is box-reduced by a whole factor in 8 bits first (to at
    least 256 px a side: its rounding averages out in the 16x16 boxes), so the float copy made
    is of the reduced plane, not of the whole image."""
    from PIL import Image

    planes = []
    for c in range(pixels.shape[2]):
        plane = np.ascontiguousarray(pixels[:, :, c])
        factor = min(plane.shape) // 256
        if plane.dtype == np.uint8 and factor > 1:
            plane = np.asarray(Image.fromarray(plane, mode="L").reduce(factor))
        scale = np.float32(255.0 if plane.dtype == np.uint8 else 1.0)
        planes.append(thumbnail(plane.astype(np.float32) / scale))
    return np.stack(planes)


def dhash(thumb: np.ndarray) -> int:
    """A 64-bit difference hash: is each cell of an 8x9 reduction brighter than its neighbour."""
    from PIL import Image

    # colour thumbnails are hashed in grey: the hash only proposes candidates, and the
    # thumbnails themselves (every channel) decide
    grey = thumb.mean(axis=0) if thumb.ndim == 3 else thumb
    small = Image.fromarray(np.ascontiguousarray(grey, dtype=np.float32), mode="F")
    cells = np.asarray(small.resize((9, 8), Image.Resampling.BOX))
    bits = (cells[:, 1:] > cells[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def stretch(thumb: np.ndarray) -> np.ndarray:
    """A thumbnail stretched to its own [0, 1] range: low-contrast images are compared on
    their structure, so two different dim images do not pass for copies of each other."""
    lo, hi = float(thumb.min()), float(thumb.max())
    return (thumb - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(thumb)


def levels(thumb: np.ndarray) -> np.ndarray:
    """Each channel's mean, then the largest channel's range: what a plain image is."""
    planes = thumb.reshape(1 if thumb.ndim == 2 else len(thumb), -1)
    spread = float(np.ptp(planes, axis=1).max())
    return np.append(planes.mean(axis=1), spread).astype(np.float64)


__all__ = ["dhash", "levels", "native_thumbnail", "pixel_key", "stretch", "thumbnail"]
