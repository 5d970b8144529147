"""`ganhub report RUN_DIR`: one self-contained HTML page to look at instead of reading logs.

The page holds loss curves, discriminator diagnostics, gradient norms, sample diversity and
collapse warnings, metric curves, the sample grids over time and the final metrics table. Plots
are written as PNGs into ``RUN_DIR/report/`` and embedded in ``RUN_DIR/report.html`` as data
URIs, so the page can be mailed or archived alone. A small script marks images that fail to
decode, so a broken page is visible (and testable).
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import yaml

from ganhub.errors import UsageError
from ganhub.metrics import store

MAX_GRIDS = 12

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


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of metrics.jsonl (a half-written last line is ignored)."""
    path = run_dir / "metrics.jsonl"
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def series(records: list[dict[str, Any]], pattern: str) -> dict[str, tuple[list[int], list[float]]]:
    """{key: (steps, values)} for numeric keys matching `pattern`, in step order."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    rx = re.compile(pattern)
    for rec in records:
        for key, value in rec.items():
            if key in ("step", "time") or not rx.search(key) or not isinstance(value, int | float):
                continue
            steps, values = out.setdefault(key, ([], []))
            steps.append(int(rec["step"]))
            values.append(float(value))
    return out


def plot(
    path: Path, title: str, data: dict[str, tuple[list[int], list[float]]], log: bool = False
) -> Path:
    """A line plot of several series against the step, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    for key, (steps, values) in sorted(data.items()):
        ax.plot(steps, values, label=key, marker="o" if len(steps) < 3 else None, lw=1.4)
    if log and all(v > 0 for _, vals in data.values() for v in vals):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def metric_plots(path: Path, data: dict[str, tuple[list[int], list[float]]]) -> Path:
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
        ax.set_title(key.removeprefix("eval/"), fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    """Up to MAX_GRIDS sample images (step, path), evenly spread over training, last included."""
    found = []
    for p in (run_dir / "samples").glob("step_*.png"):
        match = re.match(r"step_(\d+)", p.stem)
        if match:
            found.append((int(match.group(1)), p))
    found.sort()
    if len(found) <= MAX_GRIDS:
        return found
    picks = {round(i * (len(found) - 1) / (MAX_GRIDS - 1)) for i in range(MAX_GRIDS)}
    return [found[i] for i in sorted(picks)]


def final_metrics(
    run_dir: Path, records: list[dict[str, Any]]
) -> tuple[str, list[tuple[str, str]]]:
    """(caption, rows) from eval.json (mean +- std over seeds), else the last logged evaluation."""
    path = run_dir / "eval.json"
    if path.is_file():
        result = json.loads(path.read_text())
        seeds = len(result["seeds"])
        caption = (
            f"ganhub eval: step {result['step']}, {seeds} seed(s) x {result['n_samples']:,} samples"
            + (f", features: {', '.join(result['features'])}" if result.get("features") else "")
        )
        rows = [
            (k, f"{v['mean']:.4g} ± {v['std']:.2g}" if seeds > 1 else f"{v['mean']:.4g}")
            for k, v in result["results"].items()
        ]
        return caption, rows
    for rec in reversed(records):
        evals = {k.removeprefix("eval/"): v for k, v in rec.items() if k.startswith("eval/")}
        if evals:
            return f"last evaluation during training (step {rec['step']})", [
                (k, f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in evals.items()
            ]
    return "no evaluation yet (run ganhub eval RUN_DIR)", []


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the HTML report (and its PNG plots) for a run directory; return the HTML path."""
    if not (run_dir / "config.yaml").is_file():
        raise UsageError(f"'{run_dir}' is not a ganhub run directory (no config.yaml)")
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    records = read_metrics(run_dir)
    plots_dir = run_dir / "report"
    figures: list[tuple[str, Path]] = []
    for stem, title, pattern, log in PANELS:
        data = series(records, pattern)
        if data:
            figures.append((title, plot(plots_dir / f"{stem}.png", title, data, log)))
    evals = {k: v for k, v in series(records, r"^eval/").items() if not k.startswith("eval/n_")}
    if evals:
        figures.append(("Metrics during training", metric_plots(plots_dir / "metrics.png", evals)))
    collapses = [
        r["step"] for r in records if any(k.startswith("collapse") and v for k, v in r.items())
    ]
    caption, rows = final_metrics(run_dir, records)
    grids = sample_grids(run_dir)
    page = render(run_dir, config, records, figures, grids, caption, rows, collapses)
    return store.write_text(out or run_dir / "report.html", page)


def render(
    run_dir: Path,
    config: dict[str, Any],
    records: list[dict[str, Any]],
    figures: list[tuple[str, Path]],
    grids: list[tuple[int, Path]],
    caption: str,
    rows: list[tuple[str, str]],
    collapses: list[int],
) -> str:
    """The HTML text of the report."""
    e = html.escape
    steps = records[-1]["step"] if records else 0
    tricks = ", ".join(config.get("tricks") or []) or "none"
    summary = (
        f"plugin <b>{e(str(config.get('plugin')))}</b>, loss {e(str(config.get('loss')))}, "
        f"tricks {e(tricks)}, {steps} steps logged, seed {e(str(config.get('seed')))}"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>ganhub report: {e(run_dir.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>ganhub report: {e(run_dir.name)}</h1><p class='summary'>{summary}</p>",
        "<p id='broken' class='warn' hidden></p>",
    ]
    if collapses:
        shown = ", ".join(str(s) for s in collapses[:20])
        parts.append(f"<p class='warn'>Possible mode collapse flagged at steps {shown}.</p>")
    parts.append(f"<h2>Final metrics</h2><table id='metrics'><caption>{e(caption)}</caption>")
    parts.append("<tr><th>metric</th><th>value</th></tr>")
    parts += [f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in rows]
    parts.append("</table><h2>Curves</h2>")
    if not figures:
        parts.append("<p>No metrics logged yet.</p>")
    for title, path in figures:
        parts.append(
            f"<figure class='plot'><img alt='{e(title)}' src='{_data_uri(path)}'>"
            f"<figcaption>{e(title)} ({e(path.relative_to(run_dir).as_posix())})</figcaption></figure>"
        )
    parts.append("<h2>Samples over training</h2><div id='grids'>")
    if not grids:
        parts.append("<p>No sample images yet.</p>")
    for step, path in grids:
        parts.append(
            f"<figure class='grid'><img alt='samples at step {step}' src='{_data_uri(path)}'>"
            f"<figcaption>step {step}</figcaption></figure>"
        )
    parts.append(f"</div><script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px}
.summary{color:#555}.warn{background:#fff3cd;border:1px solid #e0c060;padding:8px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 10px;text-align:left}
caption{text-align:left;color:#555;padding:4px 0}figure{margin:10px 0}
figure.plot img{max-width:100%}#grids{display:flex;flex-wrap:wrap;gap:12px}
figure.grid img{width:240px;image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:12px;color:#555}
"""

# Records on <body> how many images decoded (data-images-ok / -broken) and shows a warning if any failed.
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0; });
  document.body.setAttribute('data-images-ok', ok.length);
  document.body.setAttribute('data-images-broken', imgs.length - ok.length);
  if (ok.length < imgs.length) {
    var p = document.getElementById('broken');
    p.textContent = (imgs.length - ok.length) + ' image(s) failed to load.';
    p.hidden = false;
  }
});
"""
