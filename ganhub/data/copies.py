"""The files of `ganhub data clean --out`: copies (clones where the file system makes them)
or, with `--hard-links`, hard links; a symlink's target is copied, never the link."""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

FICLONE = 0x40049409  # Linux ioctl: dst shares src's blocks, copied only when one is written


class FileCopies:
    """Copies of files (of the file a symlink names, never the link itself: a relative one
    dangled in the copy, an absolute one still pointed into the original folder): clones where
    the file system makes them (btrfs, XFS: no space used until either file changes), else
    byte copies. Either way writing to one leaves the other as it was."""

    def __init__(self) -> None:
        self.clones = sys.platform == "linux"  # until a file system refuses one

    def __call__(self, src: str, dst: str) -> None:
        src = os.path.realpath(src)
        if self.clones:
            import fcntl

            try:
                with open(src, "rb") as source, open(dst, "wb") as target:
                    fcntl.ioctl(target.fileno(), FICLONE, source.fileno())
                shutil.copystat(src, dst)
                return
            except OSError as exc:  # ext4, tmpfs, DATA on another file system...
                if exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EXDEV):
                    self.clones = False
                Path(dst).unlink(missing_ok=True)
        shutil.copy2(src, dst)


def hard_link(src: str, dst: str) -> None:
    """A hard link to the file (a symlink's target), else a copy (another file system): no
    space used, but the two names share one file, so writing through either changes both."""
    src = os.path.realpath(src)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


__all__ = ["FICLONE", "FileCopies", "hard_link"]
