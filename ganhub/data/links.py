"""Symlinks leading out of a data folder, reported instead of refused while `ganhub data check`
or `clean` reads the data (`leaving_links_reported`): each one is a finding of the report, as
an unreadable file is, not the one line that stops the check at the first. A run refuses them."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ganhub.errors import one_line

_LEAVING: ContextVar[dict[Path, Path] | None] = ContextVar("ganhub_leaving_links", default=None)


@contextmanager
def leaving_links_reported() -> Iterator[dict[Path, Path]]:
    """Within it, the folder walks of `ganhub.data.images` skip a symlink leading out of the
    data folder and record it (the link -> the data folder it leaves) instead of refusing it."""
    found: dict[Path, Path] = {}
    token = _LEAVING.set(found)
    try:
        yield found
    finally:
        _LEAVING.reset(token)


def record_leaving(link: Path, root: Path) -> bool:
    """Record `link`, a symlink leading out of data folder `root`, when the links are reported
    (True: skip it); False when they are not (refuse it)."""
    found = _LEAVING.get()
    if found is None:
        return False
    found.setdefault(link, root)
    return True


def dead_link(path: Path) -> str | None:
    """What is wrong with `path` when it is a symlink that leads nowhere, in words ("symlink
    loop (to 'b')", "broken symlink (to 'missing.png')"); None when it is no such link (a
    missing path is then simply missing: `ls` shows a dead link, so "does not exist" misleads)."""
    if not path.is_symlink():
        return None
    try:
        os.stat(path)
    except OSError as exc:
        target = one_line(os.readlink(path), 120)
        kind = "symlink loop" if exc.errno == errno.ELOOP else "broken symlink"
        return f"{kind} (to '{target}')"
    except ValueError:
        return None
    return None


def missing(path: Path, what: str = "folder") -> str:
    """Why a path that is not there cannot be read: 'folder does not exist', or the dead link
    it is ('broken symlink (to 'x'): no folder to read')."""
    dead = dead_link(path)
    return f"{dead}: no {what} to read" if dead else f"{what} does not exist"


__all__ = ["dead_link", "leaving_links_reported", "missing", "record_leaving"]
