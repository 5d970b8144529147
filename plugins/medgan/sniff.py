"""What a file named .nii / .nii.gz that nibabel could not read is: no NIfTI file at all, a
NIfTI file compressed or not as its name says, or a truncated one (the loader's one line); and
whether a gzip-compressed one that nibabel did read decompresses whole (`gzip_damage`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NIFTI_MAGIC = (b"n+1\0", b"ni1\0", b"n+2\0", b"ni2\0")
GZIP_MAGIC = b"\x1f\x8b"
# how `not_nifti`'s reasons start (`ganhub data check` shows them without "or truncated")
OWN_REASONS = (
    "not a NIfTI file", "a NIfTI file that is not", "truncated", "an empty file", "a damaged gzip",
)  # fmt: skip


def _nifti_header(head: bytes) -> bool | None:
    """Whether bytes start with a NIfTI-1 or NIfTI-2 header (None: too short to tell)."""
    if len(head) < 4:
        return None
    for order in ("<", ">"):
        size = int(np.frombuffer(head[:4], dtype=f"{order}i4")[0])
        at = {348: 344, 540: 4}.get(size)
        if at is not None:
            return None if len(head) < at + 4 else head[at : at + 4] in NIFTI_MAGIC
    return False


def not_nifti(path: Path) -> str:
    """Why a file named .nii / .nii.gz that nibabel could not read is no NIfTI file ('' when
    it may be one, e.g. truncated, or cannot be opened): its first bytes hold no NIfTI header."""
    import gzip

    try:
        with path.open("rb") as stream:
            head = stream.read(548)
    except OSError:  # unreadable: nibabel's reason stands
        return ""
    if not head:  # a 0-byte file is no NIfTI file, compressed or not
        return "an empty file (0 bytes): no NIfTI header to read"
    if len(head) < 4 and not head.startswith(GZIP_MAGIC):
        return f"not a NIfTI file: {len(head)} bytes, shorter than any NIfTI header"
    packed = head.startswith(GZIP_MAGIC)
    if packed:
        try:
            with gzip.open(path, "rb") as stream:
                head = stream.read(548)
        except EOFError:
            return "truncated: its gzip data ends before a NIfTI header's end"
        except OSError:  # a damaged gzip stream: nibabel's reason stands
            return ""
    if _nifti_header(head) is not False:
        if not packed and path.name.lower().endswith(".gz"):
            return "a NIfTI file that is not gzip-compressed: name it .nii, not .nii.gz"
        return ""
    inside = " (gzip-compressed)" if packed else ""
    return f"not a NIfTI file: its first bytes{inside} hold no NIfTI-1 or NIfTI-2 header"


def gzip_damage(path: Path) -> str:
    """Why gzip-compressed `path` does not decompress whole ('' when it does, or is no gzip
    file, or cannot be opened). nibabel inflates a .nii.gz only as far as its voxels and never
    reads the gzip trailer, so a stream damaged in a copy that still inflates (a flipped bit)
    gave other voxels than were written without a word: the whole stream is inflated once more
    here, CRC and length checked (a second decompression of each file, once per run)."""
    import gzip
    import zlib

    try:
        with path.open("rb") as raw:
            if raw.read(2) != GZIP_MAGIC:
                return ""
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 22):
                pass
    except EOFError:
        return "truncated: its gzip data ends before the end of the stream (copy it again)"
    except (gzip.BadGzipFile, zlib.error) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"a damaged gzip file ({why}): its data does not match the checksum it was "
            "written with, so its voxels cannot be trusted; copy it again"
        )
    except OSError:  # unreadable: the reader's reason stands
        return ""
    return ""


__all__ = ["OWN_REASONS", "gzip_damage", "not_nifti"]
