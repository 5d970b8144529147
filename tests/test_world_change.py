"""A resume with another number of processes (or batch size) continues the epoch's data order:
every sample of the epoch is drawn once, none twice, whichever world size took which part.

The ranks of a torchrun job are simulated in one process: one batch source per rank, each
asked for its stream with its rank and the world size, as `Run.batches` does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from ganhub.data import BatchSource, LoaderBatches, Position, TensorBatches, epoch_order
from ganhub.engine.start import data_state, resume_position

N, SEED = 1000, 3
CPU = torch.device("cpu")

SOURCES: dict[str, Callable[[], BatchSource]] = {
    "tensors": lambda: TensorBatches(torch.arange(N)),
    "loader": lambda: LoaderBatches(list(torch.arange(N))),  # a map-style dataset of ints
}


class Job:
    """One batch source and stream per rank of a simulated torchrun job."""

    def __init__(self, make: Callable[[], BatchSource], world: int, batch: int) -> None:
        self.sources = [make() for _ in range(world)]
        self.world, self.batch = world, batch
        self.streams: list[Iterator[Any]] = []

    def start(self) -> None:
        self.streams = [
            s.batches(self.batch, CPU, seed=SEED, rank=r, world=self.world)
            for r, s in enumerate(self.sources)
        ]

    def steps(self, n: int) -> list[int]:
        """The sample indices all ranks draw in `n` training steps."""
        drawn: list[int] = []
        for _ in range(n):
            for stream in self.streams:
                drawn += next(stream).tolist()
        return drawn

    def position(self) -> Position:
        """Every rank's position, the same on all (rank 0's is the one a checkpoint keeps)."""
        positions = {(s.position.epoch, s.position.index, s.position.start) for s in self.sources}
        assert len(positions) == 1, positions
        return self.sources[0].position

    def resume(self, saved: dict[str, Any], saved_world: int) -> None:
        """Every rank restores the checkpoint's data position, as `restore_training_state` does."""
        for s in self.sources:
            resume_position(saved, saved_world, s.position, self.batch, self.world)
        self.start()


def _stop_and_resume(
    kind: str, before: tuple[int, int, int], after: tuple[int, int]
) -> tuple[list[int], list[int], list[int]]:
    """Train `steps` steps at (world, batch) = `before`, checkpoint, resume at `after` and
    train into the next epoch: the samples drawn before, those drawn after in the same epoch,
    and the first step of the next one."""
    world, batch, steps = before
    first = Job(SOURCES[kind], world, batch)
    first.start()
    drawn = first.steps(steps)
    saved = data_state(first.position(), batch)
    second = Job(SOURCES[kind], *after)
    second.resume(saved, world)
    rest: list[int] = []
    while True:
        step = second.steps(1)
        if second.position().epoch == 1:
            assert (second.position().index, second.position().start) == (1, 0)
            return drawn, rest, step
        rest += step


@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ((2, 16, 10), (1, 16)),  # the QA case: 2 -> 1 trained order[320:...] twice
        ((1, 16, 15), (2, 16)),  # 1 -> 2 never drew some of the epoch
        ((2, 16, 7), (3, 24)),  # another world and another batch size
        ((3, 8, 5), (2, 16)),  # a resume that lands between two of the new world's steps
        ((1, 16, 61), (2, 16)),  # less than one step of the new world is left in the epoch
    ],
)
def test_a_resume_with_another_world_draws_each_sample_of_the_epoch_once(
    kind: str, before: tuple[int, int, int], after: tuple[int, int]
) -> None:
    drawn, rest, following = _stop_and_resume(kind, before, after)
    order = epoch_order(N, SEED, 0).tolist()
    # what the first job drew is a prefix of the epoch's permutation...
    assert sorted(drawn) == sorted(order[: len(drawn)])
    # ...and the resumed job drew the rest of it, once each, but for less than one of its steps
    seen = drawn + rest
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(order[: len(seen)])
    assert N - len(seen) < after[0] * after[1]
    # the next epoch starts at its beginning
    assert sorted(following) == sorted(epoch_order(N, SEED, 1)[: len(following)].tolist())


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_two_to_one_resume_draws_what_one_process_would_have(kind: str) -> None:
    """Dealt in turn, two ranks' steps are a prefix of one process's order, so stopping two
    processes after 10 steps of 16 and resuming one goes on exactly as one process would."""
    drawn, rest, _ = _stop_and_resume(kind, (2, 16, 10), (1, 16))
    alone = Job(SOURCES[kind], 1, 16)
    alone.start()
    assert sorted(drawn) == sorted(alone.steps(20))
    assert rest == alone.steps(len(rest) // 16)


@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize("world", [1, 2])
def test_a_resume_with_the_same_world_is_the_uninterrupted_stream(kind: str, world: int) -> None:
    """Also for a position a world change left mid-way (start not 0), resumed once more."""
    straight = Job(SOURCES[kind], world, 16)
    straight.start()
    expected = straight.steps(70)  # into the second epoch

    first = Job(SOURCES[kind], world, 16)
    first.start()
    drawn = first.steps(12)
    again = Job(SOURCES[kind], world, 16)
    again.resume(data_state(first.position(), 16), world)
    assert again.position() == first.position()
    drawn += again.steps(58)
    assert drawn == expected

    changed = Job(SOURCES[kind], 3, 10)
    changed.resume(data_state(first.position(), 16), world)
    changed.steps(3)
    assert changed.position().start != 0  # 192 or 384 samples in: not whole steps of 30
    later = Job(SOURCES[kind], 3, 10)
    later.resume(data_state(changed.position(), 10), 3)
    assert later.position() == changed.position()
    assert later.steps(60) == changed.steps(60)


def test_one_process_keeps_the_epoch_permutation() -> None:
    """One process draws each epoch's seeded permutation in order, as before ranks were dealt
    their samples in turn."""
    for epoch in (0, 5):
        gen = torch.Generator().manual_seed(SEED * 1_000_003 + epoch)
        assert torch.equal(epoch_order(N, SEED, epoch), torch.randperm(N, generator=gen))
    shares = [epoch_order(N, SEED, 0, rank, 3) for rank in range(3)]
    assert [len(s) for s in shares] == [333] * 3  # equal shares; the remainder is left out
    assert sorted(torch.cat(shares).tolist()) == sorted(epoch_order(N, SEED, 0)[:999].tolist())


@pytest.mark.parametrize(
    "saved",
    [
        {"epoch": 0, "index": 1, "batch": 16, "start": -1},
        {"epoch": 0, "index": 1, "batch": 16, "start": "x"},
    ],
)
def test_a_damaged_start_is_a_value_error(saved: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="data position"):
        resume_position(saved, 2, Position(), 16, 1)
    with pytest.raises(ValueError, match="number of processes"):
        resume_position({"epoch": 0, "index": 1}, "2", Position(), 16, 1)
