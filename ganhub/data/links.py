"""Symlinks leading out of a data folder, reported instead of refused while `ganhub data check`
or `clean` reads the data (`leaving_links_reported`): each one is a finding of the report, as
an unreadable file is, not the one line that stops the check at the first. A run refuses them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

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


__all__ = ["leaving_links_reported", "record_leaving"]
