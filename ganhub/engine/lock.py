"""One writer per run directory: an OS lock on `.lock`, which also records the writer's PID.

A second `ganhub run resume=DIR` while the first still trains is refused, naming the process
that holds the run; two writers would log every step twice and overwrite each other's
checkpoints. The lock is `flock`'s: the operating system releases it when its process ends,
however it ends, so a lock file left by kill -9 or a crash is stale by construction and the
next run simply takes it. (On a platform without `fcntl` runs are not locked.)
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import socket
from pathlib import Path
from typing import NoReturn

from ganhub.errors import UsageError

LOCK_FILE = ".lock"


class RunLock:
    """The lock of one run directory: `acquire()` or a one-line error; `release()` at the end."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise naming the live process that holds it."""
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no locking
            return
        from ganhub.metrics.store import read_only

        run_dir = self.path.parent
        if not os.access(run_dir, os.W_OK | os.X_OK):  # a read-only mount, another's run
            self._refuse_unwritable(errno.EROFS if read_only(run_dir) else errno.EACCES)
        try:  # never through a link: the lock file's content is rewritten below
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            self._refuse_unwritable(exc.errno)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live process
            holder = self._holder(fd)
            os.close(fd)
            raise UsageError(
                f"run directory '{self.path.parent}' is being trained by process {holder}; "
                "wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        self.fd = fd

    def _refuse_unwritable(self, code: int) -> NoReturn:
        """One line for a run directory this process cannot write in (its lock file, like its
        checkpoints and logs, goes there): it was `RUN/.lock: Read-only file system`, which
        said neither what to do nor that a copy of the run trains on as the run would."""
        from ganhub.errors import one_line

        run = one_line(self.path.parent, 200)
        why = "it is on a read-only file system" if code == errno.EROFS else "no permission"
        raise UsageError(
            f"run directory '{run}' cannot be written ({why}); to train it on, copy it where "
            f"you can write: cp -r {shlex.quote(run)} COPY && ganhub run resume=COPY ..."
        )

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"{}")
            return f"{int(data['pid'])} on {str(data['host'])[:64]}"
        except (OSError, ValueError, KeyError, TypeError):
            return "(unknown)"

    def release(self) -> None:
        """Let go of the lock (the file stays: removing it could race with a waiting process)."""
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


__all__ = ["LOCK_FILE", "RunLock"]
