"""Multi-process data parallelism under torchrun, without the DDP wrapper.

GAN phases run a discriminator several times before one backward (real, fake, penalties), and
the G phase backpropagates through D without updating it. DDP's reducer assumes one forward
per backward and reduces every parameter it saw, so instead each phase averages the gradients
of its own parameter group with one flattened all-reduce after its (accumulated) backward, as
NVIDIA's stylegan2-ada does. Cost: no overlap of communication with backward; gain: every
phase shape is correct, and gradient accumulation never communicates per micro-batch.

A rank that fails tells the others why before it stops: in the run directory (for rank 0's
failed.json) and in torchrun's own key-value store, which torchrun serves itself and so outlives
every rank. torchrun stops the other processes (SIGTERM) as soon as one exits, often before their
next collective fails: each then says which rank failed and why, not only that it was stopped.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ganhub.engine.group_arrival import arrive_at_group as _arrive
from ganhub.engine.rundir import leave_rank_failure, rank_failures
from ganhub.engine.startup_meetings import TIMEOUT_ENV as TIMEOUT_ENV
from ganhub.engine.startup_meetings import CollectiveTimeout as CollectiveTimeout
from ganhub.engine.startup_meetings import PeerFailed as PeerFailed
from ganhub.engine.startup_meetings import PeerStopped as PeerStopped
from ganhub.engine.startup_meetings import (
    agree,
    arrive,
    end_try,
    group_keys,
    meet,
    part,
    run_key,
    start,
    starting,
    stop,
    store_failures,
    tell,
    wait_limit,
)
from ganhub.errors import GanhubError, UsageError, one_line
from ganhub.interrupts import STORE_TIMEOUT_S as STORE_TIMEOUT_S  # the longest a store waits
from ganhub.interrupts import (
    Terminated,
    before_exit,
    failure_line,
    joined_job,
    try_closed,
    write_error_file,
)
from ganhub.plural import counted

# the run directory and the number of ranks, once every rank knows the directory
# (`share_run_dir`): where a rank that fails leaves its error, and where the others look when a
# collective fails (None: not known yet, or not distributed)
_shared: tuple[Path, int] | None = None
# this process's place in the job it joined (`init`); kept after `shutdown`, as the error that
# ends the command reaches the `before_exit` hook (`_last_words`) after the group is left
_joined: DistInfo | None = None
_member = False  # in the group `init` joined, until `shutdown` left it (`_leave_group`)
# the run failed (`leave`, `leave_failure`): its try ends with the last `before_exit` hook,
# once the error was told, not when the failing run leaves its group (`shutdown`)
_failing = False


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    per_node: int = 1  # processes on this node (LOCAL_WORLD_SIZE): a resume relaunches as many
    timeout_s: float | None = None  # how long ranks wait for each other; None: torch's default

    @property
    def enabled(self) -> bool:
        """Whether more than one process trains."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, samples and checkpoints."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistInfo:
        """Read RANK / WORLD_SIZE / LOCAL_RANK as set by torchrun; a partial or malformed set
        (WORLD_SIZE exported by hand, a job script's typo) is one line, not a rendezvous error."""
        world = _env_int("WORLD_SIZE", "1", 1)
        if world <= 1:
            return cls()
        missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
        if missing:
            raise UsageError(
                f"WORLD_SIZE={world} is set but {', '.join(missing)} not: start every process "
                f"with torchrun (torchrun --standalone --nproc_per_node={world} -m ganhub run "
                "...), or unset WORLD_SIZE to train in one process"
            )
        rank = _env_int("RANK", "0", 0)
        if rank >= world:
            raise UsageError(f"RANK={rank} must be below WORLD_SIZE={world}")
        per_node = _env_int("LOCAL_WORLD_SIZE", str(world), 1)
        local = _env_int("LOCAL_RANK", "0", 0)
        return cls(rank, world, local, per_node, _env_seconds(TIMEOUT_ENV))


def _env_int(key: str, default: str, least: int) -> int:
    """A whole-number environment variable of at least `least`, or a one-line error."""
    text = os.environ.get(key) or default
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise UsageError(f"{key}={one_line(text, 40)} must be a whole number >= {least}")
    return value


def _env_seconds(key: str) -> float | None:
    """A positive number of seconds from the environment (None when unset), or one line."""
    text = os.environ.get(key, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise UsageError(f"{key}={one_line(text, 40)} must be a number of seconds > 0 (e.g. 3600)")
    return value


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo otherwise) if not already in one, once every
    rank has come to it (`_arrive`); from here on an error that ends this process is told to
    the job's other ranks (`_last_words`), and until training starts every rank meets the
    others in Python before each collective (`startup_meetings.meet`), in the keys of this
    run, whose number rank 0 gives as the ranks arrive (`startup_meetings.start`)."""
    global _joined, _member, _failing
    created = info.enabled and not dist.is_initialized()  # else its caller's (a wrapper's)
    number = None
    if info.enabled:
        _joined, _member, _failing = info, True, False
        joined_job()
        arrive()  # a new run: what an earlier one said in the store is not this one's
    if created:
        backend = "nccl" if device.type == "cuda" else "gloo"
        arrived = _arrive(info, backend)  # `group_arrival`: rank 0 numbers the run
        # torch's own default unless set (given only then: a caller's wrapper may pass its own)
        more: dict[str, Any] = {}
        if info.timeout_s:
            more["timeout"] = timedelta(seconds=info.timeout_s)
        if arrived is not None:
            # torch's rendezvous in torchrun's store takes the same keys for every default
            # group: in a second run, a rank there before rank 0 read the address of rank 0's
            # first group (gloo: "connectFullMesh failed ... Connection refused"). Each run's
            # group meets in keys of its own instead, as long as torch waits for its peers
            store, number = arrived
            agree(number)  # a rank that fails from here on says so where rank 0 reads
            store.set_timeout(timedelta(seconds=wait_limit(info, backend)))
            more["store"] = dist.PrefixStore(group_keys(number), store)
        _first_group()
        try:
            dist.init_process_group(backend, rank=info.rank, world_size=info.world, **more)
        except RuntimeError as exc:  # a rank that failed in it said why (`_last_words`)
            failed = failed_ranks(info)
            if failed:
                (peer, why), others = failed[0], len(failed) - 1
                raise PeerFailed(info.rank, peer, why, others) from exc
            raise
    if info.enabled:
        start(info, lambda number: _rank_0_number(number, device), number)


def _first_group() -> None:
    """torch names a default process group by a counter that only destroying one resets: after
    `init_process_group` failed on this rank alone (its backend refused, or it waited in vain),
    its next group was named "1" where the other ranks' was "0", and each waited for the
    others in keys of its own until the timeout. Counted from 0 again, as on every rank."""
    dist.distributed_c10d._world.group_count = 0


def _rank_0_number(number: int, device: torch.device) -> int:
    """Rank 0's `number` on every rank (one broadcast: the run's number, at the group's start)."""
    box = torch.tensor([number], dtype=torch.int64, device=device)
    with _peers(source=0):
        dist.broadcast(box, src=0)
    return int(box.item())


def shutdown(info: DistInfo) -> None:
    """Leave the process group (the job's other ranks are still told why this one fails). A
    run that did not fail ends its try here once it left (`startup_meetings.end_try`): an
    error this command raises after it fails this rank alone, and is told to no one (the
    other ranks' next try would have read it as theirs); a failed run's try ends once its
    error was told (`_leave_group`)."""
    global _shared, _member
    _shared, _member = None, False
    stop()
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
    if not _failing:
        _end_try(closed=True)


def _end_try(closed: bool = False) -> None:
    """This process's try at joining its job ends: the next run is a try of its own (a failed
    one is left in the store, `startup_meetings.end_try`)."""
    global _failing
    _failing = False
    end_try(closed, _place())


def leave(info: DistInfo, error: BaseException) -> None:
    """(`Run`, failing while it is built.) Tell the other ranks this one fails with its own
    `error` (not another rank's failure), then leave the process group: a caller of `make_run`
    that goes on kept it, and its gloo threads ran on to the process's exit."""
    global _failing
    _failing = True
    if isinstance(error, Exception) and not isinstance(error, PeerStopped) and info.enabled:
        tell(info, error)
    with contextlib.suppress(RuntimeError):  # the error that ends the run stays its own
        shutdown(info)


def _leave_group(error: BaseException) -> None:
    """(`interrupts.before_exit`, the last hook.) An error that ends the command before the
    run left the group leaves it (a failing rank ran gloo's threads on to its exit); then the
    ranks part (`startup_meetings.part`): one that failed while the job started lets rank 0
    say so before torchrun, seeing it exit, stops rank 0. Last, this process's try ends
    (`startup_meetings.end_try`), whether it came to the group or failed before it: a script
    that trains again meets the other ranks in the keys of its next try. Nothing after a run
    that closed fine: its try ended then."""
    global _failing
    if _place() is None or try_closed():
        return
    _failing = True  # the error was told: the try ends below, once
    if _joined is not None:
        if _member:
            shutdown(_joined)
        part(_joined)
    _end_try()


def average_gradients(params: list[nn.Parameter], world: int) -> None:
    """Average the gradients of `params` across processes with one flattened all-reduce.

    Only parameters with a gradient take part; every rank runs the same phase code, so every
    rank has the same set.
    """
    if starting():  # the first collective of training
        meet(last=True)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    with _peers():
        dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    meet()
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            with _peers(source=0):
                dist.broadcast(t.data, src=0)


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's value of a picklable object on every rank (used for the run directory name)."""
    if not info.enabled:
        return obj
    box = [obj]
    meet()  # while the job starts up: rank 0's run directory
    with _peers(source=0):  # rank 0 may stop first (a locked run directory...): one line here
        dist.broadcast_object_list(box, src=0)
    return box[0]


def share_run_dir(claimed: Path | None, info: DistInfo) -> Path:
    """Rank 0's run directory (`claimed` there, None elsewhere) on every rank. From here on a
    rank that fails with its own error leaves it there (`leave_failure`), and a collective that
    fails on another rank names that rank and its error, not only that a process stopped."""
    global _shared
    path = Path(broadcast_object(str(claimed) if claimed else "", info))
    if info.enabled:
        _shared = (path, info.world)
    return path


def leave_failure(error: BaseException, info: DistInfo) -> None:
    """On a rank other than 0, before it stops: leave its own error (not the failure of a
    collective, which another rank's error caused, nor a signal's stop) for rank 0."""
    global _failing
    _failing = True
    own = isinstance(error, Exception) and not isinstance(error, PeerStopped)
    if own and _shared is not None and not info.is_main:
        leave_rank_failure(_shared[0], info.rank, error)
    if own and info.enabled:
        tell(info, error)


def failed_ranks(info: DistInfo) -> list[tuple[int, str]]:
    """(rank, error line) of every other rank of the job that failed with its own error and
    said so (in the run directory or torchrun's store), lowest rank first; [] when none."""
    if not info.enabled:
        return []
    found = dict(store_failures(info))
    if _shared is not None:
        found |= dict(rank_failures(*_shared))  # rank 0 removes the files once it has read them
    return sorted((rank, error) for rank, error in found.items() if rank != info.rank)


def _world() -> int:
    """The number of ranks of the job this process joined (1 when none is known)."""
    if _joined is not None:
        return _joined.world
    if dist.is_initialized():
        return dist.get_world_size()
    return _shared[1] if _shared is not None else 1


def _store_key(rank: int) -> str:
    """Where `rank` of this torchrun job (and of this attempt, after a restart; of this run, once
    its ranks agreed on it) says it failed."""
    return run_key("failed", rank)


def _place() -> DistInfo | None:
    """This process's place in its torchrun job: as it joined it last, else as torchrun set
    it (a run that failed before it joined); None when not distributed."""
    if _joined is not None:
        return _joined
    with contextlib.suppress(UsageError):  # the command's own error says so
        info = DistInfo.from_env()
        return info if info.enabled else None
    return None


def _last_words(error: BaseException) -> str | None:
    """(`interrupts.before_exit`, under torchrun.) A rank other than 0 that fails with its own
    error tells the other ranks and names itself in its line (rank 0 speaks for the job, as
    one process does, but before the ranks agreed on a run it tells them too: they wait for it
    at the process group); a rank that torchrun stops because another rank failed returns the
    line that says so, said in place of `ganhub: terminated`. Any rank's own error goes to
    torchrun's error file too, whose report then shows it instead of a link. (Before this
    process first joined, `interrupts._failed_early` alone tells its own error: once.)
    Nothing for an error after this command's run closed fine: its try ended, every rank
    finished the run, and the next try's keys are the other ranks' next run's."""
    info = _place()
    if info is None or try_closed():
        return None
    if isinstance(error, Terminated):
        failed = failed_ranks(info)
        if not failed:  # torchrun itself was stopped (Ctrl-C, the scheduler): as before
            return None
        (peer, why), others = failed[0], len(failed) - 1
        also = f" ({counted(others, 'other ranks')} failed too)" if others else ""
        return (
            f"ganhub: terminated: torchrun stopped rank {info.rank} because rank {peer} of this "
            f"job failed: {why}{also}"
        )
    if not isinstance(error, Exception) or isinstance(error, PeerStopped) or _joined is None:
        return None  # Ctrl-C, an exit, another rank's failure; before joining: `_failed_early`
    named = f"rank {info.rank}: "
    text = error.args[0] if isinstance(error, GanhubError) and error.args else None
    if isinstance(text, str) and text.startswith(named):  # `interrupts._failed_early` named it
        error.args = (text.removeprefix(named), *error.args[1:])  # told without: others name it
    line = failure_line(error)
    tell(info, error, ending=True)
    if isinstance(text, str) and (not info.is_main or text.startswith(named)):
        error.args = (named + text.removeprefix(named), *error.args[1:])
    write_error_file(f"rank {info.rank}: {line}")
    return None


def gather_object(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's value (used to checkpoint each rank's RNG state)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world
    meet(last=True)
    with _peers():
        dist.all_gather_object(out, obj)
    return out


def agree_stop(
    flag: bool, signum: int | None, info: DistInfo, device: torch.device
) -> tuple[bool, int | None]:
    """Whether any rank asks to stop, and the signal that asked (the highest number when
    several did; None when none did), the same on every rank: each rank's own flag is set by
    its signal handler at any moment, and a rank that stopped alone would wait forever in the
    others' next all-reduce."""
    if not info.enabled:
        return flag, signum
    if starting():
        meet(last=True)
    t = torch.tensor([1.0 if flag else 0.0, float(signum or 0)], device=device)
    with _peers():
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    stop, sig = t.tolist()
    return bool(stop), int(sig) or None


@contextmanager
def _peers(source: int | None = None) -> Iterator[None]:
    """Around one collective: its failure (gloo's or NCCL's, raised when another process of
    the job stopped with its own error, and its connection closed) becomes one line naming
    this rank, not a 40-line traceback on every other rank burying the error that matters."""
    try:
        yield
    except RuntimeError as exc:  # DistBackendError and DistNetworkError are RuntimeErrors
        rank = dist.get_rank() if dist.is_initialized() else 0
        who = f"rank {source}" if source is not None and source != rank else "another process"
        # "[.../gloo/transport/tcp/pair.cc:561] Connection closed by peer [...]:58528. This..."
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = re.sub(r"^\[[^\]]*\]\s*", "", text).split(". ")[0]
        # a rank that failed with its own error left it before its connection closed
        failed = failed_ranks(DistInfo(rank, _world()))
        if failed:
            (peer, error), others = failed[0], len(failed) - 1
            raise PeerFailed(rank, peer, error, others) from exc
        waited = re.search(r"(?i)timed out waiting (\d+) ?ms", reason)
        if waited:  # every process is alive: one of them has not come to this collective
            raise CollectiveTimeout(int(waited.group(1)) / 1000, rank) from exc
        raise PeerStopped(
            f"rank {rank}: {who} of this job stopped ({one_line(reason, 100)}); "
            "its own message says why"
        ) from exc


# every error that ends a command is told (as soon as the engine is imported: a script's second
# `ganhub.train` may fail before it joins); the group is left and the try ends after it
before_exit(_last_words)
before_exit(_leave_group)
