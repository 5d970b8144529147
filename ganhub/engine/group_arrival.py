"""The ranks of a torchrun job come to their process group (`ganhub.engine.distributed.init`):
each says in torchrun's store that it came, rank 0 with the run's number, and waits in Python
for the others, so a rank that failed before it came ends the others at once, naming it.

A run's number is the job's only while its ranks may build a group in its keys: rank 0 takes
the next one as it arrives, and gives it back when the arrival fails before every rank came
(then no rank passes the arrival with it, so no process group used its keys), so the runs that
formed are numbered 1, 2, 3... with no gap for a try that a rank refused before it came.
"""

from __future__ import annotations

import contextlib

import torch.distributed as dist
from torch.distributed import DistError

from ganhub.engine.startup_meetings import (
    TIMEOUT_ENV,
    Place,
    duration,
    number_run,
    run_key,
    unnumber_run,
    wait_all,
)
from ganhub.errors import TrainingError
from ganhub.interrupts import job_store
from ganhub.plural import agreeing


def arrive_at_group(info: Place, backend: str) -> tuple[dist.Store, int] | None:
    """Say in torchrun's store that this rank came to the process group and wait until every
    rank has: in Python, so that another rank that failed before it came (a config, a path
    or a device only its node refuses: it said so, `interrupts._failed_early`) ends this one
    at once, in one line naming that rank and its error (`PeerFailed`), and torchrun's SIGTERM
    unwinds it, where torch waited in C++ for the whole timeout. Rank 0 arrives with the run's
    number (`startup_meetings.number_run`), which every rank reads once all came (and takes as
    its run's at once, `startup_meetings.agree`): the store and that number, or None where
    there is no torchrun store. Costs four store requests per rank (rank 0: two more when
    the arrival fails), and two per wait of 10 ms (world / 1600 s past 16 ranks: at most 3,200
    requests a second), the most the job's start is delayed after the last rank came."""
    store = job_store()
    if store is None:
        return None
    try:
        # which ranks came, should some never come; rank 0: with the run's number
        mine = str(number_run(store)) if not info.rank else "0"
        store.set(run_key("arrived", info.rank), mine)
        try:
            limit = wait_all(info, store, "arrived", backend)
            if limit:
                raise not_arrived(info, store, limit)
        except BaseException:
            if not info.rank:  # no rank passes with this number: the next run takes it
                with contextlib.suppress(RuntimeError):
                    _close_arrival(info, store)
            raise
        return store, int(store.get(run_key("arrived", 0)))
    except DistError:  # the store went away (its node's torchrun stopped): torch's own wait
        return None


def _close_arrival(info: Place, store: dist.Store) -> None:
    """(Rank 0, its arrival failed.) Take `world` from the count of ranks that came, at once
    (one request: a rank coming later can no longer make it `world`), and when not every rank
    had come, give the run's number back: no rank passes this arrival, and no process group is
    built in the run's keys."""
    if store.add(run_key("arrived", "count"), -info.world) < 0:
        unnumber_run(store)


def not_arrived(info: Place, store: dist.Store, seconds: float) -> Exception:
    """The error of a rank that waited `seconds` for the others to come to the process group."""
    missing = [str(r) for r in range(info.world) if not store.check([run_key("arrived", r)])]
    listed = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    return TrainingError(
        f"rank {info.rank}: waited {duration(seconds)} for {agreeing(len(missing), 'ranks')} "
        f"{listed} of this job to "
        f"start: they are slow to start (imports, data, a busy node) or hang; "
        f"{TIMEOUT_ENV}=SECONDS sets how long ranks wait"
    )


__all__ = ["arrive_at_group", "not_arrived"]
