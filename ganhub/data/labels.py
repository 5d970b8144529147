"""Labelled image folders for conditional training: one sub-folder per class, or a CSV of labels.

Two layouts give each image a class:

- the torchvision ImageFolder convention: `root/<class>/.../image.png`, class names sorted;
- a CSV next to (or anywhere outside) the images, with a header naming a file column and a label
  column; its paths are relative to the folder and are treated as untrusted input (a labels file
  downloaded with a data set must not make training read files outside that data set).

Hidden folders (`.git`, `.ipynb_checkpoints`...) are never classes and their images are not data.
Every user mistake is a one-line ConfigError naming the key, the file and, for a CSV, the row.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganhub.config.schema import expand_path_text
from ganhub.data.class_folders import class_folders, folder_classes, two_or_more
from ganhub.data.images import IMAGE_SUFFIXES, SkippingFiles, list_images, readable_files
from ganhub.data.label_csv import (
    FILE_COLUMNS,
    LABEL_COLUMNS,
    LabelRow,
    hidden_part,
    read_label_csv,
    read_rows,
)
from ganhub.data.links import missing
from ganhub.data.two_labels import file_labels, listed_twice, name_two_labels
from ganhub.errors import ConfigError, did_you_mean, one_line
from ganhub.plural import agreeing, counted

if TYPE_CHECKING:
    from ganhub.data.inspect import DataReport

_INTEGER = re.compile(r"-?[0-9]+")


def _shown(value: object, limit: int = 120) -> str:
    # names and labels come from files and folders: one line however they are spelled
    return one_line(value, limit)


def _listing(names: list[str], limit: int = 20) -> str:
    # a run may hold 1,000 classes: name the first few and the count, keep the message one line
    shown = ", ".join(_shown(n, 40) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _sorted_labels(labels: set[str]) -> list[str]:
    """Class names in order: numerically when every label is an integer ("2" before "10")."""
    if all(_INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=lambda s: (int(s), s))
    return sorted(labels)


def _index(classes: list[str]) -> dict[str, int]:
    index = {name: i for i, name in enumerate(classes)}
    if len(index) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes}")  # our invariant, not input
    return index


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _unlabelled(path: Path, labelled: set[Path]) -> bool:
    """Whether image `path` is none of the `labelled` (resolved) files; resolved only when its
    path as listed is none of them (a resolved path has no symlink in it: resolving it again
    would give it back, at a system call per folder of the path)."""
    return path not in labelled and path.resolve() not in labelled


def _row_problem(row: LabelRow) -> str | None:
    """Why a labels row names nothing a run reads (no file, no image, a hidden file), or None."""
    if not _is_file(row.path):
        return "no such file in data.path"
    if not _is_image(row.path):
        return "it is no image in data.path"
    if (part := hidden_part(row.text)) is not None:
        return f"training skips it as hidden ('{_shown(part, 40)}' starts with '.')"
    return None


# Set by `label_problems_reported`: `ganhub data check` and `clean` take a labels CSV's rows
# naming no file or no image, and images no row names, as findings of their report
_REPORTED: ContextVar[bool] = ContextVar("ganhub_label_problems_reported", default=False)


@contextmanager
def label_problems_reported() -> Iterator[None]:
    """Within it, a labels CSV's rows naming no file or no image are left out, and images no
    row names are not refused (unless no row is left): `ganhub data check` reports each of
    them (`report_classes`) instead of stopping at the first. Training still refuses them."""
    token = _REPORTED.set(True)
    try:
        yield
    finally:
        _REPORTED.reset(token)


def _which_rows(rows: list[LabelRow], shown: int = 3) -> str:
    """ "row 5: 'a.png' is" or "4 rows are (row 5: 'a.png', ... and 1 more)", to end a sentence."""
    if len(rows) == 1:
        return f"row {rows[0].number}: '{_shown(rows[0].text)}' is"
    named = ", ".join(f"row {r.number}: '{_shown(r.text, 60)}'" for r in rows[:shown])
    more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
    return f"{counted(len(rows), 'rows')} {'is' if len(rows) == 1 else 'are'} ({named}{more})"


def _from_csv(
    root: Path, labels_csv: Path, classes: list[str] | None
) -> tuple[list[Path], list[int], list[str]]:
    key, root_key = "data.labels", "data.path"
    where = f"{key}='{_shown(labels_csv, 200)}'"
    rows = every = read_rows(labels_csv, root, key)
    missing = [row for row in rows if not _is_file(row.path)]
    reported = _REPORTED.get()  # `ganhub data check`: findings of its report, not refusals
    usable = [row for row in rows if _row_problem(row) is None] if reported else []
    if usable:  # (`report_classes`; a CSV naming nothing a run reads is refused as a run does)
        rows, missing = usable, []
    if missing:  # all of them at once: a script's wrong prefix fails every row, not one
        hint = "; the paths are taken relative to it" if len(missing) == len(rows) > 1 else ""
        raise ConfigError(
            f"{where}: {_which_rows(missing)} not a file in {root_key}='{_shown(root, 200)}'{hint}"
        )
    if hidden := [row for row in rows if hidden_part(row.text) is not None]:
        # the folder listing skips hidden files as no data: a row must not train one anyway
        raise ConfigError(
            f"{where}: {_which_rows(hidden)} hidden (a name starting with '.', such as "
            f"'{_shown(hidden_part(hidden[0].text), 40)}'), which ganhub skips as no data; "
            "move each file to a visible folder, or remove its row"
        )
    others = [row for row in rows if not _is_image(row.path)]
    if others or not rows:
        raise ConfigError(
            f"{where}: {_which_rows(others or every)} not an image ({', '.join(IMAGE_SUFFIXES)})"
        )
    # an image with no row would be dropped silently: a wrong CSV must not shrink the data
    # compared as resolved paths, as the CSV's are: a symlinked image is labelled by its target
    base = root.resolve()
    labelled = {row.path for row in rows}
    # (a listed path equal to a resolved one has no symlink in it: no resolve() needed)
    unlabelled = [p for p in list_images(base) if _unlabelled(p, labelled)]
    if unlabelled and not reported:
        rel = unlabelled[0].relative_to(base).as_posix()
        raise ConfigError(
            f"{where}: {counted(len(unlabelled), 'images')} in {root_key}='{_shown(root, 200)}' "
            f"{'has' if len(unlabelled) == 1 else 'have'} no "
            f"row (e.g. '{_shown(rel)}'); label every image or move the others out"
        )
    if classes is None:  # a class all of whose rows the check reports is one still
        classes = _sorted_labels({row.label for row in every})
        if len(classes) < 2:
            raise ConfigError(
                f"{where}: only one label ('{_shown(classes[0])}') in the file; conditioning "
                "needs at least two classes"
            )
    index = _index(classes)
    for row in rows:
        if row.label not in index:
            raise ConfigError(
                f"{where}: label '{_shown(row.label)}' (row {row.number}) is not one of the run's "
                f"classes{did_you_mean(row.label, classes)}: {_listing(classes)}"
            )
    ordered = sorted(rows, key=lambda r: r.path)
    return [r.path for r in ordered], [index[r.label] for r in ordered], list(classes)


def labelled_files(
    root: Path, labels_csv: Path | None = None, classes: list[str] | None = None
) -> tuple[list[Path], list[int], list[str]]:
    """Training files, their class indices and the class names, from class folders or a CSV.

    `classes` (the names saved with a run) fixes the names and their order; data labelled with
    anything else is refused.
    """
    if labels_csv is not None:
        return _from_csv(root, labels_csv, classes)
    key = "data.path"
    folders = class_folders(root, key)
    if classes is None:
        classes = two_or_more(list(folders), root, key)  # given classes may outnumber the folders
    index = _index(classes)
    pairs: list[tuple[Path, int]] = []
    for name, files in folders.items():
        if name not in index:
            raise ConfigError(
                f"{key}='{_shown(root, 200)}': class folder '{_shown(name)}' is not one of the "
                f"run's classes{did_you_mean(name, classes)}: {_listing(classes)}"
            )
        pairs.extend((p, index[name]) for p in files)
    pairs.sort()
    return [p for p, _ in pairs], [y for _, y in pairs], list(classes)


def _refuse_emptied_classes(
    root: Path, before: list[int], after: list[int], names: list[str]
) -> None:
    """A class all of whose files data.skip_bad left out: refused in one line, since the run
    would still generate it with nothing to learn it from (a class with no files at all, named
    by a resumed run's saved classes, stays allowed)."""
    had, has = Counter(before), Counter(after)
    emptied = [y for y in sorted(had) if not has[y]]
    if emptied:
        raise ConfigError(
            f"data.path='{_shown(root, 200)}': data.skip_bad left out every file of class "
            f"{_listing([names[y] for y in emptied], 5)} ({sum(had[y] for y in emptied)} "
            "unreadable), so the run would have nothing to learn it from; fix or replace the "
            "files, or leave the class out of the data"
        )


class LabelledImageFolder(SkippingFiles, Dataset[tuple[Tensor, Tensor]]):
    """Labelled images (class folders or a CSV) decoded in DataLoader workers as (x, label).

    With `skip_bad`, unreadable files are skipped with their labels (`readable_files`,
    `SkippingFiles`: a stand-in comes with its own label); without it training stops with an
    error naming the file.
    """

    def __init__(
        self,
        root: Path,
        size: int,
        channels: int = 3,
        skip_bad: bool = False,
        labels_csv: Path | None = None,
        classes: list[str] | None = None,
    ) -> None:
        files, labels, names = labelled_files(root, labels_csv, classes)
        if skip_bad:
            kept = readable_files(files, root)
            _refuse_emptied_classes(root, labels, [labels[i] for i in kept], names)
            files, labels = [files[i] for i in kept], [labels[i] for i in kept]
        super().__init__(files, size, channels, skip_bad)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.classes = names

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        k, x = self.read(i)
        # the stand-in's own label: the image and its class must never be mismatched
        return x, self.labels[k].clone()

    def label_counts(self) -> Tensor:
        """Number of files in each class, in class order (zeros for classes with none)."""
        return torch.bincount(self.labels, minlength=len(self.classes))


def shard_problems(path: Path | None) -> list[str]:
    """A conditional run on a tensor shard: refused in one line naming what works (shards hold
    images without labels; the folder the shard was made from, named by its manifest, has them)."""
    from ganhub.data.shards import is_shard, shard_origin

    if not is_shard(path):
        return []
    assert path is not None
    if not path.is_file():
        return [f"data.path='{_shown(path, 200)}': no such shard"]
    origin = shard_origin(path)
    folder = f"the labelled folder ('{_shown(origin, 200)}')" if origin else "the labelled folder"
    return [
        f"data.path='{_shown(path, 200)}': a shard holds no labels, so a conditional run "
        f"cannot train on it; train it on {folder} the shard was converted from, or train "
        "on the shard with model.conditional=false"
    ]


def classless_path_problems(path: Path | None) -> list[str]:
    """Why a conditional run's data.path gave it no classes when the path itself is the
    reason: it does not exist, or it is a shard (`shard_problems`); else nothing."""
    from ganhub.data.shards import is_shard

    if path is not None and not path.exists() and not is_shard(path):
        return [f"data.path='{_shown(path, 200)}': {missing(path)}"]
    return shard_problems(path)


def report_classes(report: DataReport, root: Path, labels_csv: Path | None) -> None:
    """A conditional folder's usable images per class (files that are errors count for none)
    in `ganhub data check`: an error for a class with none, a warning for a rare class; with
    a labels CSV, an error for each row naming no file or no image and each image no row
    names, all of them (`ganhub data clean` leaves them out of the copy and its labels)."""
    from ganhub.data.inspect import KEEP, class_balance

    with label_problems_reported():
        files, labels, classes = labelled_files(root, labels_csv)
    named = [classes[y] for y in labels]
    if labels_csv is not None:
        named = _report_rows(report, root, labels_csv)
    name_two_labels(report, file_labels(root, files, [classes[y] for y in labels]))
    bad = {(root / f.item).resolve() for f in report.findings if f.severity == "error"}
    usable = [classes[y] for p, y in zip(files, labels) if p.resolve() not in bad]
    class_balance(report, usable)
    if emptied := [c for c in dict.fromkeys(named) if c not in usable]:
        why = "no usable image: the run refuses it, and a cleaned copy would lose it"
        report.add(
            "(labels)",
            f"{agreeing(len(emptied), 'classes')} {_listing(emptied, 5)}: {why}",
            KEEP,
            "error",
        )


def _report_rows(report: DataReport, root: Path, labels_csv: Path) -> list[str]:
    """The findings on a labels CSV that a run refuses (rows naming no file or no image,
    images no row names), one per row or image; the labels of all its rows."""
    from ganhub.data.inspect import DROP

    rows = read_rows(labels_csv, root, "data.labels")
    lost = hidden = 0
    for row in rows:
        if (what := _row_problem(row)) is not None:
            if what.startswith("training skips"):
                hidden += 1
            else:
                lost += 1
            problem = f"data.labels row {row.number} names it, but {what}"
            report.add(row.text, f"{problem}; fix the row or remove it", DROP, "error")
    if lost:
        report.summary["data.labels rows naming no image"] = lost
    if hidden:
        report.summary["data.labels rows naming hidden files"] = hidden
    labelled = {row.path for row in rows}
    for path in list_images(root):
        if _unlabelled(path, labelled):
            name = path.relative_to(root).as_posix()
            report.add(name, "no data.labels row names it; label it or move it out", DROP, "error")
    return [row.label for row in rows]


def unused_labels(labels: Path | None, conditional: bool) -> list[str]:
    """data.labels given to an unconditional run: refused, since the run would train on the
    images alone and never read the file (nor notice that it does not exist)."""
    if labels is None or conditional:
        return []
    return [
        f"data.labels='{_shown(labels, 200)}' labels a class-conditional run; add "
        "model.conditional=true (an unconditional run ignores labels)"
    ]


def conditional_data_path(chosen: Mapping[str, Any]) -> Path | None:
    """The `data.path` of a conditional run on folder data, from the user's choices before
    validation (expanded as validation will); None when not conditional or not folder data."""
    model, data = chosen.get("model"), chosen.get("data")
    wanted = isinstance(model, Mapping) and model.get("conditional") in (True, "true", "True", 1)
    if not wanted or not isinstance(data, Mapping) or data.get("path") is None:
        return None
    if data.get("source", data.get("__shorthand__", "folder")) != "folder":
        return None
    return Path(expand_path_text(str(data["path"])))


def class_defaults(chosen: Mapping[str, Any]) -> dict[str, Any]:
    """`Domain.defaults_for` of an image domain with `model.conditional` and `data.path`: the
    class names of folder data (its class sub-folders, or the labels of `data.labels`) as
    `{"condition": {"classes": [...]}}`, so they are saved with the run; {} otherwise (not
    conditional, another source, a shard or zip, or no such folder: the domain's check says so).
    """
    root = conditional_data_path(chosen)
    if root is None or not root.is_dir():
        return {}
    data = chosen["data"]
    csv = data.get("labels")
    return {
        "condition": {
            "classes": labelled_files(root, Path(expand_path_text(str(csv))) if csv else None)[2]
        }
    }


def kept_labels_csv(labels_csv: Path, data: Path, kept: list[str]) -> tuple[str, bytes]:
    """The labels CSV for the copy: its name, and its header and the rows of the kept files
    (in its order; the file cell written as the copy names the file), UTF-8. Without it the
    copy could not be trained on: the original CSV names the dropped files, which a run refuses.
    The CSV was checked already (`Domain.check`): one file column, every row a file of DATA."""
    import csv
    import io

    from ganhub.errors import UsageError, one_line

    if labels_csv.name in kept:
        raise UsageError(
            f"data.labels='{one_line(labels_csv, 200)}': a kept file of DATA has its name, so "
            "the copy cannot hold the labels beside it; rename the CSV"
        )
    base = data.resolve()
    named: dict[Path, str] = {}
    for name in kept:  # a symlinked image is labelled by its target, as the loader labels it
        named.setdefault((base / name).resolve(), Path(name).as_posix())
    with labels_csv.open(newline="", encoding="utf-8-sig") as fh:
        header, *rows = list(csv.reader(fh))
    column = next(i for i, c in enumerate(header) if c.strip().lower() in FILE_COLUMNS)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        copied = named.get((base / row[column].strip()).resolve()) if column < len(row) else None
        if copied is not None:
            writer.writerow([copied if i == column else cell for i, cell in enumerate(row)])
    return labels_csv.name, text.getvalue().encode()


__all__ = [
    "FILE_COLUMNS",
    "LABEL_COLUMNS",
    "LabelledImageFolder",
    "class_defaults",
    "classless_path_problems",
    "conditional_data_path",
    "folder_classes",
    "kept_labels_csv",
    "label_problems_reported",
    "labelled_files",
    "listed_twice",
    "name_two_labels",
    "read_label_csv",
    "report_classes",
    "shard_problems",
    "unused_labels",
]
