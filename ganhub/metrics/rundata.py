"""Reading a run directory for `ganhub report`: every file in it is untrusted.

This module reads config.yaml and metrics.jsonl, and is the one import for all of it: the
bounded values and confined reads (`untrusted`), the sample files (`run_samples`) and the final
metrics table (`final_scores`) are re-exported here. Values that are not what a run writes (a
line that is not a JSON object, a non-numeric metric, a huge line, a sample that is not a PNG)
are skipped and described in the caller's `notes`; a config.yaml that cannot be read as a
mapping is a one-line UsageError naming the file. Nothing here escapes markup: the page's
template engine does that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ganhub.config.overrides import ConfigLoader, DuplicateKeyError
from ganhub.config.saved import run_holding
from ganhub.errors import UsageError
from ganhub.metrics.final_scores import eval_result as eval_result
from ganhub.metrics.final_scores import final_metrics as final_metrics
from ganhub.metrics.final_scores import not_finite_mean as not_finite_mean
from ganhub.metrics.run_samples import sample_grids as sample_grids
from ganhub.metrics.run_samples import sample_texts as sample_texts
from ganhub.metrics.untrusted import MAX_FILE_BYTES as MAX_FILE_BYTES
from ganhub.metrics.untrusted import MAX_GRIDS as MAX_GRIDS
from ganhub.metrics.untrusted import MAX_IMAGE_BYTES as MAX_IMAGE_BYTES
from ganhub.metrics.untrusted import MAX_PLOTTED as MAX_PLOTTED
from ganhub.metrics.untrusted import MAX_ROWS as MAX_ROWS
from ganhub.metrics.untrusted import MAX_SAMPLE_LINES as MAX_SAMPLE_LINES
from ganhub.metrics.untrusted import MAX_TEXT as MAX_TEXT
from ganhub.metrics.untrusted import PNG_SIGNATURE as PNG_SIGNATURE
from ganhub.metrics.untrusted import as_number as as_number
from ganhub.metrics.untrusted import as_text as as_text
from ganhub.metrics.untrusted import error_line as error_line
from ganhub.metrics.untrusted import inside_run, read_bytes, whole_step
from ganhub.metrics.untrusted import read_json as read_json
from ganhub.metrics.untrusted import shown_key as shown_key
from ganhub.metrics.untrusted import shown_path as shown_path
from ganhub.plural import counted
from ganhub.runfiles import runs_inside

MAX_LINE_BYTES = 1 << 20  # a metrics.jsonl line longer than this is skipped unread


def read_config(run_dir: Path) -> dict[Any, Any]:
    """config.yaml as a mapping, or a one-line UsageError naming the file."""
    path = run_dir / "config.yaml"
    if path.exists() and not path.is_file():  # a FIFO would block the read; a folder, a device
        raise UsageError(f"{shown_path(path)}: not a regular file; config.yaml must be one")
    holder = None if path.is_file() else run_holding(run_dir)
    if holder is not None:  # `ganhub report runs/x/samples`
        raise UsageError(
            f"'{shown_path(run_dir)}' is not a run directory but is inside one: "
            f"give '{shown_path(holder)}'"
        )
    if not path.is_file():
        raise UsageError(
            f"'{shown_path(run_dir)}' is not a ganhub run directory (no config.yaml)"
            + runs_inside(run_dir)
        )
    if not inside_run(run_dir, path):
        raise UsageError(f"{shown_path(path)}: a link to a file outside the run directory")
    try:
        data = read_bytes(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise UsageError(f"{shown_path(path)}: cannot be read ({error_line(exc)})") from None
    if data is None:
        raise UsageError(f"{shown_path(path)}: larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{shown_path(path)}: not UTF-8 text") from None
    try:
        config = yaml.load(text, Loader=ConfigLoader)
    except DuplicateKeyError as exc:
        raise UsageError(exc.said_of(shown_path(path))) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise UsageError(f"{shown_path(path)}: not valid YAML ({error_line(exc)})") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise UsageError(
            f"{shown_path(path)}: expected a mapping of config keys, got {type(config).__name__}"
        )
    return config


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return f"line {shown}" + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def read_metrics(run_dir: Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """The records of metrics.jsonl: JSON objects with an integer `step`, in file order.

    A half-written last line is ignored; other lines that are not such an object, or are longer
    than MAX_LINE_BYTES (not read into memory), are skipped and described in `notes`.
    """
    notes = [] if notes is None else notes
    path = run_dir / "metrics.jsonl"
    records: list[dict[str, Any]] = []
    if not path.exists():
        return records
    if not inside_run(run_dir, path):
        notes.append("metrics.jsonl: not read (not a regular file inside the run directory)")
        return records
    skipped: dict[str, list[int]] = {}
    try:
        with path.open("rb") as fh:
            number = 0
            while line := fh.readline(MAX_LINE_BYTES + 1):
                number += 1
                if len(line) > MAX_LINE_BYTES:
                    while line and not line.endswith(b"\n"):  # the rest of it, 1 MiB at a time
                        line = fh.readline(MAX_LINE_BYTES)
                    skipped.setdefault(f"longer than {MAX_LINE_BYTES >> 20} MiB", []).append(number)
                    continue
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, huge ints
                    if line.endswith(b"\n"):  # else: the last line, still being written
                        skipped.setdefault("not valid JSON", []).append(number)
                    continue
                if not isinstance(record, dict):
                    skipped.setdefault("not a JSON object", []).append(number)
                elif whole_step(record.get("step")) is None:
                    skipped.setdefault("without a whole-number 'step'", []).append(number)
                else:
                    records.append(record)
    except OSError as exc:
        notes.append(f"metrics.jsonl: reading stopped ({error_line(exc)})")
    for reason, numbers in skipped.items():
        notes.append(
            f"metrics.jsonl: skipped {counted(len(numbers), 'lines')} {reason} ({_lines(numbers)})"
        )
    return records


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "as_number",
    "as_text",
    "error_line",
    "eval_result",
    "not_finite_mean",
    "read_config",
    "read_json",
    "read_metrics",
    "shown_key",
    "shown_path",
]
