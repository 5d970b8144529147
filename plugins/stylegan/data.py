"""Data of the stylegan domain: embedded faces and digits, folders and zips of images.

Embedded faces: `skimage.data.lfw_subset()` ships 200 grey 25x25 crops inside the
scikit-image wheel (no download); its first 100 are faces and the last 100 are *non-face*
patches, so only the 100 faces are used, resized to `model.image_size` (x-flips double them
to 200 with `data.mirror`). That is a limited-data setting where ADA matters.

Folder or zip data must hold square images of `model.image_size` (StyleGAN2-ADA's
`dataset_tool` convention); `ganhub stylegan check` reports bad, non-square and wrongly sized
files, and `data.resize=true` resizes square images of another size.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ganhub.data.images import IMAGE_SUFFIXES, digits, list_images
from ganhub.errors import ConfigError, UsageError

N_FACES = 100  # lfw_subset: 100 faces, then 100 non-faces


def resize(x: Tensor, size: int) -> Tensor:
    """(N, C, H, W) in [-1, 1] to size x size (antialiased bilinear)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(-1, 1)


def faces(size: int) -> Tensor:
    """The 100 LFW faces scikit-image ships, (100, 1, size, size) in [-1, 1]."""
    from skimage.data import lfw_subset

    arr = np.asarray(lfw_subset()[:N_FACES], dtype=np.float32)  # (100, 25, 25) in [0, 1]
    x = torch.from_numpy(arr).unsqueeze(1) * 2 - 1
    return resize(x, size).contiguous()


def embedded(source: str, size: int, mirror: bool) -> Tensor:
    """Embedded training images (faces or digits), with x-flipped copies when `mirror`."""
    x = faces(size) if source == "faces" else digits(size)[0]
    return torch.cat([x, x.flip(3)]) if mirror else x


# -- folders and zips ---------------------------------------------------------------------


def list_files(path: Path) -> list[str]:
    """Image names in a folder (relative paths, recursive) or zip, sorted."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES]
        return sorted(names)
    if not path.is_dir():
        raise ConfigError(f"data.path='{path}': neither a folder nor a zip file")
    return [str(p.relative_to(path)) for p in list_images(path)]


def _open(path: Path, name: str, zf: zipfile.ZipFile | None) -> io.BytesIO | Path:
    return io.BytesIO(zf.read(name)) if zf is not None else path / name


@dataclass
class DatasetReport:
    """What `scan_dataset` found: good files and bad, non-square or wrongly sized ones."""

    path: Path
    image_size: int
    total: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    non_square: list[tuple[str, tuple[int, int]]] = field(default_factory=list)
    wrong_size: list[tuple[str, tuple[int, int]]] = field(default_factory=list)

    def problems(self, allow_resize: bool = False) -> str:
        """One line describing what keeps this dataset from training ('' when fine)."""
        parts = []
        if self.total == 0:
            return f"no images ({', '.join(IMAGE_SUFFIXES)}) found"
        if self.bad:
            parts.append(f"{len(self.bad)} unreadable file(s), e.g. '{self.bad[0][0]}'")
        if self.non_square:
            name, (w, h) = self.non_square[0]
            parts.append(f"{len(self.non_square)} non-square image(s), e.g. '{name}' is {w}x{h}")
        if self.wrong_size and not allow_resize:
            name, (w, h) = self.wrong_size[0]
            parts.append(
                f"{len(self.wrong_size)} image(s) not {self.image_size}x{self.image_size}, e.g. "
                f"'{name}' is {w}x{h} (data.resize=true resizes them)"
            )
        return "; ".join(parts)

    def lines(self) -> list[str]:
        """A full human-readable report."""
        ok = self.total - len(self.bad) - len(self.non_square) - len(self.wrong_size)
        out = [f"{self.path}: {self.total} image file(s), {ok} ready at {self.image_size}x{self.image_size}"]  # fmt: skip
        out += [f"  bad         {n}: {why}" for n, why in self.bad]
        out += [f"  non-square  {n}: {w}x{h}" for n, (w, h) in self.non_square]
        out += [f"  wrong size  {n}: {w}x{h}" for n, (w, h) in self.wrong_size]
        return out


def scan_dataset(path: Path, image_size: int, decode: bool = True) -> DatasetReport:
    """Check every image: readable (fully decoded when `decode`), square, of `image_size`."""
    from PIL import Image, UnidentifiedImageError

    report = DatasetReport(path, image_size)
    names = list_files(path)
    report.total = len(names)
    zf = zipfile.ZipFile(path) if zipfile.is_zipfile(path) else None
    try:
        for name in names:
            try:
                with Image.open(_open(path, name, zf)) as im:
                    size = im.size
                    if decode:
                        im.load()
            except (UnidentifiedImageError, OSError, ValueError, zipfile.BadZipFile) as exc:
                report.bad.append(
                    (name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                )
                continue
            if size[0] != size[1]:
                report.non_square.append((name, size))
            elif size[0] != image_size:
                report.wrong_size.append((name, size))
    finally:
        if zf is not None:
            zf.close()
    return report


class ImageFiles(Dataset[Tensor]):
    """Images of a folder or zip as (channels, r, r) tensors in [-1, 1], decoded per item."""

    def __init__(self, path: Path, image_size: int, channels: int, mirror: bool) -> None:
        self.path, self.image_size, self.channels = path, image_size, channels
        self.names = list_files(path)
        if not self.names:
            raise ConfigError(f"data.path='{path}': no images ({', '.join(IMAGE_SUFFIXES)})")
        self.mirror = mirror
        self.is_zip = zipfile.is_zipfile(path)
        self._zip: zipfile.ZipFile | None = None  # opened lazily, once per worker process

    def __len__(self) -> int:
        return len(self.names) * (2 if self.mirror else 1)

    @property
    def files(self) -> list[Path]:
        """The files read: the zip, or every image of the folder (for data fingerprints)."""
        return [self.path] if self.is_zip else [self.path / name for name in self.names]

    def __getitem__(self, i: int) -> Tensor:
        from PIL import Image, UnidentifiedImageError

        flip, name = i >= len(self.names), self.names[i % len(self.names)]
        if self.is_zip and self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        try:
            with Image.open(_open(self.path, name, self._zip)) as im:
                arr = np.asarray(im.convert("L" if self.channels == 1 else "RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise UsageError(f"cannot read image '{name}' in '{self.path}': {exc}") from None
        x = torch.from_numpy(arr.copy())
        x = (x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)).float() / 127.5 - 1
        if x.shape[-1] != x.shape[-2]:
            raise UsageError(f"image '{name}' in '{self.path}' is not square: {tuple(x.shape[1:])}")
        x = resize(x[None], self.image_size)[0]
        return x.flip(2) if flip else x
