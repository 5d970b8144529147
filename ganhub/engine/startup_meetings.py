"""What the ranks of a torchrun job tell each other in torchrun's own key-value store (which
torchrun serves itself, so it outlives every rank), and the errors a rank ends with when
another one stopped.

While the job starts up (from joining the process group to the first collective of training)
the ranks also meet in the store before each collective (`meet`): there a rank waits in Python,
so a rank that fails while it builds its models, reads its data or resumes ends the others at
once, naming it, where NCCL waited in C++ for its whole timeout and gloo until the failing
process ended. A rank other than 0 that fails then waits a little for rank 0 to have said so
(`part`) before it exits: torchrun stops the other ranks as soon as one exits, and rank 0,
stopped between its error and its line, said nothing at all.

What the ranks say after their process group exists belongs to one run (`run_key`): rank 0
numbers the job's runs and every rank takes its number when the group is created (`start`), so
a process that trains again (`ganhub.train` twice, after a rank failed while the job started)
meets the others in step and hears no earlier run's failure. Where the ranks arrive at the
group in torchrun's store, each takes the run's number as soon as every rank came (`agree`),
before the group is built: a rank that fails in between says so where rank 0 reads. Before the
ranks agree on a run, they say what they say in the keys of this process's try (`run_key`): a
script's every `ganhub.train` or `ganhub.cli.main` is one try on every rank, whether the
rank came to the process group or failed before it (a config only its node refuses, even before
the engine was imported: `ganhub.interrupts` counts the tries), so what a rank said in an
earlier try is never read as this one's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

import torch.distributed as dist
from torch.distributed import DistError
from torch.distributed.constants import default_pg_nccl_timeout, default_pg_timeout

from ganhub.engine.rundir import MAX_RANK_ERROR
from ganhub.engine.store_cleanup import clear_behind, leave_try, run_ended
from ganhub.errors import GanhubError, TrainingError, one_line
from ganhub.interrupts import (
    begin_try,
    failure_line,
    job_key,
    job_store,
    said_in_try,
    try_key,
    try_number,
)
from ganhub.interrupts import end_try as end_job_try
from ganhub.plural import counted

# how long ranks wait for each other (the process group's timeout, and for every rank to come
# to it): seconds, else torch's default for the backend (30 minutes with gloo, 10 with NCCL)
TIMEOUT_ENV = "GANHUB_DIST_TIMEOUT"
# the longest a rank that failed while the job started waits for rank 0 to say so (`part`)
PART_WAIT_S = 10.0


class Place(Protocol):
    """A rank's place in its job (`ganhub.engine.distributed.DistInfo`)."""

    @property
    def rank(self) -> int: ...
    @property
    def world(self) -> int: ...
    @property
    def timeout_s(self) -> float | None: ...


# while the job starts up (from `start` to its first collective of training): this rank and
# the job's store, where the ranks meet before each collective (`meet`); None once training
# started. `_met` counts the meetings of this run (the same on every rank)
_starting: tuple[Place, dist.Store] | None = None
_met = 0
# the number of the run whose group this process joined last (`start`), the same on every rank;
# None before the ranks agreed on it (they arrive, or fail to, in the job's own keys)
_run: int | None = None
# this rank failed with its own error while the job started, and told the others (`tell`)
_told: tuple[Place, dist.Store] | None = None
# the ranks built their process group and started the run (`start`): rank 0 speaks for the job
_formed = False


class PeerStopped(GanhubError):
    """A collective failed because another process of the job stopped (its own error says why)."""


class PeerFailed(PeerStopped):
    """A collective failed because another rank failed with its own error, which it left in the
    run directory (`rundir.leave_rank_failure`): that rank and its error, in one line."""

    def __init__(self, rank: int, peer: int, error: str, others: int = 0) -> None:
        also = f" ({counted(others, 'other ranks')} failed too)" if others else ""
        super().__init__(f"rank {rank}: rank {peer} of this job failed: {error}{also}")
        self.rank, self.peer, self.error, self.others = rank, peer, error, others

    def __reduce__(self) -> tuple[type[PeerFailed], tuple[int, int, str, int]]:
        return (PeerFailed, (self.rank, self.peer, self.error, self.others))  # pickles whole


class CollectiveTimeout(TrainingError):
    """A collective waited longer than the job's timeout for another rank that is still
    running: this rank's own error (told to the others), not a failure of another rank."""

    def __init__(self, seconds: float, rank: int = 1) -> None:
        # a rank other than 0 most likely waited for rank 0's own work
        why = (
            "another rank was slower by that much (its data, say), or hangs"
            if rank == 0
            else "a rank was busy alone for longer (rank 0 alone evaluates, writes samples and "
            "checkpoints: lower eval.n_samples and eval.n_real, or raise trainer.eval_every), "
            "or hangs"
        )
        super().__init__(
            f"waited {duration(seconds)} at a collective for another rank of this job, the "
            f"longest torch waits: {why}; {TIMEOUT_ENV}=SECONDS sets how long ranks wait"
        )
        self.seconds, self.rank = seconds, rank

    def __reduce__(self) -> tuple[type[CollectiveTimeout], tuple[float, int]]:
        return (CollectiveTimeout, (self.seconds, self.rank))


def duration(seconds: float) -> str:
    """`0.5 s`, `90 s`, `30 min`: how long a collective waited."""
    return f"{seconds:.3g} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def run_key(what: str, rank: int | str) -> str:
    """`interrupts.job_key` within this process's run (`_run`): what its ranks say there is
    never read by another run of the same job. Before they agreed on one, within this try
    (`interrupts.try_key`, where `interrupts` tells an early failure too)."""
    if _run is not None:
        return job_key(f"run{_run}/{what}", rank)
    return try_key(what, rank)


def store_failures(info: Place, store: dist.Store | None = None) -> list[tuple[int, str]]:
    """(rank, error line) of the other ranks that said in torchrun's store that they failed
    (rank 0 only ever before it joined: then it speaks for the job). What another process
    wrote is shown as one line of at most MAX_RANK_ERROR characters."""
    store = store or job_store()
    found: list[tuple[int, str]] = []
    if store is None:
        return found
    with contextlib.suppress(RuntimeError):
        for rank in range(info.world):
            key = run_key("failed", rank)
            if rank != info.rank and store.check([key]):  # check does not wait; get would
                text = store.get(key).decode("utf-8", "replace")
                found.append((rank, one_line(" ".join(text.split()), MAX_RANK_ERROR)))
    return found


def wait_limit(info: Place, backend: str) -> float:
    """The longest ranks wait for each other (seconds): GANHUB_DIST_TIMEOUT, else torch's."""
    default = default_pg_nccl_timeout if backend == "nccl" else default_pg_timeout
    return info.timeout_s or (default or timedelta(minutes=30)).total_seconds()


def wait_all(info: Place, store: dist.Store, what: str, backend: str) -> float:
    """Say in `store` that this rank came to `what` and wait until every rank has, or raise
    `PeerFailed` (`PeerStopped` for rank 0) as soon as another rank said it failed; 0, or the
    seconds waited in vain when that is the longest ranks wait. Costs two store requests per
    wait of 10 ms (world / 1600 s past 16 ranks: at most 3,200 requests a second)."""
    limit = wait_limit(info, backend)
    longest = 0.01 * max(1.0, info.world / 16)
    started, pause = time.monotonic(), 0.002
    came = store.add(run_key(what, "count"), 1)
    while came < info.world:
        if store.add(run_key("failed", "count"), 0):
            failed = store_failures(info, store)
            if failed:
                (peer, error), others = failed[0], len(failed) - 1
                raise PeerFailed(info.rank, peer, error, others)
            if info.rank and store.check([run_key("stopped", 0)]):
                raise PeerStopped(
                    f"rank {info.rank}: rank 0 of this job stopped (it failed while the job "
                    "started); its own message says why"
                )
        if time.monotonic() - started > limit:
            return limit
        time.sleep(pause)
        pause = min(2 * pause, longest)
        came = store.add(run_key(what, "count"), 0)
    return 0.0


def arrive() -> None:
    """(`distributed.init`, before the ranks come to their process group.) A new run: until the
    ranks agree on its number (`start`) they say what they say in the keys of this try (the
    next number after an earlier try that did not end: its error reached no `before_exit`
    hook)."""
    global _run, _met, _formed
    begin_try()
    _run, _met, _formed = None, 0, False


def agree(number: int) -> None:
    """(`distributed.init`, once every rank came to the group with rank 0's `number`,
    `group_arrival`.) This run is run `number` on every rank: what a rank says from here on is
    in its keys."""
    global _run
    _run = number


def end_try(closed: bool = False, place: Place | None = None) -> None:
    """(`distributed`: a run's shutdown once it trained, or the last `before_exit` hook after
    an error.) This process's try ends (`interrupts.end_try`): its next (`ganhub.train`
    again) says what it says in keys of its own, as every other rank's next does, whether it
    came to the process group in this one or failed before it and said so. `closed`: the run
    closed fine (an error after it is this rank's alone). Nothing else of this run is left.
    A try that failed on `place` (this rank) is left in the store (`store_cleanup.leave_try`):
    the last rank to leave it removes its keys, and those of the runs before its own."""
    global _run, _met, _starting, _told, _formed
    run_ended(_run, _met)
    number, run = try_number(), _run
    end_job_try(closed)
    _run, _met, _starting, _told, _formed = None, 0, None, None, False
    if not closed and place is not None and try_number() > number:  # it said something
        store = job_store()
        if store is not None:
            with contextlib.suppress(RuntimeError):  # DistError: the store went away
                leave_try(store, place.world, number, run)


def number_run(store: dist.Store) -> int:
    """(Rank 0, as it comes to a process group of its own.) The next run's number: the job's
    runs counted in `store` (1 for the first)."""
    return int(store.add(job_key("runs", "count"), 1))


def unnumber_run(store: dist.Store) -> None:
    """(Rank 0, whose arrival failed before every rank came.) The run's number goes back: the
    next run takes it (only rank 0 numbers runs, one at a time)."""
    store.add(job_key("runs", "count"), -1)


def group_keys(number: int) -> str:
    """Where the ranks of run `number` build their process group in torchrun's store (torch's
    rendezvous: each rank's address), apart from every other run's."""
    return job_key(f"run{number}", "group")


def start(info: Place, share: Callable[[int], int], number: int | None = None) -> None:
    """(`distributed.init`, once the process group exists.) The job starts up: meet before each
    collective until training starts (nothing where there is no torchrun store). First the
    ranks agree on this run's number: rank 0 numbered it as they arrived at the group
    (`number`: every rank read it there and took it, `agree`), else counts the job's runs now
    and `share`s it (a broadcast, where every rank is: at the group it has just joined). With
    `number`, no collective: a rank that failed after it arrived ends rank 0 at the first
    meeting, in Python, where a broadcast waited in C++ (NCCL connects the ranks at the first
    collective) for the whole timeout. The keys the ranks arrived in are their try's: the
    next try meets in keys of its own (`end_try`), nothing needs clearing."""
    global _starting, _run, _formed
    _formed = True
    store = job_store()
    _starting = (info, store) if store is not None else None
    if store is None:
        return
    if number:
        _run = number
        return
    mine = 0
    if not info.rank:
        with contextlib.suppress(DistError):  # the store went away: run 0, on every rank
            mine = number_run(store)
    _run = share(mine)


def starting() -> bool:
    """Whether the job is still starting up (its ranks meet before each collective)."""
    return _starting is not None


def stop() -> None:
    """(`distributed.shutdown`.) No more meetings: this process left the group."""
    global _starting
    _starting = None


def meet(last: bool = False) -> None:
    """Before a collective while the job starts up (building models, loading data, resuming),
    wait for every rank in Python, as `distributed.init` does before the process group: a rank
    that failed meanwhile (it said so in the store) ends the others at once, naming it. `last`:
    training starts; later collectives cost one test of a global. Costs the requests of
    `wait_all`, three or four times per run."""
    global _starting, _met
    if _starting is None:
        return
    info, store = _starting
    if last:
        _starting = None
    _met += 1
    backend = dist.get_backend() if dist.is_initialized() else "gloo"
    with contextlib.suppress(DistError):  # the store went away: torch's own wait
        limit = wait_all(info, store, f"met{_met}", str(backend))
        if limit:
            raise CollectiveTimeout(limit, info.rank)
        if _met == 1 and not info.rank and _run is not None:  # every rank agreed on the run
            clear_behind(store, info.world, try_number(), _run)


def tell(info: Place, error: BaseException, ending: bool = False) -> None:
    """Tell the other ranks this one fails with its own `error`: its line; rank 0 (it speaks
    for the job) only that it stops, while the job starts up (later a collective fails).
    `ending`: the error ends the command (`distributed._last_words`); before the ranks started
    their run (`start`) rank 0 tells its line too, as the others wait for it at the process
    group."""
    global _told
    if not info.rank and not (ending and not _formed):
        if _starting is not None:
            with contextlib.suppress(RuntimeError):
                _starting[1].set(run_key("stopped", 0), "1")
                _starting[1].add(run_key("failed", "count"), 1)
        return
    store = _starting[1] if _starting is not None else job_store()
    if store is not None:  # as `interrupts.tell_job`, within this run (or try)
        with contextlib.suppress(RuntimeError):
            store.set(run_key("failed", info.rank), failure_line(error))
            store.add(run_key("failed", "count"), 1)
            said_in_try(run_key)
    if _starting is not None:
        _told = _starting


def part(info: Place) -> None:
    """(The last `before_exit` hook, once this process has left the group.) Rank 0 says in the
    store that it is about to say why it stops; another rank that told the others it failed
    while the job started waits for that, at most PART_WAIT_S: rank 0, at its meeting, learns
    of the failure at once, and its line ("rank 1 of this job failed: ...") comes before
    torchrun, seeing this rank exit, stops it (which before, now and then, stopped it silently
    between its error and its line)."""
    global _told
    told, _told = _told, None
    with contextlib.suppress(RuntimeError):  # DistError: the store went away
        if not info.rank:
            store = _starting[1] if _starting is not None else job_store()
            if store is not None:
                store.set(run_key("parted", 0), "1")
        elif told is not None:
            store, until = told[1], time.monotonic() + PART_WAIT_S
            while not store.check([run_key("parted", 0)]) and time.monotonic() < until:
                time.sleep(0.01)


__all__ = [
    "PART_WAIT_S",
    "TIMEOUT_ENV",
    "CollectiveTimeout",
    "PeerFailed",
    "PeerStopped",
    "Place",
    "agree",
    "arrive",
    "duration",
    "end_try",
    "group_keys",
    "meet",
    "number_run",
    "part",
    "run_key",
    "start",
    "starting",
    "stop",
    "store_failures",
    "tell",
    "unnumber_run",
    "wait_all",
    "wait_limit",
]
