"""The files of a run (or exported) folder are untrusted input: a folder copied from a shared
drive may hold links that point out of it, or a FIFO or device where a file should be.

`refuse_foreign_entries` walks a run folder before ganhub reads or writes any of it (resume,
`ganhub.load`, and every command built on them): a link anywhere inside, or anything that is
neither a regular file nor a folder, is refused in one line naming it. ganhub itself never makes
links in a run folder, so nothing it wrote is refused; a run that needs more disk is put where
the disk is (`out_dir=`). Reading follows the same rule: `read_regular` opens only regular
files, and reads at most a stated number of bytes. Writing keeps one rule too:
`check_run_destination` refuses an output the user named for a command on a run that would
land in the run's checkpoints/ folder.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from ganhub.errors import UsageError, one_line

# folders a tracker library fills on its own and ganhub never reads: W&B links its logs
# (`wandb/latest-run`, `debug.log`, one into ~/.cache/wandb). The folder itself must be a
# real one; what the library puts inside is the library's.
TRACKER_FOLDERS = frozenset({"wandb"})


def refuse_foreign_entries(folder: Path) -> None:
    """Raise a one-line UsageError for the first link or non-regular file inside `folder`."""
    pending = [str(folder)]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                found = list(entries)
        except OSError as exc:
            raise UsageError(
                f"'{one_line(current, 200)}': cannot be read ({exc.strerror})"
            ) from None
        for entry in found:
            shown = one_line(entry.path, 200)
            if entry.is_symlink():
                raise UsageError(
                    f"'{shown}' is a link; ganhub reads and writes only a run folder's own "
                    "files: replace it with what it points to, or remove it"
                )
            if entry.is_dir(follow_symlinks=False):
                if not (current == str(folder) and entry.name in TRACKER_FOLDERS):
                    pending.append(entry.path)
            elif not entry.is_file(follow_symlinks=False):
                raise UsageError(
                    f"'{shown}' is not a regular file or folder (a FIFO, socket or device); "
                    "remove it"
                )


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file `path`, at most `limit`; else a one-line UsageError that
    calls it `what` (a FIFO would block the read forever, /dev/zero would fill the memory)."""
    shown = one_line(path, 200)
    try:
        if not path.is_file():
            kind = "does not exist" if not path.exists() else "is not a regular file"
            raise UsageError(f"{what} '{shown}' {kind}")
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:  # a name too long for the file system, no permission...
        raise UsageError(f"{what} '{shown}' cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UsageError(f"{what} '{shown}' is larger than {limit >> 20} MiB")
    return data


def check_run_destination(
    dest: Path, run_dir: Path, option: str = "--out", *, into: bool = False
) -> None:
    """Refuse in one line an output path a user named for a command on `run_dir` that lies in
    its checkpoints/ folder (a folder there named like a checkpoint is read as one by a resume,
    a file there is removed with a pruned checkpoint), or that is the run directory or a folder
    above it; `into`: `dest` is a folder the command adds its files to, never one it replaces,
    so the run directory and the folders above it are destinations (`--out .`)."""
    run, target = run_dir.resolve(), dest.resolve()
    shown = one_line(dest, 200)
    if not into and run.is_relative_to(target):
        raise UsageError(
            f"{option} '{shown}' is the run directory or a folder above it; give another"
        )
    # a step_N folder a resume would read, or a page that pruning a checkpoint removes with
    # it; resolved: a checkpoints/ that links to a folder on another disk holds them there
    if target.is_relative_to((run / "checkpoints").resolve()):
        raise UsageError(
            f"{option} '{shown}' is inside the run directory's checkpoints/ folder, "
            "which holds the run's checkpoints only; give a path outside it"
        )


def runs_inside(folder: str | os.PathLike[str], shown: int = 3) -> str:
    """'; the run directories in it: a, b (give one)' when `folder`, no run itself, holds run
    folders (`ganhub report runs` meant one of them), else ''. Only its first 1,000 entries are
    looked at, and no link is followed: it may be any folder."""
    found: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= 1000:
                    break
                config = Path(entry.path) / "config.yaml"
                real = entry.is_dir(follow_symlinks=False) and not config.is_symlink()
                if real and config.is_file():
                    found.append(entry.name)
    except OSError:
        return ""
    if not found:
        return ""
    found.sort()
    more = f" and {len(found) - shown} more" if len(found) > shown else ""
    names = ", ".join(one_line(Path(folder) / name, 120) for name in found[:shown])
    return f"; the run directories in it: {names}{more} (give one)"


# a checkpoint directory `checkpoints/step_0000100` and its three files (`ganhub.engine.
# checkpoint` writes them); state.json holds only the non-tensor skeleton of the training
# state (tens of KB), so more than MAX_STATE_JSON is damage
CHECKPOINT_FILES = ("model.safetensors", "state.safetensors", "state.json")
MAX_STATE_JSON = 64 << 20
_STEP_DIR = re.compile(r"^step_(\d{7,})$")


def step_dirs(directory: Path) -> list[Path]:
    """Complete checkpoint directories under `directory`, newest step first.

    The `latest` pointer is not trusted: a crash between writing a step and the pointer, a
    deleted step, or an edited pointer naming a path outside the run would mislead it. A step
    directory only ever appears complete (it is renamed into place), so the newest one wins.
    """
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _STEP_DIR.match(p.name) and p.is_dir()]
    return sorted(found, key=step_of, reverse=True)


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest checkpoint directory holding all three files (not yet verified), or None."""
    for path in step_dirs(directory):
        if all((path / name).is_file() for name in CHECKPOINT_FILES):
            return path
    return None


def step_of(path: Path) -> int:
    """The step a checkpoint directory `step_0000100` holds."""
    return int(path.name.removeprefix("step_"))


__all__ = [
    "CHECKPOINT_FILES",
    "MAX_STATE_JSON",
    "TRACKER_FOLDERS",
    "check_run_destination",
    "latest_checkpoint",
    "read_regular",
    "refuse_foreign_entries",
    "runs_inside",
    "scratch_beside",
    "step_dirs",
    "step_of",
]


def scratch_beside(dest: Path, shown: str) -> Path:
    """A new empty hidden folder beside `dest` to make an output in (the same file system, so
    moving it into place is a rename); `shown` names `dest` in the one-line error."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        scratch = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp"
        scratch.mkdir()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        blocker = next((p for p in dest.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:  # mkdir says "File exists" of a file on the way
            reason = f"'{one_line(blocker, 200)}' is a file, not a folder"
        raise UsageError(f"cannot write beside {shown}: {reason}") from None
    return scratch
