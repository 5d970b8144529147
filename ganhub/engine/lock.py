"""One writer per run directory: an OS lock on `.lock`, which also records the writer's PID.

A second `ganhub run resume=DIR` while the first still trains is refused, naming the process
that holds the run; two writers would log every step twice and overwrite each other's
checkpoints. The lock is `flock`'s: the operating system releases it when its process ends,
however it ends, so a lock file left by kill -9 or a crash is stale by construction and the
next run simply takes it. (On a platform without `fcntl` runs are not locked.)
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

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
        # never through a link: the lock file's content is rewritten below
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o644)
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
