"""A run directory: created atomically under out_dir, locked while a run writes to it, and never
left half-made.

Untrusted input meets the file system here: the name is a plain name (the config checks it),
`out_dir` must be a folder, and the directory is claimed with an atomic `mkdir` (two runs asking
for the same name get `name` and `name-1`, never the same folder). A run that fails before its
first checkpoint removes the directory it created (nothing in it could be resumed); one that
fails later keeps it, with `failed.json` saying where and why. Beside config.yaml, a run
records the keys its user gave (`record_user_keys`; a resume reads them back with
`ganhub.config.saved.read_given`).

Under torchrun only rank 0 writes here, with one exception: another rank that fails with its own
error leaves it in `.failed-rank-N.json` before it stops, so that rank 0, which sees only a
collective failing, can say which rank failed and why (`distributed.PeerFailed`). Rank 0 reads
that file as untrusted input (a regular file, a few KiB, JSON, one line shown) and removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ganhub.closed_output import say
from ganhub.config.given import complete_keys, given_of
from ganhub.config.saved import GIVEN_FILE, given_record
from ganhub.engine.lock import RunLock
from ganhub.errors import ConfigError, UsageError, first_line, one_line

if TYPE_CHECKING:
    from pydantic import BaseModel

FAILED_FILE = "failed.json"
# folders a resumed run first writes into after some steps (samples: every sample_every steps
# and at the end), and what it writes there
OUTPUT_FOLDERS = {"samples": "sample artifacts"}
MAX_SUFFIX = 1000  # name-1 ... name-999, then a clear error instead of looping on
METRICS_FILE = "metrics.jsonl"
RANK_FAILED = ".failed-rank-{}.json"  # another rank's own error, for rank 0 to read
MAX_RANK_FAILED_BYTES = 4096  # {"rank": N, "error": one line}
MAX_RANK_ERROR = 300  # characters of another rank's error that rank 0 shows


def _note(line: str) -> None:
    """A note on stderr (none when stderr's reader left or its disk is full)."""
    say(line)


class RunDirectory:
    """The folder of one run: its path, whether this run created it, and its lock."""

    def __init__(self, path: Path, created: bool) -> None:
        self.path = path
        self.created = created
        self.lock = RunLock(path)
        self.made_parents: list[Path] = []  # out_dir's folders that `create` made, deepest first

    @classmethod
    def create(cls, out_dir: Path, name: str) -> RunDirectory:
        """Claim `out_dir/name` (or name-1, name-2... when taken) atomically, and lock it."""
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(
                f"out_dir='{out_dir}' is a file, not a folder; choose another out_dir"
            )
        # the folders this run creates for out_dir: a run refused before its first checkpoint
        # removes them again when empty (a typo'd out_dir is not left behind)
        made = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"out_dir='{out_dir}' cannot be created: {exc.strerror}") from None
        for n in range(MAX_SUFFIX):
            path = out_dir / (name if n == 0 else f"{name}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigError(
                    f"run directory '{path}' cannot be created: {exc.strerror}"
                ) from None
            run_dir = cls(path, created=True)
            run_dir.made_parents = made
            run_dir.lock.acquire()
            return run_dir
        raise ConfigError(f"'{out_dir}' already holds {name} and {MAX_SUFFIX - 1} numbered copies")

    @classmethod
    def open(cls, path: Path, warn: Callable[[str], None] = _note) -> RunDirectory:
        """An existing run directory to resume: locked, its failure marker cleared, and a line
        of metrics.jsonl that a kill cut off mid-write dropped (`warn` says so), so that the
        resumed run's records do not follow it on the same, unreadable, line."""
        if not path.is_dir():
            raise UsageError(f"resume='{path}' is not a run directory")
        run_dir = cls(path, created=False)
        run_dir.lock.acquire()
        try:
            _check_output_folders(path)
        except BaseException:
            run_dir.lock.release()
            raise
        marker = path / FAILED_FILE
        with contextlib.suppress(OSError, UnicodeDecodeError):  # put back if the resume is refused
            run_dir.previous_failure = marker.read_text(encoding="utf-8")
        marker.unlink(missing_ok=True)
        clear_rank_failures(path)  # a rank 0 killed before it read them left them
        metrics = path / METRICS_FILE
        run_dir.cut_line = drop_cut_off_line(metrics)  # put back if the resume is refused
        if run_dir.cut_line:
            warn(
                f"ganhub: note: {one_line(metrics, 200)} ended in a line cut off mid-write "
                f"({len(run_dir.cut_line):,} bytes, no record); dropped it"
            )
        return run_dir

    previous_failure: str | None = None  # an opened run's failed.json before this process
    cut_line = b""  # the cut-off end of metrics.jsonl that `open` dropped

    def fail(
        self,
        error: BaseException,
        step: int,
        resumable: bool,
        touched: bool = True,
        peer: tuple[int, str] | None = None,
        steps: int | None = None,
    ) -> None:
        """After a failed run: remove a directory it created that holds nothing resumable,
        otherwise record the failure next to the checkpoints. A resumed run refused before it
        wrote anything (`touched` false: a config that does not fit) leaves the directory as
        it found it. `peer` is (rank, error line) of another rank of a torchrun job whose own
        error stopped this one: failed.json records that rank and its error; `steps`, the
        trainer.steps the session trained towards, is recorded too. The lock is let go last:
        a resume that takes the run over the moment it is free must not find the failure
        marker written after it cleared it."""
        try:
            self._leave(error, step, resumable, touched, peer, steps)
        finally:
            self.lock.release()

    def _leave(
        self,
        error: BaseException,
        step: int,
        resumable: bool,
        touched: bool,
        peer: tuple[int, str] | None,
        steps: int | None,
    ) -> None:
        """`fail`'s work, the lock held."""
        clear_rank_failures(self.path)
        if self.created and not resumable:
            shutil.rmtree(self.path, ignore_errors=True)
            for folder in self.made_parents:
                try:
                    folder.rmdir()  # only when empty: another run may have started there since
                except OSError:
                    break
            return
        if not self.created and not touched:
            if self.previous_failure is not None:
                self._write_marker(self.previous_failure)
            if self.cut_line:
                with contextlib.suppress(OSError):
                    _append(self.path / METRICS_FILE, self.cut_line)
            return
        kind = type(error).__name__
        lines = str(error).splitlines()
        # a second Ctrl-C aborts (the first stops at a step): no message of its own
        said = "aborted by a second Ctrl-C" if isinstance(error, KeyboardInterrupt) else kind
        record: dict[str, object] = {
            "step": step,
            "error": f"{kind}: {lines[0]}" if lines else said,
        }
        if peer is not None:
            record |= {"rank": peer[0], "error": f"rank {peer[0]}: {peer[1]}"}
        if steps is not None:
            record["steps"] = steps
        self._write_marker(json.dumps(record))

    def _write_marker(self, text: str) -> None:
        """Write failed.json whole or not at all (never through a link planted there)."""
        tmp = self.path / f".{FAILED_FILE}.tmp"
        try:
            tmp.unlink(missing_ok=True)
            with tmp.open("x", encoding="utf-8") as fh:
                fh.write(text)
            tmp.replace(self.path / FAILED_FILE)
        except OSError:  # the directory itself may be what failed (disk full, removed)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the lock."""
        self.lock.release()


def record_user_keys(run_dir: Path, config: BaseModel) -> None:
    """Write, beside config.yaml and as it is written (whole or not at all), the dotted keys
    the user gave the run (`ganhub.config.saved.GIVEN_FILE`), so that a resume knows them
    again (`ganhub.config.given`). Only where the config knows every key the user gave since
    the run started (`complete_keys`): a resume of a run an earlier ganhub wrote, which has
    no record, keeps having none."""
    from ganhub.engine.checkpoint import write_text_atomic

    keys = given_of(config)
    if keys is not None and complete_keys(config):
        write_text_atomic(run_dir / GIVEN_FILE, given_record(keys))


def drop_cut_off_line(path: Path) -> bytes:
    """Cut the regular file `path` (metrics.jsonl) after its last newline when what follows is
    a line a kill cut off mid-write: no newline, not a record, at most a record's length. The
    bytes dropped, or b"" (nothing to drop, a last record only missing its newline, a longer
    tail that no write of a record leaves, a file that cannot be opened). The cut is one
    truncation: a kill during it leaves the file as it was or without that line."""
    from ganhub.metrics.rundata import MAX_LINE_BYTES

    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return b""
    try:
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode) or size == 0:
            return b""
        start = max(0, size - MAX_LINE_BYTES - 1)
        os.lseek(fd, start, os.SEEK_SET)
        tail = b""
        while len(tail) < size - start and (block := os.read(fd, size - start - len(tail))):
            tail += block
        end = tail.rfind(b"\n")
        if tail.endswith(b"\n") or (end < 0 and start > 0) or _a_record(tail[end + 1 :]):
            return b""
        os.ftruncate(fd, start + end + 1)
        os.fsync(fd)
        return tail[end + 1 :]
    except OSError:
        return b""
    finally:
        os.close(fd)


def _a_record(line: bytes) -> bool:
    """Whether `line` is a metrics.jsonl record: a JSON object with a whole-number step."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and type(record.get("step")) is int


def _append(path: Path, data: bytes) -> None:
    """Append `data` to the regular file `path` (never through a link)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def leave_rank_failure(run_dir: Path, rank: int, error: BaseException) -> None:
    """(A rank other than 0 of a torchrun job, before it stops.) Leave this rank's error, one
    line, in the run directory for rank 0, which writes failed.json. Nothing when the folder is
    not here (another node that does not share it) or refuses the write."""
    if rank <= 0 or not run_dir.is_dir():
        return
    line = first_line(error, 1000) or "(no message)"  # as failed.json holds an error
    text = json.dumps({"rank": rank, "error": f"{type(error).__name__}: {line}"})
    path = run_dir / RANK_FAILED.format(rank)
    tmp = path.with_name(f"{path.name}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # whole or not at all: rank 0 may read it at any moment


def rank_failures(run_dir: Path, world: int) -> list[tuple[int, str]]:
    """(rank, error line) of every other rank that left its error in the run directory
    (`leave_rank_failure`), lowest rank first. The files are untrusted: only a regular file of
    at most MAX_RANK_FAILED_BYTES holding JSON with its own rank and an error text counts, and
    the error is shown as one line of at most MAX_RANK_ERROR characters."""
    found = []
    for rank in range(1, world):
        data = _read_small(run_dir / RANK_FAILED.format(rank), MAX_RANK_FAILED_BYTES)
        try:
            record = json.loads(data.decode("utf-8")) if data else None
        except ValueError:  # UnicodeDecodeError and JSONDecodeError
            continue
        if (
            isinstance(record, dict)
            and record.get("rank") == rank
            and type(record.get("rank")) is int
            and isinstance(record.get("error"), str)
        ):
            error = " ".join(record["error"].split()) or "(no message)"
            found.append((rank, one_line(error, MAX_RANK_ERROR)))
    return found


def clear_rank_failures(run_dir: Path) -> None:
    """Remove the errors other ranks left (read, or stale from a job rank 0 did not outlive)."""
    with contextlib.suppress(OSError):
        for path in run_dir.glob(RANK_FAILED.format("*") + "*"):  # a half-written .tmp too
            path.unlink(missing_ok=True)


def _read_small(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file `path` (never through a link), or None when it is
    absent, not a regular file, unreadable or larger than `limit`."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would block, a device fill memory
            return None
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= limit else None


def _check_output_folders(path: Path) -> None:
    """Refuse, before training, a run whose OUTPUT_FOLDERS cannot be written: a file in place
    of one, or a folder that refuses writes, failed the run only after its steps were trained
    (TensorBoard's `tb` folder is checked by its logger)."""
    for name, what in OUTPUT_FOLDERS.items():
        folder = path / name
        shown = one_line(folder, 200)
        if folder.exists() and not folder.is_dir():  # links, FIFOs: refused before (runfiles)
            raise UsageError(
                f"{shown}: a file is there where a folder is needed (the run writes its {what} "
                "there); remove or rename it"
            )
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):  # asked: none written
            raise UsageError(f"{shown}: cannot write in it (the run writes its {what} there)")


__all__ = [
    "FAILED_FILE",
    "OUTPUT_FOLDERS",
    "RANK_FAILED",
    "RunDirectory",
    "clear_rank_failures",
    "drop_cut_off_line",
    "leave_rank_failure",
    "rank_failures",
    "record_user_keys",
]
