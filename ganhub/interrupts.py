"""SIGTERM as an exception, so that a command stopped by it cleans up as Ctrl-C does.

SIGTERM's default action ends the process at once: a run stopped while it started up left a
run directory with no checkpoint (a resume's `config.yaml` already rewritten), an export its
scratch folder. Inside `terminate_unwinds()` it raises `Terminated` instead (a BaseException,
which no `except Exception` stops); the training loop installs its own handler (stop after the
step, save) and puts this one back after.

Code that must act on the error that ends a command before it is reported registers with
`before_exit`: under torchrun, a rank that fails tells the job's other processes why, and one
that torchrun stops (SIGTERM) says which rank's failure stopped it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Terminated(BaseException):
    """SIGTERM arrived (inside `terminate_unwinds`)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


# what sees the error that ends a command (`before_exit`), in the order registered
_last_words: list[Callable[[BaseException], str | None]] = []


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
def terminate_unwinds(said: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside, SIGTERM raises `Terminated`; once it has unwound (and `said`, or a `before_exit`
    hook's line, has told the user), the process ends by SIGTERM as it would have (the status
    a shell or a supervisor expects); any other error leaving the block is shown to the
    `before_exit` hooks first. Only where SIGTERM has its default action and in the main
    thread (where Python handles signals); else a no-op."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except Terminated as stop:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        line = _hooks_say(stop)
        if line is not None:
            print(line, file=sys.stderr, flush=True)
        elif said is not None:
            said()
        os.kill(os.getpid(), signal.SIGTERM)
        raise  # only where the signal is not delivered at once
    except BaseException as error:
        _hooks_say(error)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


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


__all__ = ["OutputsStopped", "Terminated", "before_exit", "interruption", "terminate_unwinds"]
