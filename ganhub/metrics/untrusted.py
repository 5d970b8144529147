"""Values and files of an untrusted run directory: bounded text, finite numbers, confined reads.

Run directories travel between people, so nothing read from one is trusted: only regular files
that resolve inside the run directory are opened (a link must not pull, say, ~/.ssh/id_rsa into a
page that gets mailed), files are read up to a size limit, and values come back as bounded plain
text or finite numbers. `rundata` reads config.yaml and metrics.jsonl with these,
`run_samples` the sample files, `final_scores` eval.json. Nothing here escapes markup: the page's
template engine does that; `shown_path` escapes what a terminal would act on.
"""

from __future__ import annotations

import json
import math
import reprlib
from pathlib import Path
from typing import Any

from ganhub.errors import one_line

MAX_GRIDS = 12
MAX_FILE_BYTES = 16 << 20  # config.yaml / eval.json larger than this are not parsed
MAX_IMAGE_BYTES = 32 << 20  # a sample image larger than this is not embedded
MAX_ROWS = 200  # rows of the final metrics table
MAX_TEXT = 200  # characters of one value shown on the page
MAX_NOTE = 2000  # characters of one note (which may quote many keys) shown in a terminal
MAX_SAMPLE_LINES = 8  # lines of a text sample file shown on the page
MAX_PLOTTED = 1e30  # |value| and step beyond this break matplotlib's tick locators
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 3, 8, 8, 8
_REPR.maxset, _REPR.maxfrozenset, _REPR.maxstring, _REPR.maxother = 8, 8, 60, 60


def as_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A bounded plain-text rendering of a value read from the run directory (not escaped:
    the template engine escapes it)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        text = f"<integer of {value.bit_length()} bits>"  # str() of a huge int may refuse
    elif value is None or isinstance(value, bool | int | float):
        text = str(value)
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # a repr of hostile data must not end the report
            text = f"<{type(value).__name__}>"
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from JSON
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_number(value: Any) -> float | None:
    """`value` as a finite float that matplotlib can draw, else None."""
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and abs(number) <= MAX_PLOTTED else None


def whole_step(value: Any) -> int | None:
    """A record's step: a non-negative int (not a bool) small enough to plot."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_PLOTTED else None


def shown_path(path: Path | str) -> str:
    """A path or file name as every message and page shows it (`one_line`): control
    characters and bytes that are not UTF-8 written as escapes."""
    return one_line(str(path))


def shown_key(key: Any, limit: int = MAX_TEXT) -> str:
    """A metric or config key read from the run directory as every page, note and message
    shows it: escaped as `shown_path` escapes a name ("fid\\x1b[31m", "a\\nb"), then bounded as
    `as_text` bounds a value. A key with control characters is a third-party metric's name or
    a hand-edited file's, never one to print raw into a terminal or a model card."""
    return as_text(one_line(key) if isinstance(key, str) else key, limit)


def shown_text(text: Any, limit: int = MAX_NOTE) -> str:
    """A line that quotes what the run directory holds (a note of `ganhub eval`, which names
    the metrics and keys of an earlier eval.json) as a terminal shows it: one line, escaped
    and bounded as `shown_key` does a key ("a\\nb", not a second line)."""
    return shown_key(text, limit)


def error_line(exc: BaseException, limit: int = 160) -> str:
    """An exception as one short, printable line (whitespace collapsed, the rest escaped)."""
    return one_line(" ".join(str(exc).split()) or type(exc).__name__, limit)


def inside_run(run_dir: Path, path: Path) -> bool:
    """True when `path` is a regular file that resolves inside the run directory (a link in a
    shared run directory must not pull, say, ~/.ssh/id_rsa into a page that gets mailed)."""
    try:
        return path.is_file() and path.resolve().is_relative_to(run_dir.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def read_bytes(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it is larger than `limit`."""
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    return data if len(data) <= limit else None


def read_json(run_dir: Path, path: Path, max_bytes: int) -> tuple[Any, str | None]:
    """(parsed JSON, None) of a file of the run, or (None, what is wrong with it): outside the
    run directory or not a regular file, larger than `max_bytes`, unreadable, not JSON."""
    if not inside_run(run_dir, path):
        return None, "not a regular file inside the run directory"
    try:
        data = read_bytes(path, max_bytes)
        if data is None:
            size = f"{max_bytes >> 20} MiB" if max_bytes >= 1 << 20 else f"{max_bytes >> 10} KiB"
            return None, f"larger than {size}"
        return json.loads(data), None
    except OSError as exc:
        return None, f"cannot be read ({error_line(exc)})"
    except (ValueError, RecursionError):
        return None, "not valid JSON"


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_GRIDS",
    "MAX_IMAGE_BYTES",
    "MAX_NOTE",
    "MAX_PLOTTED",
    "MAX_ROWS",
    "MAX_SAMPLE_LINES",
    "MAX_TEXT",
    "PNG_SIGNATURE",
    "as_number",
    "as_text",
    "error_line",
    "inside_run",
    "read_bytes",
    "read_json",
    "shown_key",
    "shown_path",
    "shown_text",
    "whole_step",
]
