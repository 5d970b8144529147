"""What the MLflow and W&B loggers share: run-id files read as untrusted input, the newest
checkpoint, messages without credentials, a library's log records kept off the console, and
the background worker."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ganhub.closed_output import say
from ganhub.errors import one_line, without_credentials

INSTALL = 'pip install "ganhub[trackers]"'
_MAX_ID_FILE = 4096  # bytes read from a run-id file: it is input, not something to slurp
# `scheme://user:password@host`: the user part of a URL, wherever a message quotes one
# How long `_Worker.close` waits for the tracker when no record has gone out meanwhile
CLOSE_WAIT_S = 10.0
# ... and a second more for each of these bytes of a file being uploaded (a checkpoint)
UPLOAD_BYTES_PER_S = 1_000_000
# After a failed call, what is queued is dropped for this long (not retried call by call:
# a client retries each for minutes), then the next call tries again
DOWN_FOR_S = 60.0
# Records waiting at most: a tracker slower than the run (a far server, log_every=1) would
# otherwise hold every record of a long run in memory, and close would wait for all of them
MAX_QUEUED = 1000


def _plain_text(value: str | None, *, what: str) -> str | None:
    """A one-line, non-empty value (it ends up in URLs, file names and the tracker's UI)."""
    if value is not None and (not value.strip() or one_line(value) != value):
        raise ValueError(f"must be a non-empty {what} without control characters")
    return value


# -- shared helpers ---------------------------------------------------------------------------


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _scrub(text: str) -> str:
    """`text` without the user names and passwords of the URLs it quotes."""
    return without_credentials(text)


def _warn(line: str) -> None:
    # stderr, as the run's own warnings: a live progress display prints it above its bars
    say(f"ganhub: warning: {_scrub(line)}")


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return one_line(_scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__), 300)


def _root(exc: BaseException) -> BaseException:
    """The exception at the bottom of `exc`'s chain: what went wrong first (SQLite's "attempt
    to write a readonly database", not the SQLAlchemy note about autoflush raised over it)."""
    seen = {id(exc)}
    while True:
        below = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if below is None or id(below) in seen:
            return exc
        seen.add(id(below))
        exc = below


def _cause(exc: BaseException) -> str:
    """One line naming the root cause of `exc`."""
    return _first_line(_root(exc))


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for a moment (a library reads them as it runs), then put back
    what was there."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _unreachable(url: str, timeout: float = 5.0) -> str | None:
    """Why the server of an http(s) `url` cannot be reached (no such host, refused, silent),
    or None. Tracking clients retry with backoff for minutes before they say so (MLflow:
    about 4 minutes for a refused port); one TCP connect answers in seconds. Skipped when a
    proxy applies to the host: the client reaches it through the proxy."""
    import socket
    import urllib.request
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    if parsed.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(
        parsed.hostname
    ):
        return None
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except ValueError:  # a port that is no number: the client says so itself
        return None
    except OSError as exc:
        return one_line(exc.strerror or str(exc) or type(exc).__name__, 120)
    return None


def _read_id_file(path: Path) -> dict[str, Any] | None:
    """A run-id file as a dict, or None when it is absent; a warning when it is not one.

    The run directory may come from someone else: a special file (a FIFO would block), a huge
    file or one that is not a JSON object is ignored and the tracker starts a new run.
    """
    if not path.exists() and not path.is_symlink():
        return None
    try:
        if not path.is_file():
            raise ValueError("not a regular file")
        with path.open("rb") as f:
            raw = f.read(_MAX_ID_FILE + 1)
        if len(raw) > _MAX_ID_FILE:
            raise ValueError(f"larger than {_MAX_ID_FILE} bytes")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        _warn(f"{path} is not a run record ({_first_line(exc)}); starting a new tracker run")
        return None
    return data


def _write_id_file(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _newest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint directory of a run, if it lies inside the run."""
    from ganhub.engine import checkpoint  # torch: only when a run closes

    newest = checkpoint.latest(run_dir / "checkpoints")
    if newest is None or not newest.resolve().is_relative_to(run_dir.resolve()):
        return None  # a symlink out of the run directory is not this run's checkpoint
    return newest


class _Scrubbed(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _scrub(super().format(record))


class _QuietFile(logging.FileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        """A log file that cannot be written (the run directory went away) is not worth a
        traceback on the console: the record is dropped."""


class _LogFile:
    """While a tracker runs, its library's log records (warnings and errors: MLflow logs a
    traceback per failed call) go to a file in the run directory, not to the console; `close`
    gives the loggers back their own handlers. The file is made at the first record."""

    def __init__(self, path: Path, names: tuple[str, ...]) -> None:
        self.path = path
        self.handler = _QuietFile(path, encoding="utf-8", delay=True)
        self.handler.setLevel(logging.WARNING)
        self.handler.setFormatter(_Scrubbed("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.saved = []
        for name in names:
            log = logging.getLogger(name)
            self.saved.append((log, log.handlers[:], log.propagate))
            log.handlers, log.propagate = [self.handler], False

    def written(self) -> bool:
        """Whether a record went to the file."""
        return self.handler.stream is not None

    def close(self) -> None:
        for log, handlers, propagate in self.saved:
            if log.handlers == [self.handler]:  # not reconfigured meanwhile
                log.handlers, log.propagate = handlers, propagate
        self.saved = []
        self.handler.close()


def _status(error: BaseException | None) -> str:
    if error is None:
        return "FINISHED"
    return "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"


class _Worker:
    """One daemon thread that makes a tracker's calls in order: the loop only enqueues, so a
    slow or unreachable tracking server costs training nothing. A failed call is reported
    once and training goes on (a tracker outage must not end a long run): what is queued in
    the `DOWN_FOR_S` seconds after a failure is dropped and counted, not retried call by call.

    `close` waits for the queue while records keep going out: `CLOSE_WAIT_S` seconds for each,
    and a file being uploaded a second more per `UPLOAD_BYTES_PER_S` of its size while
    `reachable()` says the server still takes connections. One line says how many records
    were not sent. At most `MAX_QUEUED` records wait: while the tracker is that far behind,
    what the run logs is dropped (said once), so memory stays bounded however long the run."""

    def __init__(self, name: str, reachable: Callable[[], bool] | None = None) -> None:
        self.name = name
        self.reachable = reachable
        self.submitted = 0
        self.sent = 0
        self.taken = 0  # records the thread has taken off the queue (sent, failed or dropped)
        self.overflowed = 0  # records dropped because MAX_QUEUED were waiting
        self.failures = 0
        self.down_until = 0.0  # time.monotonic() before which calls are dropped
        self.given_up = False  # close stopped waiting: drop the rest, say nothing more
        self.finished_at = time.monotonic()  # when the last call ended
        self.current: tuple[float, int] | None = None  # (start, bytes) of the call under way
        self.calls: queue.SimpleQueue[tuple[Callable[[], object], str, int] | None] = (
            queue.SimpleQueue()
        )
        self.thread = threading.Thread(target=self._work, name=f"ganhub-{name}", daemon=True)
        self.thread.start()

    def submit(
        self, call: Callable[[], object], what: str, size: int = 0, *, last: bool = False
    ) -> None:
        """Queue `call` (one record, uploading `size` bytes); `what` names it in a warning.
        A record is dropped while `MAX_QUEUED` wait, unless it is one of the run's `last`
        (the checkpoint, the end of the run)."""
        self.submitted += 1
        if not last and self.submitted - 1 - self.taken - self.overflowed >= MAX_QUEUED:
            self.overflowed += 1
            if self.overflowed == 1:
                _warn(
                    f"logger '{self.name}' is {MAX_QUEUED} records behind the run (the tracker "
                    f"answers slower than the run logs): what it logs while {MAX_QUEUED} "
                    "wait is dropped; training goes on"
                )
            return
        self.calls.put((call, what, size))

    def _work(self) -> None:
        while (item := self.calls.get()) is not None:
            call, what, size = item
            self.taken += 1
            if self.given_up or time.monotonic() < self.down_until:
                continue  # dropped: counted as not sent at close
            self.current = (time.monotonic(), size)
            try:
                call()
                self.sent += 1
            except Exception as exc:
                self.failures += 1
                self.down_until = time.monotonic() + DOWN_FOR_S
                if self.failures == 1 and not self.given_up:
                    _warn(
                        f"logger '{self.name}' could not log {what} ({_cause(exc)}); training "
                        f"goes on, and what it logs in the next {DOWN_FOR_S:g} s is dropped"
                    )
            finally:
                self.current, self.finished_at = None, time.monotonic()

    def close(self, details: Callable[[], str] | None = None) -> None:
        """Send what is queued while the tracker answers, then stop the thread; one line says
        how many records were not sent (`details()` may add where to read more)."""
        self.calls.put(None)
        start = time.monotonic()
        while self.thread.is_alive():
            silent_since = max(self.finished_at, start)
            deadline = silent_since + CLOSE_WAIT_S
            current = self.current
            if current is not None:  # a large file takes its time on a slow link
                deadline = max(
                    deadline, current[0] + CLOSE_WAIT_S + current[1] / UPLOAD_BYTES_PER_S
                )
            now = time.monotonic()
            if now >= deadline or (
                now >= silent_since + CLOSE_WAIT_S
                and self.reachable is not None
                and not self.reachable()
            ):
                self.given_up = True
                break
            self.thread.join(timeout=min(deadline - now, CLOSE_WAIT_S))
        lost = self.submitted - self.sent
        if lost:
            reasons = ["the first failure is above"] if self.failures else []
            if self.overflowed:
                reasons.append(f"{self.overflowed} while {MAX_QUEUED} waited")
            if self.given_up:
                reasons.append(f"no answer for {CLOSE_WAIT_S:g} s when the run ended")
            more = details() if details is not None else ""
            _warn(
                f"logger '{self.name}': {lost} of {self.submitted} records were not sent "
                f"({'; '.join(reasons) or 'dropped after a failure'}){more}"
            )
