"""Clearing what the ranks of a torchrun job said in torchrun's store, once every rank is past it.

Each `ganhub.train` (or command) that comes to the process group is one try and one run on every
rank (`ganhub.engine.startup_meetings`): the ranks say in the try's keys that they arrived
(`world` + 2 keys), then in the run's that they met (a count per meeting, torch's address of
every rank for the group, a failure count). Nothing read them again, and torchrun's store, which
lives as long as the job, kept them all: a script that trained 1,000 times left some 10,000.

They are cleared where every rank is provably past them: when a run's first start-up meeting
is over on rank 0, every rank has come to it, so each has agreed on the run's number and from
then on says and reads only the keys of this run. Rank 0 then removes the keys of every earlier
run and of every try up to this one; a rank still waiting at that meeting reads only this
run's keys. A try that fails (a rank refused its config, or failed while its run started) has
no such meeting: each rank says in the try's keys that it left it, once it read there all it
reads (`leave_try`), and the last to leave removes the try's keys and those of the runs before
the try's own. What the last run of a job said stays (at most one run's keys).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

import torch.distributed as dist

from ganhub.interrupts import job_key, try_key

# what the ranks say in a try's or a run's keys, with each rank's number, or rank 0's alone
RANK_KEYS = ("arrived", "failed")
ZERO_KEYS = ("stopped", "parted")
LEFT = "left"  # how many ranks left a failed try (`leave_try`)
# on rank 0: tries below `_tries` and runs below `_runs` were cleared; `_meetings`: how many
# meetings rank 0 had in each run not yet cleared (another rank comes to one more at most)
_tries = 0
_runs = 1
_meetings: dict[int, int] = {}


def run_ended(run: int | None, meetings: int) -> None:
    """(`startup_meetings.end_try`.) Run `run` ended after `meetings` meetings on this rank."""
    if run is not None:
        _meetings[run] = meetings


def try_keys(number: int, world: int) -> list[str]:
    """Every key try `number` may hold (`interrupts.try_key`)."""
    left = try_key(LEFT, "count", number)
    return [*_keys(lambda what, rank: try_key(what, rank, number), world), left]


def run_keys(number: int, world: int, meetings: int) -> list[str]:
    """Every key of run `number` that ganhub names, its `meetings` counts included (torch's
    own keys for the run's process group, `group_keys`, are listed only where the store lists
    its keys)."""
    counts = [job_key(f"run{number}/met{met}", "count") for met in range(1, meetings + 2)]
    return _keys(lambda what, rank: job_key(f"run{number}/{what}", rank), world) + counts


def _keys(key: Callable[[str, int | str], str], world: int) -> list[str]:
    """The keys `key` names for every rank's arrival and failure, and rank 0's stop."""
    found = [key(what, rank) for what in RANK_KEYS for rank in [*range(world), "count"]]
    return found + [key(what, 0) for what in ZERO_KEYS]


def behind(keys: list[str], tries: int, run: int) -> list[str]:
    """Of `keys` (all the store holds), those of this job's tries up to `tries` and of its runs
    before `run`: every rank is past them once run `run`'s first meeting is over."""
    prefix = job_key("", "").removesuffix("//") + "/"
    pattern = re.compile(r"(?:try(\d+)|run(\d+))/")
    found = []
    for key in keys:
        if not key.startswith(prefix) or key == job_key("runs", "count"):
            continue
        numbered = pattern.match(key, len(prefix))
        # the first try's keys are the job's own (`try_key`)
        tried, ran = numbered.groups() if numbered is not None else ("0", None)
        if int(tried or tries + 1) <= tries or int(ran or run) < run:
            found.append(key)
    return found


def clear_behind(store: dist.Store, world: int, tries: int, run: int) -> int:
    """(Rank 0, once run `run`'s first meeting is over: every rank came to it.) Remove what
    the tries up to `tries` and the runs before `run` said in `store`; the number of keys
    removed. Costs one store request per key (where the store cannot list its keys, one per
    key ganhub might have written), once per run."""
    global _tries, _runs
    listed = None
    with contextlib.suppress(AttributeError, RuntimeError):  # torch before list_keys: named
        listed = store.list_keys()
    if listed is not None:
        doomed = behind(listed, tries, run)
    else:
        doomed = [key for number in range(_tries, tries + 1) for key in try_keys(number, world)]
        for number in range(_runs, run):
            doomed += run_keys(number, world, _meetings.get(number, 0))
    removed = 0
    for key in doomed:
        with contextlib.suppress(RuntimeError):
            removed += bool(store.delete_key(key))
    _tries, _runs = tries + 1, max(_runs, run)
    for number in [n for n in _meetings if n < run]:
        del _meetings[number]
    return removed


def leave_try(store: dist.Store, world: int, number: int, run: int | None) -> int:
    """(Every rank, at the end of try `number`, which failed: `run`, the run its ranks agreed on,
    or None.) Say this rank left the try; the last of the `world` ranks to leave it (every rank
    is past it, and past the runs before `run`) removes its keys and those of the earlier tries
    and runs (`clear_behind`): the number of keys removed. Costs one store request, and the
    last rank's clearing."""
    if store.add(try_key(LEFT, "count", number), 1) < world:
        return 0
    return clear_behind(store, world, number, run or 0)


__all__ = ["behind", "clear_behind", "leave_try", "run_ended", "run_keys", "try_keys"]
