"""The labels CSV of a labelled image folder (`data.labels`): its rows, each checked.

Its paths are relative to data.path and are untrusted input (a labels file downloaded with a
data set must not make training read files outside that data set): every problem is a
one-line ConfigError naming the key, the file and the row.
"""

from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from ganhub.data.links import missing
from ganhub.errors import ConfigError, one_line

FILE_COLUMNS = ("file", "filename", "path", "image")
LABEL_COLUMNS = ("label", "class")
_CSV_SHAPE = "a CSV with a header such as 'file,label' and one row per image"
# files no one means as a labels CSV (images, a shard): said so, not "not UTF-8 text"
_BINARY = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".safetensors")


def _shown(value: object, limit: int = 120) -> str:
    # names and labels come from files and folders: one line however they are spelled
    return one_line(value, limit)


@dataclass(frozen=True)
class LabelRow:
    """One CSV data row: its 1-based number, the path as written, where it resolves, its label."""

    number: int
    text: str
    path: Path
    label: str


def check_root(root: Path, key: str) -> None:
    """Refuse a data.path that is missing or no folder, in one line naming `key`."""
    if not root.exists():
        raise ConfigError(f"{key}='{_shown(root, 200)}': {missing(root)}")
    if not root.is_dir():
        raise ConfigError(f"{key}='{_shown(root, 200)}': is not a folder")


def _column(header: list[str], names: tuple[str, ...], what: str, where: str) -> int:
    """Index of the one header cell among `names` (case-insensitive); ConfigError otherwise."""
    cells = [c.strip().lower() for c in header]
    found = [i for i, c in enumerate(cells) if c in names]
    if not found:
        have = ", ".join(f"'{_shown(c, 40)}'" for c in header[:10]) or "nothing"
        sep = next((s for s in (";", "\t", "|") if len(header) == 1 and s in header[0]), None)
        hint = f" (columns separated by {sep!r}? ganhub reads commas)" if sep else ""
        raise ConfigError(
            f"{where}: row 1 (the header) has no {what} column (one of {', '.join(names)}); "
            f"it has {have}{hint}"
        )
    if len(found) > 1:
        # two candidate columns: guessing which one holds the paths could mislabel everything
        both = " and ".join(f"'{_shown(header[i].strip(), 40)}'" for i in found)
        raise ConfigError(f"{where}: row 1 (the header) has {both}; keep one {what} column")
    return found[0]


def _resolved(path: Path, folders: dict[Path, Path]) -> Path:
    """`path.resolve()`, with each folder resolved once (`folders` caches them): a file that is
    no symlink resolves to its resolved folder and its name, at one system call instead of
    one per folder of the path (50,000 rows of one folder: seconds saved)."""
    name = path.name
    if name in ("", ".", "..") or path.is_symlink():
        return path.resolve()
    parent = folders.get(path.parent)
    if parent is None:
        parent = folders[path.parent] = path.parent.resolve()
    return parent / name


def _resolve_row(
    text: str, number: int, root: Path, base: Path, where: str, folders: dict[Path, Path]
) -> Path:
    """The file a CSV row names, resolved; refuses paths that are absolute or leave `root`."""
    if not text:
        raise ConfigError(f"{where}: row {number} has an empty file name")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).anchor:
        raise ConfigError(
            f"{where}: row {number}: '{_shown(text)}' is an absolute path; "
            f"paths must be relative to data.path='{_shown(root, 200)}'"
        )
    try:
        path = _resolved(base / text, folders)
    except (OSError, ValueError, RuntimeError):  # NUL byte, symlink loop, name too long
        raise ConfigError(f"{where}: row {number}: '{_shown(text)}' is not a usable path") from None
    # resolved, so '..' and symlinks are judged by where they really lead
    if not path.is_relative_to(base):
        raise ConfigError(
            f"{where}: row {number}: '{_shown(text)}' leads outside "
            f"data.path='{_shown(root, 200)}' (via '..' or a symlink); refused"
        )
    return path


def read_rows(path: Path, root: Path, key: str) -> list[LabelRow]:
    """The CSV's data rows, each checked; every problem is a ConfigError naming the row."""
    where = f"{key}='{_shown(path, 200)}'"
    if path.is_dir():
        raise ConfigError(f"{where} is a folder; give the labels file: {_CSV_SHAPE}")
    if not path.is_file():
        raise ConfigError(f"{where}: file does not exist")
    check_root(root, "data.path")
    base = root.resolve()
    rows: list[LabelRow] = []
    first: dict[Path, LabelRow] = {}
    folders: dict[Path, Path] = {}  # each folder of the rows, resolved once
    try:
        # utf-8-sig: spreadsheet programs write a byte-order mark that would rename the header
        with path.open(newline="", encoding="utf-8-sig") as fh:
            records = enumerate(csv.reader(fh), start=1)
            header = next((rec for _, rec in records), None)
            if header is None:
                raise ConfigError(
                    f"{where}: the file is empty; row 1 must be a header such as 'file,label'"
                )
            file_col = _column(header, FILE_COLUMNS, "file", where)
            label_col = _column(header, LABEL_COLUMNS, "label", where)
            for number, rec in records:
                if not any(cell.strip() for cell in rec):
                    continue  # a blank line (often the last one) is not a row
                text = rec[file_col].strip() if file_col < len(rec) else ""
                label = rec[label_col].strip() if label_col < len(rec) else ""
                resolved = _resolve_row(text, number, root, base, where, folders)
                if not label:
                    raise ConfigError(
                        f"{where}: row {number} ('{_shown(text)}') has an empty label"
                    )
                if resolved in first:
                    seen = first[resolved]
                    same = "repeats" if seen.text == text else "names the same file as"
                    said = f"{where}: row {number} ('{_shown(text)}') {same} row {seen.number}"
                    if seen.label != label:  # as the data check says it of copies
                        from ganhub.data.two_labels import TWO_LABELS

                        raise ConfigError(
                            f"{said} ('{_shown(seen.text)}'), labelled '{_shown(seen.label)}' "
                            f"there and '{_shown(label)}' here: {TWO_LABELS}"
                        )
                    raise ConfigError(f"{said} ('{_shown(seen.text)}'); give each file one row")
                row = LabelRow(number, text, resolved, label)
                first[resolved] = row
                rows.append(row)
    except UnicodeDecodeError:
        if path.suffix.lower() in _BINARY:  # an image given for the labels
            raise ConfigError(f"{where} is no CSV; give the labels file: {_CSV_SHAPE}") from None
        raise ConfigError(f"{where}: {_not_utf8(path)}; save the CSV as UTF-8") from None
    except csv.Error as exc:
        raise ConfigError(f"{where}: not a readable CSV ({_shown(exc, 100)})") from None
    if not rows:
        raise ConfigError(f"{where}: no rows after the header; one row per image is needed")
    _refuse_number_spellings(rows, where)
    return rows


def _not_utf8(path: Path) -> str:
    """Where a labels file stops being UTF-8: its line and byte (a spreadsheet's Latin-1 'é'
    is 0xe9), or that it is UTF-16, as some spreadsheet programs save "Unicode text"."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text, not UTF-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"not UTF-8 text (line {line}: byte 0x{data[exc.start]:02x})"
    return "not UTF-8 text"


def _refuse_number_spellings(rows: list[LabelRow], where: str) -> None:
    """'1', '01' and '1.0' (a spreadsheet's float column) would be three classes: refused."""
    spelled: dict[float, LabelRow] = {}
    for row in rows:
        try:
            value = float(row.label)
        except ValueError:
            continue
        seen = spelled.setdefault(value, row)
        if seen.label != row.label:
            raise ConfigError(
                f"{where}: labels '{_shown(seen.label)}' (row {seen.number}) and "
                f"'{_shown(row.label)}' (row {row.number}) are one number written two ways, "
                "which would make two classes; write each class one way"
            )


def hidden_part(text: str) -> str | None:
    """The hidden part (a name starting with '.': `.git`, `._a.png`) of a row's path as
    written, which the folder listing skips as no data; None when every part is visible."""
    parts = PurePosixPath(posixpath.normpath(text)).parts
    return next((p for p in parts if p.startswith(".") and p not in (".", "..")), None)


def read_label_csv(path: Path, root: Path, key: str = "data.labels") -> dict[Path, str]:
    """Map each file a labels CSV names (resolved, under `root`) to its label."""
    return {row.path: row.label for row in read_rows(path, root, key)}


__all__ = [
    "FILE_COLUMNS",
    "LABEL_COLUMNS",
    "LabelRow",
    "check_root",
    "hidden_part",
    "read_label_csv",
    "read_rows",
]
