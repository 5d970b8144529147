"""SIGTERM as an exception, so that a command stopped by it cleans up as Ctrl-C does.

SIGTERM's default action ends the process at once: a run stopped while it started up left a
run directory with no checkpoint (a resume's `config.yaml` already rewritten), an export its
scratch folder. Inside `terminate_unwinds()` it raises `Terminated` instead (a BaseException,
which no `except Exception` stops); the training loop installs its own handler (stop after the
step, save) and puts this one back after.

Code that must act on the error that ends a command before it is reported registers with
`before_exit`: under torchrun, a rank that fails tells the job's other processes why, and one
that torchrun stops (SIGTERM) says which rank's failure stopped it. Before a rank joins the
job's process group (`ganhub.engine.distributed.init`), `_failed_early` does the telling: a
config, a path, a device or an environment variable only that rank's node refuses, raised
before the engine is even imported, so it lives here and imports torch only when it speaks.

What a rank says there belongs to its try (`try_key`): every `ganhub.train` or command that
comes to the job's process group, or fails before it, is one try on every rank, counted here
where both see it, so a rank that failed before the engine was imported meets the others in
the next try in step.

A second Ctrl-C while a run writes its checkpoint lets that write finish first
(`finish_first`), then aborts: a third aborts at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from ganhub.closed_output import say
from ganhub.errors import GanhubError, first_line
from ganhub.processes import world_size

STORE_TIMEOUT_S = 2.0  # the longest a rank waits for torchrun's store: stopping never hangs


class Terminated(BaseException):
    """SIGTERM arrived (inside `terminate_unwinds`)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


def job_store() -> Any:
    """A client of the key-value store torchrun serves itself (it outlives every rank; a
    `torch.distributed.Store`), or None where the processes were started otherwise or it
    cannot be reached at once."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    import torch.distributed as dist

    try:
        return dist.TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            is_master=False,
            timeout=timedelta(seconds=STORE_TIMEOUT_S),
            wait_for_workers=False,
        )
    except (KeyError, ValueError, RuntimeError):  # DistError is a RuntimeError
        return None


def job_key(what: str, rank: int | str) -> str:
    """Where `rank` of this torchrun job (and of this attempt, after a restart) says `what`
    (`failed`: its error line; `arrived`: that it reached the process group); with rank
    `count`, how many ranks said it (one read, however large the job)."""
    job = os.environ.get("TORCHELASTIC_RUN_ID", "")
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return f"ganhub/{job}/{attempt}/{what}/{rank}"


# this process's try at joining its torchrun job (0 for the first), the same on every rank: a
# `ganhub.train` or command that came to the process group (`ganhub.engine.distributed.init`) or
# told the others it failed before it (`_failed_early`). `_said`: it said something in the
# try's keys and the try has not ended; `_closed`: this command's run closed and so ended its
# try: an error after it (on this rank alone) is no failure for the job's next try to read
_try = 0
_said = False
_closed = False


def try_key(what: str, rank: int | str, number: int | None = None) -> str:
    """`job_key` within this process's try (the first's are the job's own keys), or within try
    `number`: what a rank said in an earlier try is never read as this one's."""
    number = _try if number is None else number
    return job_key(f"try{number}/{what}" if number else what, rank)


def try_number() -> int:
    """This process's try (0 for the first), the same on every rank (read only)."""
    return _try


# where rank 0 says, in the try (or run) this process last told its failure in (`_told_in`),
# that it fails too or that it parts (`startup_meetings.part`): both before it says its line
_rank_0_says: list[str] = []
_told_in = 0
_told_count = ""  # the count this rank's failure added to: gone once every rank left the try
RANK0_LINE_S = 0.5  # the longest rank 0 takes from then to its line (SIGTERM held off meanwhile)


def begin_try() -> None:
    """A try begins (the ranks arrive at their process group, or this one fails before it):
    after one that said something and never ended, the next number."""
    global _try, _said, _closed, _rank_0_says
    if _said:
        _try += 1
    _said, _closed, _rank_0_says = True, False, []


def said_in_try(key: Callable[[str, int | str], str] | None = None) -> None:
    """This process said something in its try's keys (`key`: where, `try_key` unless the
    ranks agreed on a run): its next try has keys of its own."""
    global _said, _rank_0_says, _told_in, _told_count
    _said, _told_in = True, _try
    _rank_0_says = [(key or try_key)(what, 0) for what in ("failed", "parted")]
    _told_count = (key or try_key)("failed", "count")


def wait_for_rank_0(limit_s: float) -> None:
    """(A rank other than 0 whose error ends its command, before it says its line and exits:
    torchrun then stops rank 0, which said nothing had it not said its line yet.) In the
    process's first try, `limit_s`: the command most likely ends the process (`torchrun -m
    ganhub run ...`), and torchrun stops this rank once rank 0 said its line and exited (this
    rank's own line would say it again). In a later one (the process went on after an earlier
    command or run, as a script does): until rank 0 said in torchrun's store that it fails too,
    or parts, in the keys where this rank told its failure (or every rank left that try and
    its keys were removed, `store_cleanup.leave_try`: rank 0 parted before it left), and
    RANK0_LINE_S more for its line; at most `limit_s` (all of it without a store, or where
    this rank told nothing)."""
    until = time.monotonic() + limit_s
    store = job_store() if _rank_0_says and _told_in else None
    with contextlib.suppress(RuntimeError):  # DistError: the store went away
        while store is not None and time.monotonic() < until:
            spoke = any(store.check([key]) for key in _rank_0_says)
            if spoke or not store.check([_told_count]):
                until = min(until, time.monotonic() + RANK0_LINE_S)
                break
            time.sleep(0.01)
    time.sleep(max(0.0, until - time.monotonic()))


def end_try(closed: bool = False) -> None:
    """This process's try ends (its run's shutdown, or the error that ended it was told): the
    next says what it says in keys of its own, as every other rank's next does. `closed`: the
    run closed fine, and an error this command raises after it is told to no one."""
    global _try, _said, _closed
    if _said:
        _try += 1
    _said, _closed = False, closed


def try_closed() -> bool:
    """Whether this command's run closed fine (`end_try(closed=True)`): an error after it,
    before the command ends, fails this rank alone, with no try of the job's to tell it in."""
    return _closed


def failure_line(error: BaseException) -> str:
    """A rank's own error as the others name it: its type and first line."""
    return f"{type(error).__name__}: {first_line(error, 1000) or '(no message)'}"


def tell_job(rank: int, error: BaseException) -> None:
    """Say in torchrun's store, in this try's keys, that `rank` fails with `error` (nothing
    where there is none)."""
    store = job_store()
    if store is not None:
        with contextlib.suppress(RuntimeError):
            store.set(try_key("failed", rank), failure_line(error))
            store.add(try_key("failed", "count"), 1)
            said_in_try()


def write_error_file(message: str) -> None:
    """Leave `message` where torchrun looks for a failed process's error (TORCHELASTIC_ERROR_FILE,
    as torch's own `record` does): its failure report shows it in place of a link."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if path:
        # torch's own layout; its report shows "py_callstack", here the one line, no traceback
        info = {"py_callstack": message, "timestamp": str(int(time.time()))}
        data = json.dumps({"message": {"message": message, "extraInfo": info}})
        with contextlib.suppress(OSError):
            Path(path).write_text(data, encoding="utf-8")


# whether this process joined its torchrun job (`joined_job`): from then on the engine's own
# hook tells the other ranks, and `_failed_early` is silent
_joined = False


def joined_job() -> None:
    """(`ganhub.engine.distributed.init`.) This process is joining its torchrun job: the error
    that ends it is the engine's to tell the other ranks from here on."""
    global _joined
    _joined = True


def _failed_early(error: BaseException) -> str | None:
    """(A `before_exit` hook from the start.) A torchrun rank whose own error ends its command
    before it joined the job tells the other ranks, which wait for it to join (`distributed.
    init`), why it never will, in the keys of a try of its own (`begin_try`: the next one
    numbers on, as the other ranks' next does), names itself in its line (rank 0 speaks for
    the job) and leaves the line in torchrun's error file. Elsewhere, and once joined, nothing."""
    rank = os.environ.get("RANK", "")
    if _joined or not isinstance(error, Exception) or not rank.isdigit():
        return None
    import click  # the command line's own (`ganhub.train` does not load it)

    if isinstance(error, click.exceptions.Exit) and not error.exit_code:  # --help, say
        return None
    if (world_size() or 1) == 1:  # one process, or a WORLD_SIZE the run refuses anyway
        return None
    begin_try()
    tell_job(int(rank), error)
    write_error_file(f"rank {rank}: {failure_line(error)}")
    if rank != "0" and isinstance(error, GanhubError) and error.args:
        text, named = error.args[0], f"rank {rank}: "
        if isinstance(text, str) and not text.startswith(named):
            error.args = (named + text, *error.args[1:])
    return None


# what sees the error that ends a command (`before_exit`), in the order registered
_last_words: list[Callable[[BaseException], str | None]] = [_failed_early]


def before_exit(hook: Callable[[BaseException], str | None]) -> None:
    """Have `hook(error)` see the error that ends a command inside `terminate_unwinds`, before
    it is reported; for SIGTERM (`Terminated`) a line it returns is said instead of the usual
    one. A hook registered twice runs once; one that fails is skipped (the error stays the
    command's own)."""
    if hook not in _last_words:
        _last_words.append(hook)


def _hooks_say(error: BaseException) -> str | None:
    """The first line a `before_exit` hook returns for `error` (every hook runs), or None."""
    said = None
    for hook in list(_last_words):
        try:
            line = hook(error)
        except Exception:  # a hook must never replace the error that ends the command
            continue
        said = said or line
    return said


@contextlib.contextmanager
def terminate_unwinds(
    said: Callable[[], None] | None = None, *, hold_on_error: bool = False
) -> Iterator[None]:
    """Inside, SIGTERM raises `Terminated`; once it has unwound (and `said`, or a `before_exit`
    hook's line, has told the user), the process ends by SIGTERM as it would have (the status
    a shell or a supervisor expects); any other error leaving the block is shown to the
    `before_exit` hooks first. Only where SIGTERM has its default action and in the main
    thread (where Python handles signals); else a no-op.

    `hold_on_error`: an error leaves SIGTERM ignored, for a command that says its line and then
    exits (`ganhub.cli.main` puts the default action back once said): torchrun stops the other
    ranks as soon as one exits, and one stopped between here and its line said nothing."""
    global _closed
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    _closed = False  # a command of its own: no run of it closed yet
    try:
        yield
    except Terminated as stop:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        line = _hooks_say(stop)
        if line is not None:
            say(line)
        elif said is not None:
            said()
        os.kill(os.getpid(), signal.SIGTERM)
        raise  # only where the signal is not delivered at once
    except BaseException as error:
        _hooks_say(error)
        if hold_on_error:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            raise
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise
    else:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def finish_first(said: Callable[[], None]) -> Iterator[None]:
    """Inside, a Ctrl-C that would abort (the signal handler in place raises KeyboardInterrupt:
    a second Ctrl-C during a run's checkpoint save) lets the block finish first: `said` tells
    the user, and KeyboardInterrupt is raised once the block is done. Another Ctrl-C meanwhile
    aborts at once (a save stalled on a network file system). A checkpoint is written whole or
    not at all, in under a second at the default models' sizes (docs/training.md), so an
    impatient second Ctrl-C keeps the checkpoint the first one asked for. Only in the main
    thread, where Python handles signals, and where SIGINT has a Python handler; else a no-op.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    pending = False

    def hold(signum: int, frame: Any) -> None:
        nonlocal pending
        if pending:
            raise KeyboardInterrupt
        try:
            previous(signum, frame)  # a first Ctrl-C asks the run to stop after its step
        except KeyboardInterrupt:
            pending = True
            said()

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


class OutputsStopped(BaseException):
    """A signal stopped a run's final samples and evaluation (its checkpoint is saved)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def interruption(exc: BaseException | None) -> BaseException | None:
    """The Ctrl-C or SIGTERM (`Terminated`) in `exc`'s chain of causes and contexts, or None:
    a library that wraps the interruption in its own error (torch's exporter) must not turn it
    into a failure of the command."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt | Terminated):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


__all__ = [
    "RANK0_LINE_S",
    "STORE_TIMEOUT_S",
    "OutputsStopped",
    "Terminated",
    "before_exit",
    "begin_try",
    "end_try",
    "failure_line",
    "finish_first",
    "interruption",
    "job_key",
    "job_store",
    "joined_job",
    "said_in_try",
    "tell_job",
    "terminate_unwinds",
    "try_closed",
    "try_key",
    "try_number",
    "wait_for_rank_0",
    "write_error_file",
]
