"""SIGTERM as an exception, so that a command stopped by it cleans up as Ctrl-C does.

SIGTERM's default action ends the process at once: a run stopped while it started up left a
run directory with no checkpoint (a resume's `config.yaml` already rewritten), an export its
scratch folder. Inside `terminate_unwinds()` it raises `Terminated` instead (a BaseException,
which no `except Exception` stops); the training loop installs its own handler (stop after the
step, save) and puts this one back after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Terminated(BaseException):
    """SIGTERM arrived (inside `terminate_unwinds`)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def terminate_unwinds(said: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside, SIGTERM raises `Terminated`; once it has unwound (and `said` has told the user),
    the process ends by SIGTERM as it would have (the status a shell or a supervisor expects).
    Only where SIGTERM has its default action and in the main thread (where Python handles
    signals); else a no-op."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if said is not None:
            said()
        os.kill(os.getpid(), signal.SIGTERM)
        raise  # only where the signal is not delivered at once
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


__all__ = ["OutputsStopped", "Terminated", "interruption", "terminate_unwinds"]
