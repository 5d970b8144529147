"""Which files of a data folder are data: the one listing every image loader, `ganhub data
check` and `clean` share (`walk_files`, `list_images`), with the symlink rule they all follow.

A folder is walked whatever its name (`photos/2019.png/` is a folder of images, not an image);
hidden folders and files are skipped; symlinks are followed where they stay inside the data
folder. Imports nothing heavy: `ganhub.data.images` re-exports these names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ganhub.errors import ConfigError, one_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def list_images(root: Path, within: Path | None = None) -> list[Path]:
    """Image files under `root` (recursively, see `walk_files`), sorted for a stable order.
    Names are matched as text, and only the images are made paths (a Path costs microseconds,
    which a folder of 50,000 files multiplies)."""
    found = _walk(root, within)
    return sorted(Path(p) for p, name, kind in found if kind == _FILE and _is_image(name))


def has_images(root: Path, within: Path | None = None) -> bool:
    """Whether `root` holds an image file (recursively); stops at the first (no full listing)."""
    return any(kind == _FILE and _is_image(name) for _, name, kind in _walk(root, within))


def walk_files(root: Path, within: Path | None = None) -> Iterator[Path]:
    """The files under `root` as every image loader and `ganhub data check` see them: hidden
    folders (`.git`, `.ipynb_checkpoints`) and hidden files (`.DS_Store`, the `._name.png`
    that macOS copies onto other disks; no image) skipped, symlinks followed where they stay
    inside the data folder `within` (default `root`; each real folder once: a link to an
    ancestor cannot loop). A folder is walked whatever its name (`photos/2019.png/` is a
    folder of images, not an image). A symlink leading out of it is a ConfigError: a data
    set's links must not make training read other files, the rule `data.labels` rows follow
    too. `root` is a folder of the data folder (cyclegan's trainA/, a class folder) when
    `within` is given: `root` itself, or a link on the way to it, leading out of `within` is
    refused too."""
    return (Path(path) for path, _, kind in _walk(root, within) if kind == _FILE)


def broken_links(root: Path, within: Path | None = None) -> list[Path]:
    """The symlinks under `root` (listed as `walk_files` lists) that lead to no file or folder
    (dangling, or looping): the loaders find nothing there to read, and the check says so."""
    return [Path(path) for path, _, kind in _walk(root, within) if kind == _BROKEN]


def unreadable_folders(root: Path, within: Path | None = None) -> list[tuple[Path, str]]:
    """The folders under `root` (listed as `walk_files` lists) that cannot be read (no
    permission), each with the reason: the loaders list nothing from them, and the data check
    says so (a run trains on the rest)."""
    found = _walk(root, within)
    return [(Path(path), reason) for path, reason, kind in found if kind == _UNREADABLE]


def _is_image(name: str) -> bool:
    """Whether file name `name` has a suffix the loaders read (`Path.suffix`, without a path)."""
    return _suffix(name) in IMAGE_SUFFIXES


def _suffix(name: str) -> str:
    """The lower-case suffix of file name `name`, as `Path(name).suffix.lower()` gives it."""
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


# what `_walk` found at a path: a file, a broken symlink, a folder that cannot be read
_FILE, _BROKEN, _UNREADABLE = 0, 1, 2


def _walk(root: Path, within: Path | None) -> Iterator[tuple[str, str, int]]:
    """(path, file name, _FILE) for each file `walk_files` lists, (path, name, _BROKEN) for
    each broken link `broken_links` lists, (path, reason, _UNREADABLE) for each folder that
    cannot be read. Paths stay text (a Path costs a few microseconds:
    a large folder's listing was mostly that): callers make Paths of the files they keep."""
    from ganhub.data.links import record_leaving

    data = within if within is not None else root
    base = data.resolve()
    if within is not None:
        refuse_leaving(root, data, base)
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as found:
                entries = sorted(found, key=_entry_name, reverse=True)
        except (FileNotFoundError, NotADirectoryError):  # vanished, or no folder: nothing
            continue
        except OSError as exc:  # unreadable (no permission): nothing listed from it, said
            yield folder, exc.strerror or str(exc), _UNREADABLE
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):  # hidden: not data, whether a folder or a file
                continue
            link = entry.is_symlink()
            if link:
                try:
                    refuse_leaving(Path(entry.path), data, base)
                except ConfigError:
                    if not record_leaving(Path(entry.path), data):  # the data check reports it
                        raise
                    continue
            try:  # is_dir first: a folder named like an image (`2019.png/`) is walked
                is_folder, is_file = entry.is_dir(), entry.is_file()  # both follow a link
            except OSError:  # a link that loops on itself: it leads nowhere
                is_folder = is_file = False
            if is_folder:
                stack.append(entry.path)
            elif is_file:
                yield entry.path, name, _FILE
            elif link:  # leads nowhere
                yield entry.path, name, _BROKEN


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def refuse_leaving(link: Path, root: Path, base: Path | None = None) -> None:
    """ConfigError when symlink `link` leads out of data folder `root` (`base`: its resolved
    path, when the caller has it); a broken or looping link reads nothing and passes. Names
    are shown on one line (`one_line`): a file name is data, and may hold any character."""
    base = base or root.resolve()
    try:
        target = link.resolve()
    except (OSError, RuntimeError):  # a loop: nothing is read through it
        return
    if not target.is_relative_to(base):
        raise ConfigError(
            f"'{one_line(link)}' is a symlink leading outside the data folder "
            f"'{one_line(root)}' (to '{one_line(target)}'); training reads files inside it "
            "only: copy the files in, or point data.path at them"
        )


def unread_images(root: Path, within: Path | None = None) -> list[Path]:
    """Files under `root` (in data folder `within`, see `walk_files`) that Pillow would open but
    whose suffix the loaders do not read (.jfif, .ppm, .tga...): skipped by training, counted by
    the data check."""
    from PIL import Image

    opened = Image.registered_extensions().items()  # save-only formats (PDF) have no opener
    readable = {s for s, kind in opened if kind in Image.OPEN and s not in IMAGE_SUFFIXES}
    found = _walk(root, within)
    return [Path(p) for p, name, kind in found if kind == _FILE and _suffix(name) in readable]


__all__ = [
    "IMAGE_SUFFIXES",
    "broken_links",
    "has_images",
    "list_images",
    "refuse_leaving",
    "unread_images",
    "unreadable_folders",
    "walk_files",
]
