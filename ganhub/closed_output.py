"""Standard output or error that can no longer be written while a command runs: its reader
left (`ganhub report RUN | head -1`), its disk is full (`> /dev/full`), or it was closed.

Unix tools stop writing when their reader leaves, and that is no error; a write that fails
otherwise is one line and a failed status (`write error: No space left on device`). Python
ignores SIGPIPE, so a write into a pipe whose reader left raises BrokenPipeError, and at exit it
flushes stdout once more and prints "Exception ignored ... BrokenPipeError". Here, a stream
found unwritable has its descriptor pointed at the null device (`silence`): nothing written
later, by ganhub or a library, nor the flush at exit, meets the error again.

A command's own output error reaches `ganhub.cli.main` as `OutputLost` (click's `main` would
otherwise turn a broken pipe into a silent exit 1): `OutputGroup` is the command group that
does it, for its commands, their subcommands and `--help` alike.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import sys
from typing import Any, TextIO

import click

# errors of a write that reached its stream but could not be stored: a full disk or quota, a
# device that failed (a terminal that went away gives EIO)
WRITE_FAILED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})


def reader_left(stream: TextIO | None) -> bool:
    """Whether `stream` is a pipe (or socket) that no one reads any more."""
    fd = _fileno(stream)
    if fd is None:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    with contextlib.suppress(OSError):
        return any(events & select.POLLERR for _, events in poller.poll(0))
    return False


def is_full(stream: TextIO | None) -> bool:
    """Whether `stream` refuses writes for want of space: a device such as /dev/full that is
    no terminal, or a file on a disk with no block left for it."""
    fd = _fileno(stream)
    if fd is None:
        return False
    with contextlib.suppress(OSError):
        mode = os.fstat(fd).st_mode
        if stat.S_ISCHR(mode):
            return not os.isatty(fd) and not os.path.samestat(os.fstat(fd), os.stat(os.devnull))
        if stat.S_ISREG(mode):
            return os.fstatvfs(fd).f_bavail == 0
    return False


def silence(stream: TextIO | None) -> None:
    """Point `stream`'s descriptor at the null device: what is written to it from now on,
    pending output and the flush at exit included, is dropped without an error."""
    fd = _fileno(stream)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)


def _fileno(stream: TextIO | None) -> int | None:
    if stream is None:
        return None
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):  # closed, or no descriptor (a test's buffer)
        return None


class OutputLost(Exception):
    """A command's standard output could not be written: `reader_left` (a reader that left,
    which is no error), or a write that failed with `reason` (a full disk)."""

    def __init__(self, reader_left: bool, reason: str) -> None:
        super().__init__(reason)
        self.reader_left = reader_left
        self.reason = reason


def output_lost(error: BaseException) -> OutputLost | None:
    """`error` as the failure of standard output (stdout, and stderr when it broke too, then
    silenced), or None when it is another error (a file of the command's own)."""
    if not isinstance(error, OSError) or error.filename is not None:
        return None
    if error.errno == errno.EPIPE and reader_left(sys.stdout):
        if reader_left(sys.stderr):  # `2>&1 | head`: the same pipe
            silence(sys.stderr)
        silence(sys.stdout)
        return OutputLost(True, error.strerror or "Broken pipe")
    if error.errno in WRITE_FAILED and is_full(sys.stdout):
        silence(sys.stdout)
        return OutputLost(False, error.strerror or str(error))
    return None


def stderr_lost(error: BaseException) -> bool:
    """Whether `error` is stderr's own failure (then silenced): the line that says why a
    command ends could not be said, and its exit status is all that is left."""
    if not isinstance(error, OSError) or error.filename is not None:
        return False
    lost = (error.errno == errno.EPIPE and reader_left(sys.stderr)) or (
        error.errno in WRITE_FAILED and is_full(sys.stderr)
    )
    if lost:
        silence(sys.stderr)
    return lost


class OutputGroup(click.Group):
    """A command group whose commands' standard-output errors leave as `OutputLost`, before
    click's own handling makes every one of them a silent exit status 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)  # `--help` prints here
        except OSError as exc:
            lost = output_lost(exc)
            if lost is None:
                raise
            raise lost from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            lost = output_lost(exc)
            if lost is None:
                raise
            raise lost from None


__all__ = [
    "WRITE_FAILED",
    "OutputGroup",
    "OutputLost",
    "is_full",
    "output_lost",
    "reader_left",
    "silence",
    "stderr_lost",
]
