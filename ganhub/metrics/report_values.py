"""Values as `ganhub report`'s pages show them: config values as users type them (`typed_text`),
the "Other logged values" table, the metrics.jsonl keys that no plot draws, and a run's final
scores as numbers for the comparison (`final_scores`, with eval.json's null ones and why).

A config value (a row of the comparison's "Config differences", the report's seed) is shown as
`ganhub config` prints it and as it is typed on the command line or in config.yaml: YAML in flow
style (`null`, `true`, `[r1, ema]`, `{gamma: 5}`), a text as it is unless YAML would read it as
another value (`'1'`, `'null'`): two runs' values that differ never read the same.

Tricks, plugins and the engine log values of their own (stylegan's ADA trick `ada_p` and
`ada_rt`, an R1 penalty, `G_fake_logit`, `perf/steps_per_s`, a third-party trick's keys); the
page's plots draw the keys they know. Each other key with numeric values gets one row: the steps
it was logged at, its first, last, smallest and largest value; a value that went NaN or inf
(metrics.jsonl's null) is counted and shown as logged, so a value that diverged at the end does
not read as its last finite one. The rows are bounded (the first
MAX_OTHER keys by name; a note counts the rest) and every key is bounded text, escaped by the
page's template.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from ganhub.config.overrides import ConfigDumper
from ganhub.metrics.final_scores import eval_result, not_finite_mean
from ganhub.metrics.untrusted import MAX_ROWS, MAX_TEXT, as_number, as_text, shown_key

MAX_OTHER = 40  # rows of the table
MAX_NESTING = 32  # levels of a config value shown (deeper ones end in "…")
SHOWN_ELSEWHERE = (
    r"^eval/",
    r"^early_stop",
    r"^stop/",
)  # the metrics plot and table, the status line


class _PageDumper(ConfigDumper):
    """`ConfigDumper` whose texts of several lines inside a list or mapping are written in
    double quotes with their breaks escaped (`{k: "a\\nb"}`): flow style would fold each
    break into a blank line, which a page shows as a space."""


def _escaped_breaks(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if "\n" in text or "\r" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_PageDumper.add_representer(str, _escaped_breaks)


def typed_text(value: Any, limit: int = MAX_TEXT) -> str:
    """A config value read from a run's config.yaml as a user types it: `null`, `true`,
    `[r1, ema]`, a text quoted only where YAML would read it as another value (`'1'`,
    `'null'`, `''`), as `ganhub config` writes them, in flow style; a text of several lines
    as a YAML literal block (`|-` and its lines, indented: the page keeps the lines), or in
    double quotes with its breaks escaped where a block cannot hold it (control characters,
    spaces ending a line) and inside a list or mapping; never an empty text. Bounded to
    `limit` characters (not escaped: the template engine escapes it)."""
    cut = [False]  # whether the value was shortened: the text then ends in "…"
    try:
        # each value shown takes a character or more: more than `limit` of them would be cut
        shown = _bounded(value, [limit], limit, 0, cut)
        lines = isinstance(shown, str) and ("\n" in shown or "\r" in shown)
        text = yaml.dump(
            shown,
            Dumper=ConfigDumper if lines else _PageDumper,
            default_style="|" if lines else None,
            default_flow_style=True,
            width=1 << 30,
            allow_unicode=True,
            sort_keys=False,
        )
    except Exception:  # what config.yaml held but YAML cannot write back: as plain text
        return as_text(value, limit)
    if lines and text.startswith("|"):  # a block's last lines are part of its value (`|+`)
        text = text.removesuffix("...\n").removesuffix("\n")
    else:
        text = text.strip().removesuffix("...").strip()  # a value alone ends its document
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit and not cut[0] else text[: limit - 1] + "…"


def _bounded(value: Any, budget: list[int], limit: int, depth: int, cut: list[bool]) -> Any:
    """`value` with at most `budget[0]` values in all, texts of `limit` characters and
    MAX_NESTING levels: writing a huge or self-referencing (`a: &x [*x]`) config value takes
    no more work than the part of it that is shown."""
    budget[0] -= 1
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return as_text(value)  # "<integer of 133 bits>": str() of a huge int may refuse
    if isinstance(value, str) and len(value) > limit:
        cut[0] = True
        return value[:limit]
    if not isinstance(value, dict | list | tuple | set):
        return value
    if depth >= MAX_NESTING:
        cut[0] = True
        return []
    kept: list[Any] = []
    for item in value.items() if isinstance(value, dict) else value:
        if budget[0] <= 0:
            cut[0] = True
            break
        if isinstance(value, dict):
            item = tuple(_bounded(one, budget, limit, depth + 1, cut) for one in item)
        else:
            item = _bounded(item, budget, limit, depth + 1, cut)
        kept.append(item)
    return dict(kept) if isinstance(value, dict) else kept


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _logged(value: Any) -> tuple[str, float | None] | None:
    """A logged value as the table shows it and as a finite number (None: null, NaN, inf;
    ganhub logs a non-finite value as null), or None for a value that is no number (a text)."""
    if value is None:
        return "null", None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return as_text(value, 40), None  # an integer too large for a float
    return _fmt(number), number if math.isfinite(number) else None


def other_values(
    records: list[dict[str, Any]], drawn: tuple[str, ...], notes: list[str]
) -> list[tuple[str, str, str, str, str, str]]:
    """Rows (key, logged at, first, last, min, max) for the numeric keys of `records` that
    match none of the patterns in `drawn` (the plots' own) or SHOWN_ELSEWHERE. A null or
    non-finite value (a trick's value that diverged) counts as logged and shows as itself in
    first and last; min and max are over the finite values."""
    skip = re.compile("|".join(f"(?:{p})" for p in (*drawn, *SHOWN_ELSEWHERE)))
    # key: [count, first step, first, last step, last, lo, hi, not finite]
    seen: dict[str, list[Any]] = {}
    passed: set[str] = set()
    for record in records:
        step = record["step"]
        for key, value in record.items():
            if key in ("step", "time") or key in passed:
                continue
            if key not in seen and skip.search(key):
                passed.add(key)
                continue
            logged = _logged(value)
            if logged is None:
                continue
            shown, number = logged
            row = seen.get(key)
            if row is None:
                row = seen[key] = [0, step, shown, step, shown, None, None, 0]
            row[0] += 1
            row[3], row[4] = step, shown
            if number is None:
                row[7] += 1
            else:
                row[5] = number if row[5] is None else min(row[5], number)
                row[6] = number if row[6] is None else max(row[6], number)
    keys = sorted(seen)
    if len(keys) > MAX_OTHER:
        notes.append(
            f"Other logged values: {len(keys)} keys logged, the first {MAX_OTHER} by name shown"
        )
    rows = []
    for key in keys[:MAX_OTHER]:
        count, first_step, first, last_step, last, lo, hi, odd = seen[key]
        at = (
            f"step {first_step}"
            if count == 1
            else f"steps {first_step} to {last_step} ({count} records)"
        )
        if odd and count > 1:
            at = f"{at[:-1]}, {odd} not finite)"
        low, high = ("n/a", "n/a") if lo is None else (_fmt(lo), _fmt(hi))
        rows.append((shown_key(key, 60), at, first, last, low, high))
    return rows


def final_scores(
    run_dir: Path,
    records: list[dict[str, Any]],
    notes: list[str] | None = None,
    odd: dict[str, str] | None = None,
) -> tuple[str, dict[str, float]]:
    """(where from, {key: value}) of the run's final evaluation as numbers: eval.json's means
    unless the run logged a later evaluation since, else the last logged one (the choice
    `rundata.final_metrics` makes); values that are not finite numbers are left out, and those
    of eval.json whose mean is null (NaN or inf) go to `odd` ({key: why}), to show as such."""
    notes = [] if notes is None else notes
    result = eval_result(run_dir, notes)
    logged: tuple[int, dict[str, float]] | None = None
    for rec in reversed(records):
        evals = {k.removeprefix("eval/"): v for k, v in rec.items() if k.startswith("eval/")}
        if evals:
            numbers = {k: as_number(v) for k, v in list(evals.items())[:MAX_ROWS]}
            logged = rec["step"], {shown_key(k): v for k, v in numbers.items() if v is not None}
            break
    if result is not None and (logged is None or logged[0] <= result["step"]):
        scores = list(result["results"].items())[:MAX_ROWS]
        means = {k: as_number(v.get("mean")) if isinstance(v, dict) else None for k, v in scores}
        if odd is not None:
            odd.update({shown_key(k): why for k, v in scores if (why := not_finite_mean(v))})
        kept = {shown_key(k): v for k, v in means.items() if v is not None}
        return f"eval.json (step {result['step']})", kept
    if logged is not None:
        return f"last evaluation during training (step {logged[0]})", logged[1]
    return "no evaluation yet", {}


__all__ = ["MAX_OTHER", "final_scores", "other_values", "typed_text"]
