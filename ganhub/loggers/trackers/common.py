"""What the MLflow and W&B loggers share: run-id files read as untrusted input, the newest
checkpoint, flattened config, quiet library logging and the background worker."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.errors import one_line

if TYPE_CHECKING:
    pass

INSTALL = 'pip install "ganhub[trackers]"'
_MAX_ID_FILE = 4096  # bytes read from a run-id file: it is input, not something to slurp


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


def _warn(line: str) -> None:
    # stderr, as the run's own warnings: a live progress display prints it above its bars
    print(f"ganhub: warning: {line}", file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, 300)


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


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Hold back a library's INFO lines for a moment (MLflow announces creating its tables)."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)


def _status(error: BaseException | None) -> str:
    if error is None:
        return "FINISHED"
    return "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"


class _Worker:
    """One daemon thread that makes a tracker's calls in order: the loop only enqueues, so a
    slow or unreachable tracking server costs training nothing. A failed call is reported
    once and training goes on (a tracker outage must not end a long run)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.calls: queue.SimpleQueue[tuple[Callable[[], object], str] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name=f"ganhub-{name}", daemon=True)
        self.thread.start()

    def submit(self, call: Callable[[], object], what: str) -> None:
        """Queue `call`; `what` names it in a warning if it fails."""
        self.calls.put((call, what))

    def _work(self) -> None:
        while (item := self.calls.get()) is not None:
            call, what = item
            try:
                call()
            except Exception as exc:
                self.failures += 1
                if self.failures == 1:
                    _warn(f"logger '{self.name}' could not log {what} ({_first_line(exc)})")

    def close(self) -> None:
        """Run what is queued, then stop the thread."""
        self.calls.put(None)
        self.thread.join()
        if self.failures > 1:
            _warn(f"logger '{self.name}': {self.failures} calls failed (the first is above)")
