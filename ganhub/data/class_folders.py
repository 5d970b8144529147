"""The classes of an ImageFolder-style folder (one sub-folder of images per class), as a
conditional run and `ganhub data check` read them: a sub-folder with no image is no class
(torchvision's ImageFolder refuses one), said once per process so a user who expected it knows.
"""

from __future__ import annotations

from pathlib import Path

from ganhub.console import warn
from ganhub.data.images import IMAGE_SUFFIXES, list_images
from ganhub.data.label_csv import check_root
from ganhub.errors import ConfigError, one_line
from ganhub.plural import counted

_EMPTY_SAID: set[tuple[Path, tuple[str, ...]]] = set()


def _shown(value: object, limit: int = 120) -> str:
    # names come from folders: one line however they are spelled
    return one_line(value, limit)


def class_folders(root: Path, key: str) -> dict[str, list[Path]]:
    """Class name -> its images, for every visible sub-folder of `root` holding an image."""
    check_root(root, key)
    loose = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if loose:
        # an image beside the class folders has no class: refusing beats training it unlabelled
        raise ConfigError(
            f"{key}='{_shown(root, 200)}': {counted(len(loose), 'images')} directly in the folder "
            f"(e.g. '{_shown(loose[0].name)}') would have no label; move them into a class "
            "sub-folder or give data.labels=FILE.csv"
        )
    classes: dict[str, list[Path]] = {}
    raw: dict[str, str] = {}  # each class's folder name
    empty: list[str] = []  # sub-folders with no image: no class, said once per process
    for sub in sorted(root.iterdir(), key=lambda p: p.name):
        if sub.name.startswith(".") or not sub.is_dir():
            continue
        files = list_images(sub, within=root)  # links are judged against data.path, not the class
        name = sub.name.strip()  # as condition.classes and CSV labels are read: ' dog' is dog
        if files and (not name or name in classes):
            what = (
                f"class folders '{_shown(raw[name])}' and '{_shown(sub.name)}' are both class "
                f"'{_shown(name)}'; rename one"
                if name
                else f"class folder '{_shown(sub.name)}' has a blank name; rename it"
            )
            raise ConfigError(
                f"{key}='{_shown(root, 200)}': {what} (class names are read without the spaces "
                "around them)"
            )
        if files and any("\udc80" <= c <= "\udcff" for c in name):  # bytes that are no UTF-8
            from ganhub.data.inspect import shown_name

            raise ConfigError(
                f"{key}='{_shown(root, 200)}': class folder '{shown_name(sub.name, 120)}' has a "
                "name that is not UTF-8, and a run saves its class names as text "
                "(condition.classes in config.yaml, which it could not read back); rename it"
            )
        if files:  # a folder with no image is not a class (torchvision would fail on it)
            classes[name], raw[name] = files, sub.name
        else:
            empty.append(sub.name)
    if not classes:
        raise ConfigError(
            f"{key}='{_shown(root, 200)}': no class sub-folders with images; conditional "
            "training on a folder needs one sub-folder per class (ImageFolder layout) or "
            "data.labels=FILE.csv"
        )
    if empty and (root, tuple(empty)) not in _EMPTY_SAID:
        _EMPTY_SAID.add((root, tuple(empty)))
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        warn(
            f"ganhub: warning: {key}='{_shown(root, 200)}': class folder '{_shown(empty[0])}'{more} "
            f"holds no image and is no class; the classes are {_shown(', '.join(classes), 200)}"
        )
    return classes


def folder_classes(root: Path, key: str = "data.path") -> list[str]:
    """Class names of an ImageFolder-style folder: its sub-folders holding images, sorted."""
    return two_or_more(list(class_folders(root, key)), root, key)


def two_or_more(names: list[str], root: Path, key: str) -> list[str]:
    if len(names) < 2:
        raise ConfigError(
            f"{key}='{_shown(root, 200)}': only one class folder ('{_shown(names[0])}') holds "
            "images; conditioning needs at least two classes, one sub-folder each"
        )
    return names


__all__ = ["class_folders", "folder_classes", "two_or_more"]
