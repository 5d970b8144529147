"""`ganhub report RUN_DIR RUN_DIR...`: several runs side by side on one self-contained page.

A default and its ablations (`ganhub run plugin=toy2d name=a`, `... tricks=[] name=b`) are
compared by what sets them apart and what came of it: the config keys whose values differ
(dotted keys; those the same in every run are counted, not shown), each run's final and best
evaluation scores with the best run's value marked, one plot per training loss and evaluation
metric that two or more runs logged (a line per run) and each run's status line.

Which way a score improves is what each run recorded, the first of (`RECORDS`): `better` in the
eval.json `ganhub eval` writes (its final scores), `checkpoints/better.json` (every key its
evaluations during training reported, written by `ganhub.engine.best.record_directions`),
`checkpoints/best.json` (the one key of trainer.keep_best); only for a key a run recorded
nowhere, what the installed metric declaring it says in its `better` table. Runs that
disagree, and a score nobody declares, are left unmarked.

Every run directory is untrusted: `rundata` reads it as `ganhub report` does for one run, and
the page is rendered by Jinja2 from ``templates/compare.html`` with autoescaping on. The plots
are drawn aside and embedded as data URIs; nothing is written into the runs' folders (a page
asked for inside one is refused), and the page itself is written atomically.
"""

from __future__ import annotations

import base64
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganhub.engine.checkpoint_state import DIRECTIONS, directions_in
from ganhub.errors import UsageError
from ganhub.metrics import COUNT_KEYS, store
from ganhub.metrics.report import html_environment, plot, series
from ganhub.metrics.report_status import missing_metrics, run_status
from ganhub.metrics.report_values import final_scores, typed_text
from ganhub.metrics.rundata import (
    MAX_FILE_BYTES,
    as_text,
    error_line,
    read_config,
    read_json,
    read_metrics,
    shown_key,
    shown_path,
)
from ganhub.plural import counted

MAX_DEPTH = 8  # config levels flattened into dotted keys (deeper ones are shown as one value)
MAX_KEYS = 2000  # dotted config keys read from one run
MAX_PLOTS = 40  # curves drawn (losses first, then metrics, by name)
MAX_DIRECTIONS = 1000  # keys of a run's recorded `better` mapping (a larger one is ignored)
WAYS = ("lower", "higher", None)  # the values a recorded direction may take (None: no score)
# a key that a run's config.yaml lacks: no text (every typed value is some text, `''` the
# empty one), so no value, "(not set)" included, reads as a missing key; the page says "not set"
NOT_SET = None
DEFAULT_PAGE = "compare.html"  # in the current folder, without --out
DISAGREE = "disagree"  # the runs' recorded directions of a key differ: no best run
# where a run records which way its keys improve, first first (see the module's docstring)
RECORDS = ("eval.json", f"checkpoints/{DIRECTIONS}", "checkpoints/best.json")

# which way a metric key improves ("lower", "higher" or None), as the installed metrics say
Directions = Callable[[str], str | None]


class Run:
    """One run directory as the comparison reads it."""

    def __init__(self, run_dir: Path, label: str) -> None:
        self.dir = run_dir
        self.label = label
        self.config = read_config(run_dir)
        self.notes: list[str] = []
        self.records = read_metrics(run_dir, self.notes)
        scored_odd: dict[str, str] = {}  # eval.json's scores whose mean is null, and why
        self.source, self.final = final_scores(run_dir, self.records, self.notes, scored_odd)
        self.status = run_status(run_dir, self.config, self.records, self.notes)
        if missing := missing_metrics(run_dir, self.config, self.records):
            self.notes.append(missing)  # as its own report says: no curves, and why
        self.curves = series(self.records, r"^(loss/|eval/)")  # {key: (steps, values)}
        # {eval key: (records logging it, of them not finite)}, keys logged NaN/inf (null) once
        # or more; and {key: its final cell} of those its final evaluation has so
        self.odd, last_odd = not_finite(self.records)
        self.final_odd = {k: f"null ({why})" for k, why in scored_odd.items()}
        if not self.source.startswith("eval.json"):
            self.final_odd = dict.fromkeys(last_odd, "null")
        # {key: direction} as each of RECORDS has it, in that order
        self.directions = (
            _own_directions(run_dir, self.notes),
            _training_directions(run_dir, self.notes),
            _best_record(run_dir, self.notes),
        )


def _own_directions(run_dir: Path, notes: list[str]) -> dict[str, str | None]:
    """Which way each evaluation key improves, as the run recorded it with its scores (the
    `better` of eval.json, which `ganhub eval` writes); {} for a run that recorded none."""
    path = run_dir / "eval.json"
    if not path.is_file():
        return {}
    data, problem = read_json(run_dir, path, MAX_FILE_BYTES)
    if problem is not None or not isinstance(data, dict) or "better" not in data:
        return {}
    said: list[str] = []
    scored = recorded_directions(data["better"], "eval.json", said)
    notes += said
    return scored


def _training_directions(run_dir: Path, notes: list[str]) -> dict[str, str | None]:
    """Which way each key the run's evaluations during training reported improves, as its
    checkpoints/better.json recorded it; {} (with one note when the file is damaged or not
    what ganhub writes) when there is none to trust."""
    path = run_dir / "checkpoints" / DIRECTIONS
    if not path.exists() and not path.is_symlink():
        return {}
    data, problem = read_json(run_dir, path, 1 << 20)
    if problem is None:
        try:
            return directions_in(data)
        except ValueError as exc:
            problem = f"it {exc}"
    notes.append(f"checkpoints/{DIRECTIONS}: ignored ({problem})")
    return {}


def recorded_directions(value: Any, where: str, notes: list[str]) -> dict[str, str | None]:
    """A run's recorded `better` mapping ({key: "lower", "higher" or null}) as checked data:
    one that is not a mapping, or holds more than MAX_DIRECTIONS keys, is ignored, and so is
    each entry with another value or a key that is not a short string; each with a note."""
    if not isinstance(value, dict) or len(value) > MAX_DIRECTIONS:
        what = counted(len(value), "keys", ",") if isinstance(value, dict) else type(value).__name__
        notes.append(
            f"{where}: 'better' ignored ({what}; a mapping of at most {MAX_DIRECTIONS:,} keys "
            'to "lower", "higher" or null)'
        )
        return {}
    kept = {
        key: way
        for key, way in value.items()
        if isinstance(key, str) and len(key) <= 200 and (way is None or isinstance(way, str))
        and way in WAYS
    }  # fmt: skip
    if len(kept) < len(value):
        bad = [shown_key(k, 40) for k in value if k not in kept]
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        notes.append(
            f"{where}: 'better' entries ignored ({', '.join(bad[:5])}{more}): each must be "
            '"lower", "higher" or null'
        )
    return {shown_key(key): way for key, way in kept.items()}  # as the rows name each key


def _best_record(run_dir: Path, notes: list[str]) -> dict[str, str | None]:
    """{metric key: "lower"/"higher"} of checkpoints/best.json (trainer.keep_best), if valid."""
    path = run_dir / "checkpoints" / "best.json"
    if not path.exists():
        return {}
    data, problem = read_json(run_dir, path, 64 << 10)
    if problem is None and not (
        isinstance(data, dict)
        and isinstance(data.get("metric"), str)
        and data.get("better") in ("lower", "higher")
    ):
        problem = "not a best-checkpoint record (metric, better)"
    if problem is not None:
        notes.append(f"checkpoints/best.json: ignored ({problem})")
        return {}
    return {shown_key(data["metric"].removeprefix("eval/")): data["better"]}


def not_finite(records: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """({eval key: (records logging it, of them not finite)} of the `eval/` keys a run logged
    as null (ganhub logs NaN and inf so) or not finite at least once, the keys its last
    evaluation logged so): a key null in every record is shown, never silently left out."""
    seen: dict[str, list[int]] = {}
    last: set[str] = set()
    found = False
    for record in reversed(records):  # the last evaluation first, as `final_scores` reads them
        keys = [(k, v) for k, v in record.items() if k.startswith("eval/")]
        for key, value in keys:
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                continue  # a text: no number to count
            try:
                odd = value is None or not math.isfinite(float(value))
            except OverflowError:  # an integer too large for a float
                odd = True
            name = shown_key(key[5:])
            counts = seen.setdefault(name, [0, 0])
            counts[0] += 1
            counts[1] += odd
            if odd and not found:
                last.add(name)
        found = found or bool(keys)
    return {k: (n, odd) for k, (n, odd) in seen.items() if odd}, last


def flatten(
    config: Any, prefix: str = "", depth: int = 0, out: dict[str, str] | None = None
) -> dict[str, str]:
    """{dotted key: value as a user types it} of a nested config mapping, at most MAX_KEYS keys;
    mappings deeper than MAX_DEPTH levels, and every value that is not a non-empty mapping,
    are one value."""
    out = {} if out is None else out
    if not isinstance(config, dict) or not config or depth >= MAX_DEPTH:
        if len(out) < MAX_KEYS:
            out[prefix] = typed_text(config)
        return out
    for key, value in config.items():
        if len(out) >= MAX_KEYS:
            break
        name = f"{prefix}.{shown_key(key, 80)}" if prefix else shown_key(key, 80)
        flatten(value, name, depth + 1, out)
    return out


def config_rows(
    runs: list[Run], notes: list[str]
) -> tuple[list[tuple[str, list[str | None]]], int]:
    """(rows of the keys whose values differ between the runs, how many keys are the same);
    a value is NOT_SET (None) where a run has no such key."""
    flat = [flatten(run.config) for run in runs]
    for run, one in zip(runs, flat):
        if len(one) >= MAX_KEYS:
            notes.append(f"{run.label}: config.yaml: only its first {MAX_KEYS} keys are compared")
    keys = {key for f in flat for key in f}
    # a key that holds keys in another run (`trick` of a run with `trick: {}` beside a run's
    # `trick.r1.gamma`) is shown by those keys' rows: "not set" would be untrue of it
    parents = {key.rsplit(".", n)[0] for key in keys for n in range(1, key.count(".") + 1)}
    rows = [(key, [f.get(key, NOT_SET) for f in flat]) for key in sorted(keys - parents)]
    differ = [row for row in rows if len(set(row[1])) > 1]
    return differ, len(rows) - len(differ)


def _best_of(values: list[float | None], way: str | None) -> set[int]:
    """Indices of the best of `values` (ties all), when two or more runs have one, `way` says
    which way is better and they are not all the same (then there is no best run); else none."""
    known = [v for v in values if v is not None]
    if way not in ("lower", "higher") or len(set(known)) < 2:
        return set()
    best = min(known) if way == "lower" else max(known)
    return {i for i, v in enumerate(values) if v == best}


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def metric_rows(
    runs: list[Run], directions: Directions | None, notes: list[str] | None = None
) -> list[dict[str, Any]]:
    """A row per evaluation key: each run's final and best value, the best ones marked (none
    where the runs disagree on which way the key improves: said in `notes`)."""
    notes = [] if notes is None else notes
    curves = [
        {shown_key(k[5:]): vals for k, (_, vals) in run.curves.items() if k.startswith("eval/")}
        for run in runs
    ]
    keys = sorted(
        {k for run in runs for k in run.final}
        | {k for c in curves for k in c}
        | {k for run in runs for k in (*run.odd, *run.final_odd)}
    )
    rows = []
    for key in keys:
        finals = [run.final.get(key) for run in runs]
        has = [
            f is not None or key in c or key in run.odd or key in run.final_odd
            for f, c, run in zip(finals, curves, runs)
        ]
        way = _direction(key, [r for r, h in zip(runs, has) if h], directions, notes)
        bests: list[float | None] = []
        for curve, final in zip(curves, finals):
            seen = [*curve.get(key, [])]
            seen += [final] if final is not None else []
            pick = min if way == "lower" else max
            bests.append(pick(seen) if seen and way in ("lower", "higher") else None)
        top_final, top_best = _best_of(finals, way), _best_of(bests, way)
        cells = [
            {
                "final": run.final_odd.get(key, "") if f is None else _fmt(f),
                "best": _best_text(b, run.odd.get(key)),
                "final_top": i in top_final,
                "best_top": i in top_best,
            }
            for i, (f, b, run) in enumerate(zip(finals, bests, runs))
        ]
        said = "runs disagree" if way == DISAGREE else way or ""
        rows.append({"key": key, "better": said, "cells": cells})
    return rows


def _best_text(best: float | None, odd: tuple[int, int] | None) -> str:
    """A best cell: the value ("n/a" where the run logged the key but never finite), with the
    count of its values that were not finite (logged as null), as the single-run report says."""
    if odd is None:
        return _fmt(best)
    count, bad = odd
    shown = "n/a" if bad == count else _fmt(best)
    return f"{shown} ({count} record{'s' if count > 1 else ''}, {bad} not finite)".lstrip()


def _direction(
    key: str, runs: list[Run], directions: Directions | None, notes: list[str]
) -> str | None:
    """Which way `key` improves, as the runs that have it recorded it (the first of RECORDS
    that holds it), and for a run that recorded it nowhere as the installed metrics declare
    it; DISAGREE (with a note) when they differ. Counts such as n_samples are no score."""
    if key in COUNT_KEYS:
        return None
    ways: dict[str, tuple[str | None, str]] = {}  # run label -> (direction, where from)
    for run in runs:
        found = [
            (ways_of[key], src) for ways_of, src in zip(run.directions, RECORDS) if key in ways_of
        ]
        if found:
            ways[run.label] = found[0]
        elif directions is not None and (way := directions(key)) is not None:
            ways[run.label] = way, "installed metrics"  # an older run: what is declared now
    if len({way for way, _ in ways.values()}) > 1:
        said = ", ".join(
            f"{label}: {way or 'no score'} ({src})" for label, (way, src) in ways.items()
        )
        notes.append(
            f"{shown_key(key, 80)}: the runs disagree on which way it improves ({said}); "
            "no run is marked"
        )
        return DISAGREE
    return next(iter(ways.values()))[0] if ways else None


def curve_keys(runs: list[Run], notes: list[str]) -> list[tuple[str, list[str]]]:
    """(key, [run labels that logged it]) of the losses and evaluation metrics two or more
    runs logged, losses first; the keys only one run logged are named in a note."""
    logged: dict[str, list[str]] = {}
    for run in runs:
        for key in run.curves:
            if not key.startswith("eval/n_"):
                logged.setdefault(key, []).append(run.label)
    shared = sorted(
        ((k, labels) for k, labels in logged.items() if len(labels) > 1),
        key=lambda item: (not item[0].startswith("loss/"), item[0]),
    )
    alone = sorted(shown_key(k, 40) for k, labels in logged.items() if len(labels) == 1)
    if alone:
        more = f" and {len(alone) - 8} more" if len(alone) > 8 else ""
        notes.append(f"logged by one run only, not drawn: {', '.join(alone[:8])}{more}")
    if len(shared) > MAX_PLOTS:
        notes.append(f"{len(shared)} shared curves; the first {MAX_PLOTS} are drawn")
    return shared[:MAX_PLOTS]


def _labels(run_dirs: list[Path]) -> list[str]:
    """Each run's name (its folder's), made unique with a number where two share one."""
    labels: list[str] = []
    for run_dir in run_dirs:
        name = as_text(shown_path(run_dir.name or run_dir.resolve().name), 60)
        label, n = name, 1
        while label in labels:
            n += 1
            label = f"{name} ({n})"
        labels.append(label)
    return labels


def check_runs(run_dirs: list[Path]) -> None:
    """A one-line UsageError when a run directory is given twice."""
    seen: dict[Path, Path] = {}
    for run_dir in run_dirs:
        where = run_dir.resolve()
        if where in seen:
            same = f" (as '{shown_path(seen[where])}')" if seen[where] != run_dir else ""
            raise UsageError(
                f"'{shown_path(run_dir)}' is given twice{same}; give each run directory once"
            )
        seen[where] = run_dir


def destination(out: str | None, run_dirs: list[Path]) -> Path:
    """The page's path: --out (a folder takes compare.html), else compare.html here; refused
    in one line inside a run's folder (a comparison writes nothing into the runs), each
    refusal of the default worded for it (the user gave no --out)."""
    if out is None:
        _check_default(run_dirs)
    path = store.page_destination(out or DEFAULT_PAGE, DEFAULT_PAGE, run_dirs[0], run_dirs[1:])
    assert path is not None  # a path was given
    for run_dir in run_dirs:
        if path.resolve().is_relative_to(run_dir.resolve()):
            raise UsageError(
                f"--out '{shown_path(path)}' is inside the run directory '{shown_path(run_dir)}'"
                "; a comparison writes nothing into the runs: give --out a path outside them"
            )
    return path


def _check_default(run_dirs: list[Path]) -> None:
    """A one-line UsageError when the default page, compare.html in the current folder, may
    not be written: inside a run (or the folder its checkpoints/ links to), or a file there
    that is not a page ganhub wrote."""
    said = f"the page's default destination {DEFAULT_PAGE} here"
    here = Path(DEFAULT_PAGE).resolve()
    for run_dir in run_dirs:
        run = run_dir.resolve()
        kept = (run / "checkpoints").resolve()
        where = "its checkpoints/ folder" if here.is_relative_to(kept) else ""
        if where or here.is_relative_to(run):
            where = f"the run directory '{shown_path(run_dir)}'" + (f" ({where})" if where else "")
            raise UsageError(
                f"{said} is inside {where}; a comparison writes nothing into the runs: give "
                "--out a path outside them"
            )
    if Path(DEFAULT_PAGE).is_file() and not store.ganhub_page(Path(DEFAULT_PAGE)):
        raise UsageError(
            f"{said} exists and is not a page ganhub wrote; give --out a new file, or remove it"
        )


def write_comparison(
    run_dirs: list[Path], out: str | None = None, directions: Directions | None = None
) -> Path:
    """Write the comparison page of two or more runs (to `out`, else ./compare.html) and
    return its path; `directions` says which way a metric key improves, where known."""
    check_runs(run_dirs)
    runs = [Run(d, label) for d, label in zip(run_dirs, _labels(run_dirs))]
    target = destination(out, run_dirs)
    scratch = Path(tempfile.mkdtemp(prefix="ganhub-compare-"))
    try:
        page = _page(runs, directions, scratch)
        return store.write_bytes(target, page.encode("utf-8", "replace"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _page(runs: list[Run], directions: Directions | None, scratch: Path) -> str:
    """The comparison page's HTML, its plots drawn into `scratch`."""
    notes: list[str] = []
    differ, same = config_rows(runs, notes)
    figures = []
    for n, (key, labels) in enumerate(curve_keys(runs, notes)):
        data = {run.label: run.curves[key] for run in runs if run.label in labels}
        title = shown_key(key, 80)
        try:
            path = plot(scratch / f"curve_{n}.png", title, data)
        except Exception as exc:  # matplotlib on hostile numbers: a note, not a traceback
            notes.append(f"{title}: not drawn ({type(exc).__name__}: {error_line(exc)})")
            continue
        uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        figures.append({"title": title, "src": uri})
    for run in runs:
        notes += [f"{run.label}: {note}" for note in run.notes]
    plugins = sorted({as_text(run.config.get("plugin")) for run in runs})
    return (
        html_environment("ganhub.metrics")
        .get_template("compare.html")
        .render(
            runs=[
                {
                    "label": run.label,
                    "path": as_text(shown_path(run.dir), 300),
                    "plugin": as_text(run.config.get("plugin")),
                    "kind": run.status[0],
                    "status": run.status[1],
                    "source": run.source,
                }
                for run in runs
            ],
            plugins=plugins if len(plugins) > 1 else [],
            differ=differ,
            same=same,
            metrics=metric_rows(runs, directions, notes),
            figures=figures,
            notes=notes,
        )
    )


__all__ = [
    "write_comparison",
]
