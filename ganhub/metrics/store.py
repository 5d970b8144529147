"""Where evaluation keeps what it computes once: feature networks and real-data statistics.

Everything lives under one cache folder (``$GANHUB_CACHE``, else ``~/.cache/ganhub``) and is
written atomically (a temporary file in the same folder, then a rename), so a killed process
never leaves a half-written file that a later run would trust. Tensors are stored as
safetensors with JSON beside or inside them: nothing here is ever unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

CACHE_ENV = "GANHUB_CACHE"


def cache_dir(kind: str = "") -> Path:
    """The cache folder (or its `kind` subfolder): $GANHUB_CACHE, else ~/.cache/ganhub."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ganhub")
    return root / kind if kind else root


@contextlib.contextmanager
def building(path: Path) -> Iterator[None]:
    """Hold the cache entry `path` while checking for it and building it: a second process
    building the same entry (two tune workers, two evaluations on one machine) waits here and
    then finds it built, instead of training it again and replacing one process's weights
    under the checksum the other recorded. The lock is `flock`'s on `.<name>.lock` beside the
    entry, released by the operating system however its process ends. A cache folder that
    cannot hold the lock file (read-only) and platforms without `fcntl` build unlocked."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digest(value: Any) -> str:
    """A short stable hash of a JSON-serialisable value (cache keys)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def page_destination(
    out: str | None, default_name: str, run_dir: Path, others: Sequence[Path] = ()
) -> Path | None:
    """A viewing command's --out as the page's path (None: the command's default): one ending
    in a path separator, or naming a folder that exists, means `default_name` inside that
    folder. Refused in one line when it would land in the checkpoints/ folder of the run or of
    any of `others` (the other runs a page shows), wherever that folder really is, or replace
    a file of the run (its config.yaml, metrics.jsonl), and anywhere when it would replace a
    file that is not a page a viewing command wrote: only a new file or an earlier page is a
    destination."""
    from ganhub.errors import UsageError, one_line
    from ganhub.runfiles import check_run_destination

    if out is None:
        return None
    if not out:
        raise UsageError("--out is empty; give the page's path or a folder to write it into")
    folder = out.endswith(("/", os.sep)) or bool(os.altsep and out.endswith(os.altsep))
    path = Path(out) / default_name if folder or Path(out).is_dir() else Path(out)
    for run in (run_dir, *others):  # not a file of a checkpoint, pruned with it
        check_run_destination(path, run)
    inside = path.resolve().is_relative_to(run_dir.resolve())
    if inside and path.exists() and path.suffix.lower() != ".html":
        raise UsageError(
            f"--out '{one_line(out, 200)}' would replace the run's own file "
            f"'{one_line(path.name, 80)}'; give a new file, or a path outside the run directory"
        )
    check_output_file(path)
    if path.is_file() and not ganhub_page(path):  # a user's file: never replaced by a page
        raise UsageError(
            f"--out '{one_line(out, 200)}' exists and is not a page ganhub wrote; give a new "
            "file, or remove it first"
        )
    return path


def ganhub_page(path: Path) -> bool:
    """Whether `path` is a page a viewing command wrote (its title starts with "ganhub")."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return head.startswith(b"<!doctype html>") and b"<title>ganhub " in head


def check_output_file(path: Path, instead: str = "") -> None:
    """A one-line UsageError, before any work, when `path` cannot take a written file: a
    folder, a device or FIFO (`--out /dev/null`), or a file where a parent folder should be;
    `instead` ends the message of a folder that takes no files (what to do then)."""
    from ganhub.errors import UsageError, one_line

    shown = one_line(path, 200)
    if path.is_dir():
        raise UsageError(f"{shown} is a folder; give the path of a file to write")
    if path.exists() and not path.is_file():
        raise UsageError(f"{shown}: not a regular file; give the path of a file to write")
    for folder in path.parents:  # the nearest folder that exists must take files
        if folder.exists():
            if not folder.is_dir():
                raise UsageError(f"{shown} cannot be written: {one_line(folder, 200)} is a file")
            if not os.access(folder, os.W_OK | os.X_OK):
                where = one_line(folder, 200)
                why = (
                    f"{where} is on a read-only file system"
                    if read_only(folder)
                    else (f"no permission in {where}")
                )
                raise UsageError(f"{shown} cannot be written: {why}{instead}")
            return


def read_only(folder: Path) -> bool:
    """Whether `folder` is on a file system mounted read-only (False where it cannot tell)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        return False


def _temporary(path: Path) -> Path:
    """A fresh name beside `path` (same file system, so the final rename is atomic). A
    device, FIFO or folder at `path` is refused: the rename would replace it (as root,
    `--out /dev/null` would have replaced /dev/null with a file)."""
    if path.exists() and not path.is_file():
        raise OSError(
            errno.EINVAL, "not a regular file; give the path of a file to write", str(path)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically, as UTF-8 whatever the locale."""
    tmp = _temporary(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def json_ready(value: Any) -> Any:
    """`value` with every non-finite float (nan, inf) as None: JSON has no such numbers, and
    Python's `NaN`/`Infinity` made eval.json and metrics.jsonl unreadable to strict readers
    (jq, JavaScript, most JSON libraries). ganhub's readers take None as "no number", as they
    took nan. Containers are copied only where they hold one."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        items = {k: json_ready(v) for k, v in value.items()}
        return items if any(items[k] is not value[k] for k in value) else value
    if isinstance(value, list | tuple):
        listed = [json_ready(v) for v in value]
        return listed if any(a is not b for a, b in zip(listed, value, strict=True)) else value
    return value


def write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically (indented, keys in insertion order; nan and inf as null)."""
    text = json.dumps(json_ready(data), indent=2, default=str, allow_nan=False)
    return write_text(path, text + "\n")


def write_bytes(path: Path, data: bytes) -> Path:
    """Write bytes atomically."""
    tmp = _temporary(path)
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:  # name the file asked for, not the temporary one beside it
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def new_folders(folder: Path) -> list[Path]:
    """`folder` and the folders above it that do not exist yet, deepest first: what a command
    that makes `folder` removes again (`remove_empty`) when it fails, leaving no trace."""
    new: list[Path] = []
    while not os.path.lexists(folder) and folder.parent != folder:
        new.append(folder)
        folder = folder.parent
    return new


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders `new_folders` listed, deepest first, where they are still empty."""
    for folder in folders:
        with contextlib.suppress(OSError):  # holds something now (another command's): kept
            folder.rmdir()


def save_tensors(path: Path, tensors: Mapping[str, Tensor], metadata: Any = None) -> Path:
    """Save tensors as safetensors atomically; `metadata` is stored as JSON in the header."""
    from safetensors.torch import save_file

    from ganhub.errors import writing

    tmp = _temporary(path)
    try:
        header = {"json": json.dumps(metadata, default=str)} if metadata is not None else None
        with writing(path):
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, header)
        tmp.chmod(0o644)  # safetensors creates files readable by the owner only
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_tensors(path: Path) -> tuple[dict[str, Tensor], Any]:
    """Tensors and JSON metadata written by `save_tensors` (no pickle involved)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        header = fh.metadata() or {}
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    return tensors, json.loads(header["json"]) if "json" in header else None


__all__ = [
    "building",
    "cache_dir",
    "check_output_file",
    "digest",
    "ganhub_page",
    "json_ready",
    "load_tensors",
    "new_folders",
    "page_destination",
    "read_only",
    "remove_empty",
    "save_tensors",
    "sha256_file",
    "write_bytes",
    "write_json",
    "write_text",
]
