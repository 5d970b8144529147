"""`ganhub report RUN_DIR`: one self-contained HTML page to look at instead of reading logs.

The page holds loss curves, discriminator diagnostics, gradient norms, sample diversity and
collapse warnings, metric curves, the sample grids over time and the final metrics table. Plots
are written as PNGs into ``RUN_DIR/report/`` and embedded in ``RUN_DIR/report.html`` as data
URIs, so the page can be mailed or archived alone. A small script marks images that fail to
decode, so a broken page is visible (and testable).

Run directories travel between people, so every file in one is untrusted. The page is rendered
by Jinja2 from ``templates/report.html`` with autoescaping on: each value read from the run
directory (metric keys and values, config, eval.json, file names, the directory's name) reaches
the page as escaped text, never as markup, and nothing here escapes or marks anything by hand.
Values that are not what a run writes (a line that is not a JSON object, a non-numeric metric, a
huge line, a sample that is not a PNG) are skipped and listed under "Skipped while reading"; a
config.yaml that cannot be read as a mapping is a one-line UsageError naming the file.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ganhub.errors import UsageError
from ganhub.metrics import store

MAX_GRIDS = 12
MAX_LINE_BYTES = 1 << 20  # a metrics.jsonl line longer than this is skipped unread
MAX_FILE_BYTES = 16 << 20  # config.yaml / eval.json larger than this are not parsed
MAX_IMAGE_BYTES = 32 << 20  # a sample image larger than this is not embedded
MAX_SERIES = 24  # curves drawn in one panel (and metric panels in the metrics figure)
MAX_ROWS = 200  # rows of the final metrics table
MAX_TEXT = 200  # characters of one value shown on the page
MAX_PLOTTED = 1e30  # |value| and step beyond this break matplotlib's tick locators
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (file stem, title, which keys, log scale)
PANELS: tuple[tuple[str, str, str, bool], ...] = (
    ("losses", "Losses", r"^loss/", False),
    (
        "discriminator",
        "D(x), D(G(z)) and D's accuracy",
        r"^D.*_(real|fake|win|real_acc|fake_acc)$",
        False,
    ),
    ("grad_norms", "Gradient norms (before clipping)", r"^grad_norm/", True),
    (
        "diversity",
        "Sample diversity in the batch (1 = as diverse as the data) and collapse flags",
        r"^(diversity|collapse)",
        False,
    ),
    ("throughput", "Throughput", r"^perf/samples_per_s$", False),
)

Series = dict[str, tuple[list[int], list[float]]]

# -- reading untrusted values --------------------------------------------------------------

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 3, 8, 8, 8
_REPR.maxset, _REPR.maxfrozenset, _REPR.maxstring, _REPR.maxother = 8, 8, 60, 60


def _text(value: Any, limit: int = MAX_TEXT) -> str:
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


def _number(value: Any) -> float | None:
    """`value` as a finite float that matplotlib can draw, else None."""
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and abs(number) <= MAX_PLOTTED else None


def _step(value: Any) -> int | None:
    """A record's step: a non-negative int (not a bool) small enough to plot."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_PLOTTED else None


def _shown(path: Path) -> str:
    """A path for a one-line terminal message: control characters written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inside(run_dir: Path, path: Path) -> bool:
    """True when `path` is a regular file that resolves inside the run directory (a link in a
    shared run directory must not pull, say, ~/.ssh/id_rsa into a page that gets mailed)."""
    try:
        return path.is_file() and path.resolve().is_relative_to(run_dir.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _read_bytes(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it is larger than `limit`."""
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    return data if len(data) <= limit else None


def read_config(run_dir: Path) -> dict[Any, Any]:
    """config.yaml as a mapping, or a one-line UsageError naming the file."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UsageError(f"'{_shown(run_dir)}' is not a ganhub run directory (no config.yaml)")
    if not _inside(run_dir, path):
        raise UsageError(f"{_shown(path)}: a link to a file outside the run directory")
    try:
        data = _read_bytes(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise UsageError(f"{_shown(path)}: cannot be read ({_one_line(exc)})") from None
    if data is None:
        raise UsageError(f"{_shown(path)}: larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{_shown(path)}: not UTF-8 text") from None
    try:
        config = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise UsageError(f"{_shown(path)}: not valid YAML ({_one_line(exc)})") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise UsageError(
            f"{_shown(path)}: expected a mapping of config keys, got {type(config).__name__}"
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
    if not _inside(run_dir, path):
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
                elif _step(record.get("step")) is None:
                    skipped.setdefault("without a whole-number 'step'", []).append(number)
                else:
                    records.append(record)
    except OSError as exc:
        notes.append(f"metrics.jsonl: reading stopped ({_one_line(exc)})")
    for reason, numbers in skipped.items():
        notes.append(f"metrics.jsonl: skipped {len(numbers)} line(s) {reason} ({_lines(numbers)})")
    return records


def series(
    records: list[dict[str, Any]], pattern: str, unplotted: set[str] | None = None
) -> Series:
    """{key: (steps, values)} for numeric keys matching `pattern`, in step order.

    Keys with a value that is not a finite number (or too large to plot) go to `unplotted`.
    """
    out: Series = {}
    rx = re.compile(pattern)
    for rec in records:
        for key, value in rec.items():
            if key in ("step", "time") or not rx.search(key):
                continue
            number = _number(value)
            if number is None:
                if unplotted is not None:
                    unplotted.add(key)
                continue
            steps, values = out.setdefault(key, ([], []))
            steps.append(int(rec["step"]))
            values.append(number)
    return out


# -- plots (PNG files we write; labels are untrusted text, drawn as text) ------------------


def _label(key: str) -> str:
    """A metric key as a matplotlib label: bounded, and `$` literal (no mathtext parsing)."""
    return _text(key, 60).replace("$", r"\$")


def _capped(data: Series, what: str, notes: list[str]) -> Series:
    if len(data) <= MAX_SERIES:
        return data
    notes.append(f"{what}: {len(data)} series logged, the first {MAX_SERIES} by name are drawn")
    return {k: data[k] for k in sorted(data)[:MAX_SERIES]}


def plot(path: Path, title: str, data: Series, log: bool = False) -> Path:
    """A line plot of several series against the step, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    for key, (steps, values) in sorted(data.items()):
        ax.plot(steps, values, label=_label(key), marker="o" if len(steps) < 3 else None, lw=1.4)
    if log and all(v > 0 for _, vals in data.values() for v in vals):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def metric_plots(path: Path, data: Series) -> Path:
    """One small panel per evaluation metric (they have different scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(data)
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), dpi=100, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        steps, values = data[key]
        ax.plot(steps, values, marker="o", lw=1.4, color="tab:green")
        ax.set_title(_label(key.removeprefix("eval/")), fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    """Render in memory, then write atomically under a fresh temporary name (a fixed name could
    be a link planted in a shared run directory, and savefig would write through it)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return store.write_bytes(path, buffer.getvalue())


# -- samples, final metrics -----------------------------------------------------------------


def sample_grids(run_dir: Path, notes: list[str] | None = None) -> list[tuple[int, Path]]:
    """Up to MAX_GRIDS sample images (step, path), evenly spread over training, last included.

    Only files named step_<N>.png that are PNG files inside the run directory are used; other
    step_*.png entries are skipped with a note.
    """
    notes = [] if notes is None else notes
    found: list[tuple[int, Path]] = []
    samples = run_dir / "samples"
    if not samples.is_dir():
        return found
    for p in samples.glob("step_*.png"):
        match = re.fullmatch(r"step_(\d{1,12})", p.stem)
        problem = None
        if not match:
            problem = "not named step_<N>.png"
        elif not _inside(run_dir, p):
            problem = "not a regular file inside the run directory"
        else:
            try:
                with p.open("rb") as fh:
                    head = fh.read(len(PNG_SIGNATURE))
                if head != PNG_SIGNATURE:
                    problem = "not a PNG file"
                elif p.stat().st_size > MAX_IMAGE_BYTES:
                    problem = f"larger than {MAX_IMAGE_BYTES >> 20} MiB"
            except OSError as exc:
                problem = f"cannot be read ({_one_line(exc)})"
        if problem or not match:
            notes.append(f"samples/{_text(p.name)}: skipped ({problem})")
            continue
        found.append((int(match.group(1)), p))
    found.sort()
    if len(found) <= MAX_GRIDS:
        return found
    picks = {round(i * (len(found) - 1) / (MAX_GRIDS - 1)) for i in range(MAX_GRIDS)}
    return [found[i] for i in sorted(picks)]


def _fmt(value: Any) -> str:
    """A logged evaluation value for the table: 4 significant digits, else bounded text."""
    number = _number(value)
    if number is None or isinstance(value, bool):
        return _text(value, 60)
    return str(value) if isinstance(value, int) else f"{number:.4g}"


def _eval_json(run_dir: Path, notes: list[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """(caption, rows) from eval.json, or None (with a note) when it is absent or malformed."""
    path = run_dir / "eval.json"
    if not path.exists():
        return None
    problem = None
    result: Any = None
    if not _inside(run_dir, path):
        problem = "not a regular file inside the run directory"
    else:
        try:
            data = _read_bytes(path, MAX_FILE_BYTES)
            if data is None:
                problem = f"larger than {MAX_FILE_BYTES >> 20} MiB"
            else:
                result = json.loads(data)
        except OSError as exc:
            problem = f"cannot be read ({_one_line(exc)})"
        except (ValueError, RecursionError):
            problem = "not valid JSON"
    if problem is None:
        if not isinstance(result, dict):
            problem = "not a JSON object"
        elif not isinstance(result.get("seeds"), list) or not isinstance(
            result.get("results"), dict
        ):
            problem = "no 'seeds' list or 'results' object"
        elif _step(result.get("step")) is None or _step(result.get("n_samples")) is None:
            problem = "'step' or 'n_samples' is not a whole number"
    if problem is not None:
        notes.append(f"eval.json: ignored ({problem})")
        return None
    seeds = len(result["seeds"])
    features = result.get("features")
    shown = ", ".join(_text(f, 40) for f in features[:10]) if isinstance(features, list) else ""
    caption = (
        f"ganhub eval: step {result['step']}, {seeds} seed(s) x {result['n_samples']:,} samples"
        + (f", features: {shown}" if shown else "")
    )
    rows: list[tuple[str, str]] = []
    bad: list[str] = []
    for key, value in result["results"].items():
        mean = _number(value.get("mean")) if isinstance(value, dict) else None
        std = _number(value.get("std")) if isinstance(value, dict) else None
        if mean is None or (seeds > 1 and std is None):
            bad.append(key)
        elif len(rows) < MAX_ROWS:
            rows.append((_text(key), f"{mean:.4g} ± {std:.2g}" if seeds > 1 else f"{mean:.4g}"))
    if bad:
        names = ", ".join(_text(k, 40) for k in bad[:5])
        notes.append(
            f"eval.json: {len(bad)} result(s) without a numeric mean/std left out ({names})"
        )
    if len(result["results"]) - len(bad) > MAX_ROWS:
        notes.append(f"eval.json: only the first {MAX_ROWS} results are shown")
    return caption, rows


def final_metrics(
    run_dir: Path, records: list[dict[str, Any]], notes: list[str] | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """(caption, rows) from eval.json (mean +- std over seeds), else the last logged evaluation."""
    notes = [] if notes is None else notes
    table = _eval_json(run_dir, notes)
    if table is not None:
        return table
    for rec in reversed(records):
        evals = {k.removeprefix("eval/"): v for k, v in rec.items() if k.startswith("eval/")}
        if evals:
            rows = [(_text(k), _fmt(v)) for k, v in list(evals.items())[:MAX_ROWS]]
            return f"last evaluation during training (step {rec['step']})", rows
    return "no evaluation yet (run ganhub eval RUN_DIR)", []


def _data_uri(path: Path) -> str:
    """A PNG as a data URI (base64 text only: nothing in it needs escaping)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# -- the page -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment: every {{ value }} is HTML-escaped by the engine."""
    return Environment(
        loader=PackageLoader("ganhub.metrics", "templates"),
        autoescape=select_autoescape(("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the HTML report (and its PNG plots) for a run directory; return the HTML path."""
    config = read_config(run_dir)
    notes: list[str] = []
    records = read_metrics(run_dir, notes)
    plots_dir = run_dir / "report"
    if plots_dir.is_symlink() or (plots_dir.exists() and not plots_dir.is_dir()):
        raise UsageError(f"{_shown(plots_dir)}: a link or a file, not a folder; remove it first")
    figures: list[tuple[str, Path]] = []
    unplotted: set[str] = set()
    panels = [
        (stem, title, series(records, pattern, unplotted), log)
        for stem, title, pattern, log in PANELS
    ]
    evals = {
        k: v
        for k, v in series(records, r"^eval/", unplotted).items()
        if not k.startswith("eval/n_")
    }
    panels.append(("metrics", "Metrics during training", evals, False))
    for stem, title, data, log in panels:
        if not data:
            continue
        data = _capped(data, title, notes)
        path = plots_dir / f"{stem}.png"
        try:
            if stem == "metrics":
                figures.append((title, metric_plots(path, data)))
            else:
                figures.append((title, plot(path, title, data, log)))
        except Exception as exc:  # matplotlib on hostile numbers: a note, not a traceback
            notes.append(f"{title}: not drawn ({type(exc).__name__}: {_one_line(exc)})")
    if unplotted:
        names = ", ".join(_text(k, 40) for k in sorted(unplotted)[:5])
        more = f" and {len(unplotted) - 5} more" if len(unplotted) > 5 else ""
        notes.append(
            "metrics.jsonl: values that are not numbers, not finite or beyond ±1e30 were not"
            f" plotted (keys {names}{more})"
        )
    collapses = [
        r["step"]
        for r in records
        if any(k.startswith("collapse") and _number(v) for k, v in r.items())
    ]
    caption, rows = final_metrics(run_dir, records, notes)
    grids = sample_grids(run_dir, notes)
    page = render(run_dir, config, records, figures, grids, caption, rows, collapses, notes)
    return store.write_bytes(out or run_dir / "report.html", page.encode("utf-8", "replace"))


def render(
    run_dir: Path,
    config: dict[Any, Any],
    records: list[dict[str, Any]],
    figures: list[tuple[str, Path]],
    grids: list[tuple[int, Path]],
    caption: str,
    rows: list[tuple[str, str]],
    collapses: list[int],
    notes: list[str] | None = None,
) -> str:
    """The HTML text of the report (template report.html; the engine escapes every value)."""
    tricks = config.get("tricks")
    if isinstance(tricks, list):
        tricks_text = ", ".join(_text(t, 100) for t in tricks[:20]) or "none"
    else:
        tricks_text = _text(tricks) if tricks else "none"
    return (
        environment()
        .get_template("report.html")
        .render(
            run_name=_text(run_dir.name or run_dir.resolve().name),
            plugin=_text(config.get("plugin")),
            loss=_text(config.get("loss")),
            tricks=tricks_text,
            seed=_text(config.get("seed")),
            steps=records[-1]["step"] if records else 0,
            notes=notes or [],
            collapses=", ".join(str(s) for s in collapses[:20]),
            caption=caption,
            rows=rows,
            figures=[
                {"title": t, "src": _data_uri(p), "path": p.relative_to(run_dir).as_posix()}
                for t, p in figures
            ],
            grids=[{"step": s, "src": _data_uri(p)} for s, p in grids],
        )
    )
