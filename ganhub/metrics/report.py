"""`ganhub report RUN_DIR`: one self-contained HTML page to look at instead of reading logs.

The page holds where the run stands (`report_status`: finished, stopped early, stopped, failed or
training now), loss curves, discriminator diagnostics, gradient norms, sample diversity and
collapse warnings, metric curves, a table of the other logged values (`report_values`), the
sample grids of the run's current history over time and the final metrics table. Plots are
written as PNGs into ``RUN_DIR/report/`` (next to the page, ``OUT-plots/``, for a run folder
that cannot be written and `--out` elsewhere) and embedded in the page as data URIs, so the page can
be mailed or archived alone; its captions name the PNGs relative to the page. A small script
marks images that fail to decode, so a broken page is visible (and testable).

Run directories travel between people, so every file in one is untrusted; `rundata` reads them
(regular files inside the run directory only, size limits, skipped values listed in the page's
notes, one-line errors). The page is rendered by Jinja2 from ``templates/report.html``
with autoescaping on: each value read from the run directory (metric keys and values, config,
eval.json, file names, the directory's name) reaches the page as escaped text, never as markup,
and nothing here escapes or marks anything by hand. A plugin's own HTML page is rendered the
same way, from an environment `html_environment` makes over the plugin's templates.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from ganhub.engine.diagnostics import COLLAPSE_REMEDY
from ganhub.errors import UsageError
from ganhub.figures import new_figure, save_figure
from ganhub.metrics import store
from ganhub.metrics.report_status import (
    earlier_session,
    missing_metrics,
    run_status,
    session_samples,
)
from ganhub.metrics.report_values import other_values, typed_text
from ganhub.metrics.rundata import (
    as_number,
    as_text,
    error_line,
    final_metrics,
    read_config,
    read_metrics,
    sample_grids,
    sample_texts,
    shown_key,
    shown_path,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_SERIES = 24  # curves drawn in one panel (and metric panels in the metrics figure)
MAX_COLLAPSES = 20  # flagged steps named in the collapse warning (then a count and the last)

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
    (
        "health",
        "Training health flags (D wins outright, exploding gradients, collapse while D loses)",
        r"^unstable/",
        False,
    ),
    ("throughput", "Throughput", r"^perf/samples_per_s$", False),
    ("learning_rates", "Learning rates", r"^lr/", False),
)

Series = dict[str, tuple[list[int], list[float]]]


def series(
    records: list[dict[str, Any]], pattern: str, unplotted: set[str] | None = None
) -> Series:
    """{key: (steps, values)} for numeric keys matching `pattern`, in step order.

    Keys with a value that is not a finite number (or too large to plot) go to `unplotted`.
    """
    out: Series = {}
    rx = re.compile(pattern)
    # by step (stable: records of one step keep their file order), so that a file whose lines
    # are out of order (pieced together from several copies) draws no line back in time
    for rec in sorted(records, key=lambda r: int(r["step"])):
        for key, value in rec.items():
            if key in ("step", "time") or not rx.search(key):
                continue
            number = as_number(value)
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
    return shown_key(key, 60).replace("$", r"\$")


def _capped(data: Series, what: str, notes: list[str]) -> Series:
    if len(data) <= MAX_SERIES:
        return data
    notes.append(f"{what}: {len(data)} series logged, the first {MAX_SERIES} by name are drawn")
    return {k: data[k] for k in sorted(data)[:MAX_SERIES]}


def _step_axis(ax: Any) -> None:
    """The x axis of a curve: the training step, whole numbers only."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("step", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def line_figure(title: str, data: Series, log: bool = False) -> Figure:
    """A line plot of several series against the step."""
    fig = new_figure(7, 3.2)
    ax = fig.subplots()
    for key, (steps, values) in sorted(data.items()):
        ax.plot(steps, values, label=_label(key), marker="o" if len(steps) < 3 else None, lw=1.4)
    if log and all(v > 0 for _, vals in data.values() for v in vals):
        ax.set_yscale("log")
    _step_axis(ax)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", ncol=2)
    fig.tight_layout()
    return fig


def plot(path: Path, title: str, data: Series, log: bool = False) -> Path:
    """A line plot of several series against the step, written atomically as PNG."""
    return save_figure(line_figure(title, data, log), path)


def metric_figure(data: Series) -> Figure:
    """One small panel per evaluation metric (they have different scales), each against the
    step."""
    keys = sorted(data)
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig = new_figure(3.4 * cols, 2.5 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        steps, values = data[key]
        ax.plot(steps, values, marker="o", lw=1.4, color="tab:green")
        ax.set_title(_label(key.removeprefix("eval/")), fontsize=9)
        _step_axis(ax)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def metric_plots(path: Path, data: Series) -> Path:
    """The evaluation metrics' panels (`metric_figure`), written atomically as PNG."""
    return save_figure(metric_figure(data), path)


def _data_uri(path: Path) -> str:
    """A PNG as a data URI (base64 text only: nothing in it needs escaping)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# -- the page -----------------------------------------------------------------------------


def html_environment(package: str, folder: str = "templates") -> Environment:
    """An autoescaping Jinja2 environment (every {{ value }} is HTML-escaped by the engine) over
    a package's templates, which may include ganhub's shared ones (`image_check.html`)."""
    loaders = [PackageLoader(package, folder)]
    if package != "ganhub.metrics":
        loaders.append(PackageLoader("ganhub.metrics", "templates"))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The report's Jinja2 environment."""
    return html_environment("ganhub.metrics")


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the HTML report (and its PNG plots) for a run directory; return the HTML path."""
    config = read_config(run_dir)
    target = out or run_dir / "report.html"
    store.check_output_file(target)  # before the plots: a refused report writes nothing
    notes: list[str] = []
    records = read_metrics(run_dir, notes)
    plots_dir = run_dir / "report"
    if out is not None and not os.access(run_dir, os.W_OK | os.X_OK):
        # a run folder this user cannot write (a read-only or shared one): with --out
        # elsewhere, the plots go next to the page
        plots_dir = target.parent / f"{target.stem}-plots"
    if plots_dir.is_symlink() or (plots_dir.exists() and not plots_dir.is_dir()):
        raise UsageError(
            f"{shown_path(plots_dir)}: a link or a file, not a folder; remove it first"
        )
    # the plots are drawn aside and join the run directory once the page is written: a page
    # that cannot be written (an unwritable --out) leaves nothing behind
    scratch = Path(tempfile.mkdtemp(prefix="ganhub-report-"))
    try:
        page = _page(run_dir, config, records, scratch, notes, kept_at(plots_dir, target))
        written = store.write_bytes(target, page.encode("utf-8", "replace"))
        for png in sorted(scratch.iterdir()):
            plots_dir.mkdir(parents=True, exist_ok=True)
            store.write_bytes(plots_dir / png.name, png.read_bytes())
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def kept_at(plots_dir: Path, page: Path) -> str:
    """Where the plots are kept, as the page's captions name them: relative to the page's
    folder (`report` for RUN_DIR/report.html), else absolute."""
    try:
        where = os.path.relpath(plots_dir.absolute(), page.absolute().parent)
    except ValueError:  # another drive (Windows)
        where = str(plots_dir.absolute())
    return as_text(shown_path(Path(where)).replace(os.sep, "/"), 300)


def _page(
    run_dir: Path,
    config: dict[Any, Any],
    records: list[dict[str, Any]],
    plots_dir: Path,
    notes: list[str],
    kept: str = "report",
) -> str:
    """The report page, its plots drawn into `plots_dir` (kept at `kept`, from the page)."""
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
        constant = stem == "learning_rates" and all(len(set(v)) == 1 for _, v in data.values())
        if not data or constant:
            continue
        data = _capped(data, title, notes)
        path = plots_dir / f"{stem}.png"
        try:
            if stem == "metrics":
                figures.append((title, metric_plots(path, data)))
            else:
                figures.append((title, plot(path, title, data, log)))
        except Exception as exc:  # matplotlib on hostile numbers: a note, not a traceback
            notes.append(f"{title}: not drawn ({type(exc).__name__}: {error_line(exc)})")
    if unplotted:
        names = ", ".join(shown_key(k, 40) for k in sorted(unplotted)[:5])
        more = f" and {len(unplotted) - 5} more" if len(unplotted) > 5 else ""
        notes.append(
            "metrics.jsonl: values that are not numbers, not finite or beyond ±1e30 were not"
            f" plotted (keys {names}{more})"
        )
    collapses = [
        r["step"]
        for r in records
        if any(k.startswith("collapse") and as_number(v) for k, v in r.items())
    ]
    status = run_status(run_dir, config, records, notes)
    missing = missing_metrics(run_dir, config, records)
    others = other_values(records, tuple(pattern for _, _, pattern, _ in PANELS), notes)
    caption, rows = final_metrics(run_dir, records, notes)
    if missing and not rows:
        caption = "no metrics.jsonl to read the evaluations during training from (ganhub eval "
        caption += f"{shlex.quote(shown_path(run_dir))} scores the run)"
    # the history ends at its last logged step: later samples are a resumed-over session's,
    # or, while the run trains, the newest ones of its session (their records follow them)
    last = max((r["step"] for r in records), default=None)
    if status[0] == "training":
        last = session_samples(run_dir, last)
    grids = sample_grids(run_dir, notes, up_to=last)
    texts = [] if grids else sample_texts(run_dir, notes, up_to=last)  # a text domain's
    earlier = earlier_session(records, [*grids, *((s, p) for s, _, p in texts)])
    if earlier:
        notes.append(
            f"samples: {len(earlier)} of those shown were written before the run's current "
            "history reached their step (a session that a resume went back past made them); "
            "they are marked"
        )
    return render(
        run_dir,
        config,
        records,
        figures,
        grids,
        caption,
        rows,
        collapses,
        notes,
        [(s, t) for s, t, _ in texts],
        extra={
            "status": status,
            "missing": missing,
            "others": others,
            "earlier": earlier,
            "kept": kept,
        },
    )


def collapse_line(steps: list[int]) -> str:
    """The flagged steps as the warning names them: the first MAX_COLLAPSES, then how many
    more and the last, so a run flagged to its end does not read as one that recovered."""
    shown = ", ".join(str(s) for s in steps[:MAX_COLLAPSES])
    if len(steps) <= MAX_COLLAPSES:
        return shown
    more = len(steps) - MAX_COLLAPSES
    return f"{shown} and {more} more, the last at step {steps[-1]} ({len(steps)} in all)"


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
    texts: list[tuple[int, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """The HTML text of the report (template report.html; the engine escapes every value).

    `extra` holds the run's status (kind, sentence), the text for a missing metrics.jsonl, the
    other logged values' rows, the sample steps of an earlier session and where the plots are
    kept, relative to the page."""
    extra = extra or {}
    kind, status = extra.get("status", ("none", ""))
    earlier = extra.get("earlier", set())
    kept = extra.get("kept", "report")
    missing = extra.get("missing", "")
    tricks = config.get("tricks")
    if isinstance(tricks, list):
        tricks_text = ", ".join(as_text(t, 100) for t in tricks[:20]) or "none"
    else:
        tricks_text = typed_text(tricks) if tricks else "none"
    return (
        environment()
        .get_template("report.html")
        .render(
            run_name=as_text(shown_path(run_dir.name or run_dir.resolve().name)),
            plugin=as_text(config.get("plugin")),
            loss=as_text(config.get("loss")),
            tricks=tricks_text,
            seed=typed_text(config.get("seed")),
            logged=(
                f"{max(r['step'] for r in records)} steps logged" if records else "no steps logged"
            ),
            notes=notes or [],
            collapses=collapse_line(collapses),
            remedy=COLLAPSE_REMEDY,
            status=status,
            status_kind=kind,
            missing=missing,
            others=extra.get("others", []),
            caption=caption,
            rows=rows,
            figures=[
                {"title": t, "src": _data_uri(p), "path": f"{kept}/{p.name}"}  # where it is kept
                for t, p in figures
            ],
            grids=[{"step": s, "src": _data_uri(p), "earlier": s in earlier} for s, p in grids],
            texts=[{"step": s, "text": t, "earlier": s in earlier} for s, t in texts or []],
        )
    )


__all__ = [
    "html_environment",
    "plot",
    "series",
    "write_report",
]
