"""The "Other logged values" table of `ganhub report`: metrics.jsonl keys that no plot draws.

Tricks, plugins and the engine log values of their own (stylegan's ADA trick `ada_p` and
`ada_rt`, an R1 penalty, `G_fake_logit`, `perf/steps_per_s`, a third-party trick's keys); the
page's plots draw the keys they know. Each other key with numeric values gets one row: the steps
it was logged at, its first, last, smallest and largest value. The rows are bounded (the first
MAX_OTHER keys by name; a note counts the rest) and every key is bounded text, escaped by the
page's template.
"""

from __future__ import annotations

import re
from typing import Any

from ganhub.metrics.rundata import as_number, as_text

MAX_OTHER = 40  # rows of the table
SHOWN_ELSEWHERE = (
    r"^eval/",
    r"^early_stop",
    r"^stop/",
)  # the metrics plot and table, the status line


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def other_values(
    records: list[dict[str, Any]], drawn: tuple[str, ...], notes: list[str]
) -> list[tuple[str, str, str, str, str, str]]:
    """Rows (key, logged at, first, last, min, max) for the numeric keys of `records` that
    match none of the patterns in `drawn` (the plots' own) or SHOWN_ELSEWHERE."""
    skip = re.compile("|".join(f"(?:{p})" for p in (*drawn, *SHOWN_ELSEWHERE)))
    seen: dict[str, list[Any]] = {}  # key: [count, first step, first, last step, last, lo, hi]
    passed: set[str] = set()
    for record in records:
        step = record["step"]
        for key, value in record.items():
            if key in ("step", "time") or key in passed:
                continue
            if key not in seen and skip.search(key):
                passed.add(key)
                continue
            number = as_number(value)
            if number is None:
                continue
            row = seen.get(key)
            if row is None:
                seen[key] = [1, step, number, step, number, number, number]
                continue
            row[0] += 1
            row[3], row[4] = step, number
            row[5], row[6] = min(row[5], number), max(row[6], number)
    keys = sorted(seen)
    if len(keys) > MAX_OTHER:
        notes.append(
            f"Other logged values: {len(keys)} keys logged, the first {MAX_OTHER} by name shown"
        )
    rows = []
    for key in keys[:MAX_OTHER]:
        count, first_step, first, last_step, last, lo, hi = seen[key]
        at = (
            f"step {first_step}"
            if count == 1
            else f"steps {first_step} to {last_step} ({count} records)"
        )
        rows.append((as_text(key, 60), at, _fmt(first), _fmt(last), _fmt(lo), _fmt(hi)))
    return rows


__all__ = ["MAX_OTHER", "other_values"]
