"""Batch sources: in-memory tensors indexed in batches, or a dataset read by worker processes.

Both draw per-epoch permutations from (seed, epoch), deal them out to the ranks in turn, drop
the last partial batch, and remember (epoch, batches consumed), so a resumed run sees exactly
the batches an uninterrupted run would have seen. Dealt in turn, the samples all ranks have
taken are always a prefix of the epoch's permutation, so a run resumed with another number of
processes (or another batch size) continues the epoch after it: nothing repeated, nothing left out.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganhub.data.ahead import ahead_on_device, to_device
from ganhub.errors import ConfigError, GanhubError
from ganhub.plural import counted


@dataclass
class Position:
    """Where a batch stream is: epoch number, batches this rank has taken from that epoch, and
    the samples of the epoch all ranks had taken before those (`start`, set by a resume with
    another number of processes or batch size; 0 otherwise)."""

    epoch: int = 0
    index: int = 0
    start: int = 0


def epoch_order(
    n: int, seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0
) -> Tensor:
    """This rank's sample indices for an epoch: a seeded permutation from sample `start` on,
    dealt to the ranks in turn (rank r takes every world-th, from the r-th) in equal shares.

    Batch i of every rank then covers samples start + i*batch*world onwards of the
    permutation, so after any number of batches all ranks together have taken a prefix of it.
    """
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=gen)
    per_rank = max(n - start, 0) // world
    return order[start + rank :: world][:per_rank]


def samples_taken(position: Position, batch_size: int, world: int) -> int:
    """How many samples of its epoch all ranks together have taken at `position`."""
    return position.start + position.index * batch_size * world


def continue_epoch(epoch: int, taken: int, batch_size: int, world: int) -> Position:
    """The position that continues an epoch after its first `taken` samples, in batches of
    `batch_size` on `world` ranks (the same position a run at that size would be at, when
    `taken` is a whole number of its steps)."""
    step = batch_size * world
    return Position(epoch, taken // step, taken % step)


class BatchSource(ABC):
    """Training data for the loop; `batches` yields device batches forever."""

    position: Position

    @abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    @abstractmethod
    def batches(
        self, batch_size: int, device: torch.device, *, seed: int, rank: int = 0, world: int = 1
    ) -> Iterator[Any]:
        """Yield batches on `device` forever, starting at `self.position`."""

    @abstractmethod
    def gather(self, idx: Tensor) -> Tensor:
        """The samples at indices `idx` as one tensor on the CPU, in the data's dtype (the real
        samples that metrics compare with; for (x, label) data, x alone)."""

    def gather_labels(self, idx: Tensor) -> Tensor | None:
        """The labels of the samples at `idx` (on the CPU), or None for unlabelled data."""
        return None

    def stood_in_rows(self) -> set[int]:
        """The rows `gather` decoded from a stand-in in this process, their own file being
        unreadable (`data.skip_bad`): `ganhub data convert` leaves them out. None here."""
        return set()

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this data cheaply (size and a hash of a strided subset), for caches."""
        n = len(self)
        idx = torch.arange(0, n, max(1, n // 64))
        sub = self.gather(idx).contiguous()
        digest = hashlib.sha256(sub.numpy().tobytes()).hexdigest()[:16]
        return {"n": n, "shape": list(sub.shape[1:]), "sample": digest}

    def check_batch_size(self, batch_size: int, world: int) -> int:
        """Batches per epoch on each of `world` processes; a ConfigError when a batch is
        larger than the data (the engine asks before it creates a run directory)."""
        per_epoch = (len(self) // world) // batch_size
        if per_epoch == 0:
            raise ConfigError(
                f"trainer.batch_size={batch_size}: the dataset has only "
                f"{counted(len(self), 'samples')} for {counted(world, 'processes')}; use a smaller "
                "batch or more data"
            )
        return per_epoch


class TensorBatches(BatchSource):
    """Batches gathered from tensors in memory (moved to the device once): no per-sample work.

    `augment`, if given, is applied to each gathered batch on the device (batched ops only).
    """

    def __init__(self, *tensors: Tensor, augment: Callable[[Tensor], Tensor] | None = None) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorBatches needs tensors of equal length")
        self.tensors = tensors
        self.augment = augment
        self.position = Position()

    def __len__(self) -> int:
        return len(self.tensors[0])

    def gather(self, idx: Tensor) -> Tensor:
        """The first tensor's rows at `idx` (the samples; labels are left out)."""
        return self.tensors[0][idx].cpu()

    def gather_labels(self, idx: Tensor) -> Tensor | None:
        """The second tensor's rows at `idx` (the labels of (x, label) data), else None."""
        return self.tensors[1][idx].cpu() if len(self.tensors) > 1 else None

    def batches(
        self, batch_size: int, device: torch.device, *, seed: int, rank: int = 0, world: int = 1
    ) -> Iterator[Any]:
        """Yield batches forever from the tensors, gathered on `device`."""
        self.check_batch_size(batch_size, world)
        data = [t.to(device) for t in self.tensors]
        while True:
            at = self.position
            order = epoch_order(len(self), seed, at.epoch, rank, world, at.start).to(device)
            per_epoch = len(order) // batch_size
            while self.position.index < per_epoch:
                i = self.position.index
                idx = order[i * batch_size : (i + 1) * batch_size]
                batch = [t[idx] for t in data]
                if self.augment is not None:
                    batch[0] = self.augment(batch[0])
                self.position.index += 1
                yield batch[0] if len(batch) == 1 else tuple(batch)
            self.position = Position(self.position.epoch + 1, 0)


class EpochBatches:
    """The index batches of every epoch from a position on, for one DataLoader kept for the
    whole stream: its workers live on and read ahead over epoch boundaries (a loader built per
    epoch forked its workers anew at each one, with nothing read ahead there).

    `left(at)` gives the batches of the epoch at `at` from its batch `at.index` on. The loader
    draws batches ahead of those handed out, so the epoch's end is noted as the loader draws
    it, and `hand_out` moves a source's position by the batches handed out alone.
    """

    def __init__(self, left: Callable[[Position], Sequence[list[int]]], first: Position) -> None:
        self.left = left
        self.first = Position(first.epoch, first.index, first.start)
        self.ends: dict[int, int] = {}  # epoch -> its number of batches, once drawn

    def __iter__(self) -> Iterator[list[int]]:
        at = self.first
        while True:
            batches = self.left(at)
            self.ends[at.epoch] = at.index + len(batches)
            yield from batches
            at = Position(at.epoch + 1, 0)

    def hand_out(self, source: BatchSource, batches: Iterable[Any]) -> Iterator[Any]:
        """Yield `batches`, counting each in `source.position`; after an epoch's last batch the
        position stays (epoch, its length) until the next batch is handed out."""
        for batch in batches:
            at = source.position
            while at.index >= self.ends[at.epoch]:
                del self.ends[at.epoch]
                source.position = at = Position(at.epoch + 1, 0)
            at.index += 1
            yield batch


class LoaderBatches(BatchSource):
    """Batches from a map-style dataset read by DataLoader workers, copied to the device ahead.

    Decoding happens in `num_workers` processes, started once for the whole stream (one loader
    for every epoch, `EpochBatches`); on CUDA, pinned memory and a copy one batch ahead on a
    side stream (`ahead_on_device`) let the host-to-device copy run under the
    previous step. Over image files (`SkippingFiles`) without `data.skip_bad`, every file's
    header is read when the source is made (about 30 us a file): one that is no image is
    refused in one line naming it, before step one.
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        num_workers: int = 0,
        collate: Callable[[list[Any]], Any] | None = None,
        files: Sequence[Path] = (),
        labels: Tensor | None = None,
    ) -> None:
        from ganhub.data.images import SkippingFiles, refuse_unreadable

        if isinstance(dataset, SkippingFiles) and not dataset.skip_bad:
            # image folders: a file that is no image is refused now, before a run starts, not
            # when first drawn (hours in, perhaps); `data.skip_bad` has left such files out
            refuse_unreadable(dataset.files)
        self.dataset = dataset
        self.num_workers = num_workers
        self.collate = collate
        self.labels = labels  # every item's label, known without decoding (labelled folders)
        # the files the dataset reads, if it reads files: their sizes and times identify the
        # data in caches (a decoded subset alone misses a changed file outside it)
        self.files = list(files)
        self.position = Position()

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def gather(self, idx: Tensor) -> Tensor:
        """Decode the items at `idx` (in this process) and stack their first element."""
        items = [self.dataset[i] for i in idx.tolist()]
        if self.collate is not None:
            batch = self.collate(items)
            return batch[0] if isinstance(batch, tuple | list) else batch
        return torch.stack([x[0] if isinstance(x, tuple | list) else x for x in items])

    def gather_labels(self, idx: Tensor) -> Tensor | None:
        """The labels at `idx` when the dataset's labels were given, else None."""
        return self.labels[idx] if self.labels is not None else None

    def stood_in_rows(self) -> set[int]:
        """The rows a `SkippingFiles` dataset (image folders under `data.skip_bad`) decoded
        from a stand-in in this process."""
        from ganhub.data.images import SkippingFiles

        return set(self.dataset.skipped) if isinstance(self.dataset, SkippingFiles) else set()

    def fingerprint(self) -> dict[str, Any]:
        """The decoded subset's hash, plus the name, size and time of every file read."""
        fp = super().fingerprint()
        if self.files:
            fp["files"] = files_digest(self.files)
        return fp

    def batches(
        self, batch_size: int, device: torch.device, *, seed: int, rank: int = 0, world: int = 1
    ) -> Iterator[Any]:
        """Yield batches forever, decoded by workers and copied to `device` one batch ahead."""
        from ganhub.data.images import SkippingFiles

        self.check_batch_size(batch_size, world)
        files = self.dataset if isinstance(self.dataset, SkippingFiles) else None
        if files is not None:  # before the loader starts its workers, which copy it
            files.stream_seed = seed

        def left(at: Position) -> list[list[int]]:
            drawn = epoch_order(len(self), seed, at.epoch, rank, world, at.start)
            if files is not None:  # data.skip_bad: a stand-in drawn by (seed, epoch, file)
                drawn = files.drawn(drawn, at.epoch)
            order = drawn.tolist()
            per_epoch = len(order) // batch_size
            return [
                order[i * batch_size : (i + 1) * batch_size] for i in range(at.index, per_epoch)
            ]

        sampler = EpochBatches(left, self.position)
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=self.collate,
            pin_memory=device.type == "cuda",
            # its own generator: without one the loader draws its workers' seed from the
            # global RNG; seeded by the run's seed alone, not by the epoch a stream starts in,
            # the workers' seed is the same in a resumed run as in an unbroken one
            generator=torch.Generator().manual_seed(seed * 1_000_003),
            worker_init_fn=worker_stops_on_sigterm,
        )
        cpu_batches = _worker_errors_as_one_line(loader)
        yield from sampler.hand_out(self, ahead_on_device(cpu_batches, device))


def files_digest(files: Sequence[Path]) -> str:
    """A hash of every file's name relative to the files' common folder, size and modification
    time: it identifies data read from files in caches, wherever the folder is (a folder moved
    with its times kept, or reached by another path, keeps its cached feature networks and
    statistics); an edited, added or removed file changes it."""
    root = os.path.commonpath([str(p) for p in files]) if len(files) > 1 else None
    stats = []
    for p in files:
        st = p.stat()
        name = os.path.relpath(p, root) if root is not None else p.name
        stats.append((Path(name).as_posix(), st.st_size, st.st_mtime_ns))
    return hashlib.sha256(repr(stats).encode()).hexdigest()[:16]


def worker_stops_on_sigterm(worker_id: int) -> None:
    """A DataLoader's `worker_init_fn`: SIGTERM ends the worker as Ctrl-C's SIGINT does, a
    clean exit the training process then lets pass, and not by its default action, which the
    DataLoader reports in the training process as a worker's crash, raised wherever that
    process is (mid-step). A signal sent to every process of a job (`kill -TERM -PGID`, SLURM
    at its time limit, systemd) then lets the run save its checkpoint on the way out, as it
    does with no workers."""
    import signal

    signal.signal(signal.SIGTERM, _end_worker)


def _end_worker(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the DataLoader worker's loop ends on it, with exit status 0


def _worker_errors_as_one_line(loader: DataLoader[Any]) -> Iterator[Any]:
    """Iterate a DataLoader; a ganhub error raised in a worker process comes back as itself.

    PyTorch re-raises a worker's exception with the worker's whole traceback in its message;
    for our own errors (an unreadable file...) the last line is the message the user needs.
    """
    try:
        yield from loader
    except GanhubError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        if len(lines) > 1 and "Traceback" in str(exc):
            last = lines[-1].split(": ", 1)[-1]  # "ganhub.errors.UsageError: cannot read..."
            raise type(exc)(last) from None
        raise


def split_batch(batch: Any, parts: int) -> Sequence[Any]:
    """Split a batch along dim 0 into `parts` micro-batches (gradient accumulation)."""
    if parts == 1:
        return [batch]
    if isinstance(batch, Tensor):
        return batch.chunk(parts)
    if isinstance(batch, tuple | list):
        columns = [split_batch(b, parts) for b in batch]
        return [type(batch)(col[i] for col in columns) for i in range(parts)]
    if isinstance(batch, dict):
        split = {k: split_batch(v, parts) for k, v in batch.items()}
        return [{k: v[i] for k, v in split.items()} for i in range(parts)]
    raise TypeError(f"cannot split a batch of type {type(batch).__name__}")


__all__ = [
    "BatchSource",
    "EpochBatches",
    "LoaderBatches",
    "Position",
    "TensorBatches",
    "ahead_on_device",
    "continue_epoch",
    "epoch_order",
    "files_digest",
    "samples_taken",
    "split_batch",
    "to_device",
    "worker_stops_on_sigterm",
]
