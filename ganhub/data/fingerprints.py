"""Fingerprints of decoded pixels for `ganhub data check`'s duplicate search: an exact digest,
16x16 thumbnails, their difference hash, and what a plain image is (`ganhub.data.inspect`)."""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from typing import Any

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
    # every channel: a grey thumbnail would equate recoloured images
    planes = np.asarray(pixels, dtype=np.float32)
    small = box_resize(planes if planes.ndim == 3 else planes[None], 16, 16)
    return small if planes.ndim == 3 else small[0]


def native_thumbnail(pixels: np.ndarray) -> np.ndarray:
    """`thumbnail` of (H, W, C) pixels as `read_native` gives them (uint8 or float32 in [0, 1]):
    (C, 16, 16). A large 8-bit plane is box-reduced by a whole factor in 8 bits first (to at
    least 256 px a side: its rounding averages out in the 16x16 boxes); no float copy of the
    whole image is made, only of the columns each thumbnail column reads."""
    factor = min(pixels.shape[:2]) // 256
    if pixels.dtype == np.uint8 and factor > 1:
        from PIL import Image

        planes = [np.ascontiguousarray(pixels[:, :, c]) for c in range(pixels.shape[2])]
        reduced = [np.asarray(Image.fromarray(p).reduce(factor)) for p in planes]
        return box_resize(np.stack(reduced), 16, 16, 255.0)
    scale = 255.0 if pixels.dtype == np.uint8 else 1.0
    return box_resize(pixels, 16, 16, scale, channels_last=True)


def dhash(thumb: np.ndarray) -> int:
    """A 64-bit difference hash: is each cell of an 8x9 reduction brighter than its neighbour."""
    # colour thumbnails are hashed in grey: the hash only proposes candidates, and the
    # thumbnails themselves (every channel) decide
    grey = thumb.mean(axis=0) if thumb.ndim == 3 else thumb
    cells = box_resize(np.asarray(grey, dtype=np.float32)[None], 9, 8)[0]
    bits = (cells[:, 1:] > cells[:, :-1]).ravel()  # bit i is cell i in reading order
    return int(np.packbits(bits, bitorder="little").view("<u8")[0])


def box_resize(
    planes: np.ndarray, width: int, height: int, scale: float = 1.0, channels_last: bool = False
) -> np.ndarray:
    """(C, H, W) planes, or (H, W, C) pixels with `channels_last`, divided by `scale` and
    resized to (C, `height`, `width`) float32 with a box filter: the very values of Pillow's
    BOX resize of each plane as a float ('F') image (its weights, its order of sums in
    double, its float32 rounding between the passes), in a few numpy operations for all
    channels at once."""
    scale32 = np.float32(scale)
    rows, columns = (0, 1) if channels_last else (1, 2)
    order = _pass_order(planes.shape[rows], planes.shape[columns], width, height)
    if order == "across":
        small = _box_pass(planes, width, columns, scale32)
        small = _box_pass(small, height, rows, None)
    elif order == "down":
        small = _box_pass(planes, height, rows, scale32)
        small = _box_pass(small, width, columns, None)
    else:  # a Pillow whose passes neither order reproduces: its own resize
        from PIL import Image

        small = np.stack(
            [
                np.asarray(
                    Image.fromarray(np.asarray(plane, np.float32) / scale32, mode="F").resize(
                        (width, height), Image.Resampling.BOX
                    ),
                    dtype=np.float32,
                )
                for plane in (planes.transpose(2, 0, 1) if channels_last else planes)
            ]
        )
        channels_last = False
    return np.ascontiguousarray(small.transpose(2, 0, 1)) if channels_last else small


@functools.lru_cache(maxsize=8192)
def _pass_order(height: int, width: int, out_width: int, out_height: int) -> str:
    """Which pass Pillow makes first for this size: "across" (always, before Pillow 13),
    or "down" (Pillow 13, where the height shrinks much more than the width); for a Pillow
    whose rule is not known here, found by resizing probes with it, "pil" where no probe
    tells the orders apart or neither gives its values."""
    if height <= out_height or width <= out_width:
        # that pass only copies (a box no wider than a pixel: one input of weight 1): it
        # commutes exactly with the other pass, so either order gives Pillow's values
        return "across"
    import PIL

    major = int(PIL.__version__.split(".")[0])
    if major < 13:
        return "across"
    if major == 13:
        return "down" if 2 * (width - out_width) < height - out_height else "across"
    return _probed_order(height, width, out_width, out_height)


def _probed_order(height: int, width: int, out_width: int, out_height: int) -> str:
    """`_pass_order` found by resizing probes of this size with Pillow itself."""
    from PIL import Image

    rng = np.random.default_rng(height * 7919 + width)
    found = {"across", "down"}
    for probe in (
        rng.random((1, height, width)) * 997 + 0.001,  # uneven values: roundings differ
        rng.integers(0, 256, (1, height, width)) / 255.0,  # what 8-bit images hold
        rng.normal(0.0, 1e-3, (1, height, width)),
    ):
        probe = probe.astype(np.float32)
        wanted = Image.fromarray(probe[0], mode="F").resize(
            (out_width, out_height), Image.Resampling.BOX
        )
        across = _box_pass(_box_pass(probe, out_width, 2, None), out_height, 1, None)[0]
        down = _box_pass(_box_pass(probe, out_height, 1, None), out_width, 2, None)[0]
        if not np.array_equal(across, np.asarray(wanted)):
            found.discard("across")
        if not np.array_equal(down, np.asarray(wanted)):
            found.discard("down")
        if len(found) < 2:  # told apart (or neither is Pillow's)
            break
    return found.pop() if len(found) == 1 else "pil"


def _box_pass(planes: np.ndarray, size: int, axis: int, scale: np.float32 | None) -> np.ndarray:
    """One pass of `box_resize` along `axis`, float32 out; `scale` divides the samples read
    (in float32, as a float copy of the whole plane would have) before they are weighed."""
    index, weights, short = _box_weights(planes.shape[axis], size)
    taken = np.take(planes, index, axis=axis)  # (..., size, window, ...): every term at once
    if scale is not None:
        taken = taken.astype(np.float32) / scale
    trail = (1,) * (planes.ndim - axis - 1)
    terms = taken.astype(np.float64, copy=False) * weights.reshape(weights.shape + trail)
    if short is not None and planes.dtype.kind == "f":
        # past a shorter window the weight is 0, and 0 times inf or NaN is NaN: Pillow adds
        # nothing there
        terms = np.where(short.reshape(short.shape + trail), 0.0, terms)
    head = (slice(None),) * (axis + 1)
    total = terms[(*head, 0)] + 0.0  # Pillow adds the terms left to right, from 0.0
    for j in range(1, weights.shape[1]):
        total += terms[(*head, j)]
    return total.astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _box_weights(size: int, out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pillow's BOX filter coefficients from `size` samples to `out` (Resample.c's
    precompute_coeffs, in the same double arithmetic): (out, window) indices of the inputs
    each output reads and their weights (a shorter window padded with weight 0 on its last
    input), and where those pads are (None if none)."""
    scale = size / out
    support = 0.5 * max(scale, 1.0)
    inverse = 1.0 / max(scale, 1.0)
    rows = []
    for i in range(out):
        centre = (i + 0.5) * scale
        low = max(int(centre - support + 0.5), 0)
        high = min(int(centre + support + 0.5), size)
        ws = [
            1.0 if -0.5 < (x + low - centre + 0.5) * inverse <= 0.5 else 0.0
            for x in range(high - low)
        ]
        total = 0.0
        for w in ws:  # in order, as Pillow sums them
            total += w
        rows.append((low, [w / total if total != 0.0 else w for w in ws]))
    width = max(len(ws) for _, ws in rows)
    index = np.array(
        [[low + min(j, len(ws) - 1) for j in range(width)] for low, ws in rows], dtype=np.intp
    )
    weights = np.array([ws + [0.0] * (width - len(ws)) for _, ws in rows], dtype=np.float64)
    short = np.array([[j >= len(ws) for j in range(width)] for _, ws in rows])
    return index, weights, short if short.any() else None


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


def compared(
    thumbs: list[np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """For each thumbnail: its `levels`, its `stretch`ed self and that one's `dhash`, the very
    values those give one by one, computed a few numpy operations per shape for all."""
    tones: list[np.ndarray] = [np.empty(0)] * len(thumbs)
    stretched: list[np.ndarray] = [np.empty(0)] * len(thumbs)
    hashes = [0] * len(thumbs)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, thumb in enumerate(thumbs):
        groups[(thumb.shape, thumb.dtype.str)].append(i)
    blocks = [  # a few hundred at a time: the arrays stay in the CPU's caches
        (shape, members[start : start + 256])
        for (shape, _), members in groups.items()
        for start in range(0, len(members), 256)
    ]
    for shape, members in blocks:
        stack = np.stack([thumbs[i] for i in members])
        planes = stack.reshape(len(members), 1 if len(shape) == 2 else shape[0], -1)
        spread = np.ptp(planes, axis=2).max(axis=1).astype(np.float64)
        levels = np.concatenate([planes.mean(axis=2).astype(np.float64), spread[:, None]], 1)
        low, high = planes.min(axis=(1, 2)), planes.max(axis=(1, 2))
        flat = ~(high.astype(np.float64) - low.astype(np.float64) > 1e-6)
        # as `stretch`: the range in double, then in the thumbnail's own type
        span = np.where(flat, 1.0, high.astype(np.float64) - low.astype(np.float64))
        edge = (len(members),) + (1,) * len(shape)
        spans = span.astype(stack.dtype).reshape(edge)
        out = (stack - low.reshape(edge)) / spans
        out[flat] = 0
        grey = out.mean(axis=1) if len(shape) == 3 else out
        cells = box_resize(np.asarray(grey, dtype=np.float32), 9, 8)
        bits = (cells[:, :, 1:] > cells[:, :, :-1]).reshape(len(members), 64)
        words = np.packbits(bits, axis=1, bitorder="little").view("<u8")[:, 0]
        for j, i in enumerate(members):
            tones[i], stretched[i], hashes[i] = levels[j], out[j], int(words[j])
    return tones, stretched, hashes


__all__ = [
    "box_resize",
    "compared",
    "dhash",
    "levels",
    "native_thumbnail",
    "pixel_key",
    "stretch",
    "thumbnail",
]
