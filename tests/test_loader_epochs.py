"""Folder loaders keep one DataLoader, and so one set of worker processes, for the whole batch
stream: epoch boundaries neither fork the workers anew nor stop them reading ahead, while each
epoch keeps its seeded order and a stream started at a checkpoint's position continues exactly.

The datasets here give each sample's index with the id of the process that read it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

import pytest
import torch
from ganhub_cyclegan.data import FolderBatches, epoch_keys

from ganhub.data import BatchSource, LoaderBatches, Position, epoch_order

N, BATCH, SEED = 21, 4, 7  # 5 batches an epoch, one sample left out
CPU = torch.device("cpu")


class Ints(torch.utils.data.Dataset[Any]):
    """Sample i is (i, the reading process's id)."""

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> tuple[int, int]:
        return i, os.getpid()


class Pairs:
    """A stand-in for cyclegan's FolderPairs: the key's domain indices and the process id."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        self.shape = sizes

    def sizes(self) -> tuple[int, ...]:
        return self.shape

    def __len__(self) -> int:
        return max(self.shape)

    def __getitem__(self, key: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor([int(k) for k in key[:-1]]), torch.tensor(os.getpid())


def loader(workers: int) -> BatchSource:
    return LoaderBatches(Ints(), num_workers=workers)


def folders(workers: int) -> BatchSource:
    return FolderBatches(Pairs((N, 13)), num_workers=workers)  # type: ignore[arg-type]


SOURCES: dict[str, Callable[[int], BatchSource]] = {"loader": loader, "folders": folders}


def samples(batch: Any) -> list[Any]:
    """The samples of a batch, without the process ids."""
    return batch[0].tolist()


def pids(batch: Any) -> set[int]:
    return set(batch[1].flatten().tolist())


def expected(kind: str, epochs: int) -> list[list[Any]]:
    """Every batch of the first `epochs` epochs as each epoch's seeded order makes them."""
    out = []
    for epoch in range(epochs):
        if kind == "loader":
            rows = epoch_order(N, SEED, epoch).tolist()
        else:
            rows = epoch_keys((N, 13), SEED, epoch)[:, :2].tolist()
        out += [rows[i * BATCH : (i + 1) * BATCH] for i in range(len(rows) // BATCH)]
    return out


def stream(source: BatchSource) -> Iterator[Any]:
    return source.batches(BATCH, CPU, seed=SEED)


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_one_worker_reads_every_epoch(kind: str) -> None:
    """A loader built per epoch forked its worker anew at each epoch boundary: four epochs were
    read by four processes, each started (and its first batches decoded) while training waited."""
    batches = list(islice(stream(SOURCES[kind](1)), 4 * 5))
    assert [samples(b) for b in batches] == expected(kind, 4)
    workers = set().union(*(pids(b) for b in batches))
    assert len(workers) == 1 and os.getpid() not in workers


@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize("workers", [0, 2])
def test_each_epoch_keeps_its_order_and_the_position_counts_batches_handed_out(
    kind: str, workers: int
) -> None:
    source = SOURCES[kind](workers)
    batches = stream(source)
    positions, drawn = [], []
    for _ in range(3 * 5):
        drawn.append(samples(next(batches)))
        positions.append((source.position.epoch, source.position.index))
    assert drawn == expected(kind, 3)
    # after an epoch's last batch the position is (epoch, 5) until the next batch is taken
    assert positions == [(e, i) for e in range(3) for i in range(1, 6)]


@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("taken", [3, 5, 7, 10])  # mid-epoch, at an epoch's end, mid, at an end
def test_a_stream_started_at_a_saved_position_goes_on_as_the_unbroken_one(
    kind: str, workers: int, taken: int
) -> None:
    first = SOURCES[kind](workers)
    unbroken = [samples(b) for b in islice(stream(first), taken + 8)]
    saved = SOURCES[kind](workers)
    head = [samples(b) for b in islice(stream(saved), taken)]
    resumed = SOURCES[kind](workers)
    at = saved.position
    resumed.position = Position(at.epoch, at.index, at.start)
    assert head + [samples(b) for b in islice(stream(resumed), 8)] == unbroken


def test_a_resume_with_a_start_continues_after_the_samples_taken() -> None:
    """A position with `start` (a resume with another world size) reads that epoch from the
    sample `start` on, then whole epochs."""
    source = loader(2)
    source.position = Position(1, 1, 3)
    got = [samples(b) for b in islice(stream(source), 3 + 5)]
    rest = epoch_order(N, SEED, 1, start=3).tolist()  # 18 samples: 4 batches, the first taken
    assert got[:3] == [rest[i * BATCH : (i + 1) * BATCH] for i in range(1, 4)]
    assert got[3:] == expected("loader", 3)[10:]


def test_folder_pairs_leave_the_global_rng_alone() -> None:
    """Each DataLoader iterator without a generator of its own draws its workers' seed from the
    global RNG: a loader per epoch drew once an epoch, so a run resumed mid-epoch drew once more
    than an unbroken one and its noise differed from there on."""
    torch.manual_seed(0)
    before = torch.get_rng_state()
    list(islice(stream(folders(0)), 3 * 5 + 1))
    assert torch.equal(torch.get_rng_state(), before)
