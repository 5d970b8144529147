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
import io
import os
import select
import stat
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, cast

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


def say(line: str, err: bool = True) -> None:
    """Print `line` on stderr (`err`) or stdout, flushed, in one write (the lines of processes
    sharing the stream never interleave: a run's DataLoader workers). A stream whose reader
    left, or whose disk is full, is silenced and the line dropped: a note is never what fails
    a run, whether the `ganhub` command or a script calling `ganhub.train` prints it."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # pythonw: no console (as print does)
        return
    try:
        stream.write(f"{line}\n")
        stream.flush()
    except OSError as exc:
        kind = _lost_kind(exc, stream)
        if kind is None:
            raise
        if kind != "closed":
            silence(stream)


def _lost_kind(error: OSError, stream: TextIO | None) -> str | None:
    """'reader' when `error` says `stream`'s reader left, 'full' when it could not be stored
    (a full disk), 'closed' when its descriptor was closed, else None: another error."""
    if error.errno == errno.EBADF and _fileno(stream) is not None:
        return "closed"  # not silenced: the descriptor's number may be another file's now
    if error.errno == errno.EPIPE and reader_left(stream):
        return "reader"
    if error.errno in WRITE_FAILED and is_full(stream):
        return "full"
    return None


def open_standard_descriptors() -> None:
    """Point closed standard descriptors (`ganhub run ... >&- 2>&-`) at the null device. Else
    the first files a command opens take their numbers (a run's lock and metrics.jsonl), and
    what a library writes to descriptor 1 or 2 would land inside them; Python, which found
    them closed, has no sys.stdout or sys.stderr either, and a line printed to the missing
    sys.stderr goes to stdout. An output descriptor open only for reading (a launcher script
    that opened itself where stderr was closed: pyenv's shims) is replaced too. Called first
    thing, before any file is opened (POSIX: elsewhere a closed descriptor is not reused so)."""
    try:
        import fcntl
    except ImportError:
        return
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        try:
            readonly = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
            if fd == 0 or not readonly:
                continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            mode = "r" if fd == 0 else "w"
            errors = "backslashreplace" if fd == 2 else "strict"
            stream = open(fd, mode, encoding="utf-8", errors=errors, closefd=False)  # noqa: SIM115
            setattr(sys, name, stream)


class GuardedStream(io.TextIOBase):
    """sys.stdout or sys.stderr while a command runs: a write that finds the stream's reader
    gone or its disk full silences the stream and is dropped, whoever wrote it (a logger's
    warning, a library's progress line, the summary). The first loss is kept in `lost`, for
    the command to answer when it ends (`OutputGuard.failure`); `said` when a run already
    warned of it."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.lost: OSError | None = None
        self.reader_left = False
        self.said = False

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                return self.stream.write(text)
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self._lose(exc)
        except ValueError:  # closed
            pass

    def _lose(self, error: OSError) -> None:
        kind = _lost_kind(error, self.stream)
        if kind is None:
            raise error
        silence(self.stream)
        with contextlib.suppress(OSError, ValueError):  # what it still holds goes to null
            self.stream.flush()
        if self.lost is None:
            self.lost, self.reader_left = error, kind == "reader"

    def close(self) -> None:  # collected: the real stream stays open
        self.flush()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.stream.errors

    @property
    def buffer(self) -> Any:
        return self.stream.buffer

    @property
    def name(self) -> Any:
        return getattr(self.stream, "name", None)

    @property
    def line_buffering(self) -> bool:
        return bool(getattr(self.stream, "line_buffering", False))

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def writable(self) -> bool:
        return True


def unsaid_loss(stream: TextIO | None) -> OSError | None:
    """The failure a guarded `stream` took in silence and no one has warned of yet."""
    if isinstance(stream, GuardedStream) and not stream.said:
        return stream.lost
    return None


def mark_said(stream: TextIO | None) -> None:
    """A warning said that `stream` is lost: the command does not say it again."""
    if isinstance(stream, GuardedStream):
        stream.said = True


class OutputGuard:
    """The guarded standard output and error of one command (`guarded_output`)."""

    def __init__(self, stdout: TextIO | None, stderr: TextIO | None) -> None:
        self.stdout, self.stderr = stdout, stderr

    def failure(self) -> OutputLost | None:
        """A write to stdout that failed (a full disk) and was not said, as `OutputLost`; a
        reader that left is no failure, and stderr's failures leave only the exit status."""
        lost = unsaid_loss(self.stdout)
        if lost is None or cast(GuardedStream, self.stdout).reader_left:
            return None
        return OutputLost(False, lost.strerror or str(lost))


@contextlib.contextmanager
def guarded_output() -> Iterator[OutputGuard]:
    """sys.stdout and sys.stderr as `GuardedStream`s while it lasts (put back after)."""
    before = sys.stdout, sys.stderr
    if isinstance(sys.stdout, GuardedStream):  # a command run by a command
        yield OutputGuard(cast(TextIO, sys.stdout), sys.stderr)
        return
    streams = [cast(TextIO, GuardedStream(s)) if s is not None else None for s in before]
    sys.stdout, sys.stderr = streams
    try:
        yield OutputGuard(*streams)
    finally:
        for stream in streams:
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.flush()
        sys.stdout, sys.stderr = before


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
    "GuardedStream",
    "OutputGroup",
    "OutputGuard",
    "OutputLost",
    "guarded_output",
    "is_full",
    "mark_said",
    "open_standard_descriptors",
    "output_lost",
    "reader_left",
    "say",
    "silence",
    "stderr_lost",
    "unsaid_loss",
]
