"""What `ganhub eval` keeps of the eval.json it writes over: the earlier scores of the metrics
not scored now, each metric kept or replaced on its own counts."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.metrics import COUNT_KEYS

if TYPE_CHECKING:
    from ganhub.metrics import Metric

__all__ = ["keep_earlier", "seed_spread"]


@dataclass
class _Earlier:
    """An earlier metric's scores: its name(s), its keys in the file and its own counts as
    eval.json's `counts` recorded them (None: a file from before `counts`, or keys no known
    metric declares; the file's counts, the fewest of all its metrics, stand for them)."""

    names: list[str]
    keys: list[str]
    counts: dict[str, float] | None
    reads_features: bool = True


def keep_earlier(
    path: Path,
    result: dict[str, Any],
    scored: list[Metric],
    metric_of: Callable[[str], Metric | None] = lambda name: None,
) -> list[str]:
    """Add to `result` (an eval.json being written to `path`) the scores of the file already
    there that none of the `scored` metrics reports, when it scored the same run (its folder
    resolves to the same), at the same step, with the same seeds and samples per seed; each
    earlier metric (`metric_of` its name tells its keys) is kept when its own counts (eval.json's
    `counts`) are those the table shows (`n_real`: FID-style scores shift with it, and the
    table shows one count for all), else replaced. Return the notes saying which were kept
    and which earlier scores were replaced for resting on other counts."""
    from ganhub.metrics import reported_by
    from ganhub.metrics.rundata import MAX_FILE_BYTES, read_json

    if not path.is_file():
        return []
    old, problem = read_json(path.parent, path, MAX_FILE_BYTES)
    if problem is None and not isinstance(old, dict):
        problem = "not a JSON object"
    if problem is not None:  # written over: say so, rather than lose its scores unseen
        return [f"{path}: {problem}; written anew, with none of its earlier scores kept"]
    if old.get("step") != result["step"]:
        return []
    if not _same_run(old.get("run_dir"), result["run_dir"]):  # --out: another run's scores
        return []
    table, now = result["results"], [(m.name, m) for m in scored]
    results = old["results"] if isinstance(old.get("results"), dict) else {}
    others = [k for k in results if k not in table and reported_by(k, now) is None]
    names = [str(m) for m in _listed(old, "metrics") if m not in result["metrics"]]
    scores = [k for k in others if k not in COUNT_KEYS]
    if not scores:
        return []
    step, seeds = result["step"], len(result["seeds"])
    asked = (old.get("n_asked", old.get("n_samples")), old.get("seeds"))
    if asked != (result.get("n_asked", result["n_samples"]), result["seeds"]):
        what = ", ".join(names) or ", ".join(scores[:5])
        return [_replaced(what, step, "other seeds or samples per seed")]
    valid = {k: v for k, v in results.items() if _seed_values(v, seeds)}
    kept: list[_Earlier] = []
    replaced: dict[str, list[str]] = {}  # why -> the metrics replaced for it
    for earlier in _by_metric(names, scores, old, metric_of):
        differ = _differing(earlier, results, table)
        if differ:
            replaced.setdefault(differ, []).extend(earlier.names or earlier.keys[:5])
        elif any(k in valid for k in earlier.keys):
            kept.append(earlier)
    notes = [_replaced(", ".join(n), step, why) for why, n in replaced.items()]
    if not kept:
        return notes
    keys = [k for e in kept for k in e.keys if k in valid]
    for key in keys:
        table[key] = _entry([float(v) for v in valid[key]["values"]])
    for key in (k for k in COUNT_KEYS if k not in table):  # the fewest the kept ones rest on
        least = [_counted(e, key, valid, seeds) for e in kept]
        found = [c for c in least if c is not None]
        if found:
            table[key] = _entry([min(v) for v in zip(*found)])
    recorded = old.get("better")
    if isinstance(recorded, dict):  # the kept scores' directions, as recorded with them
        ways = {k: recorded[k] for k in keys if recorded.get(k, "") in ("lower", "higher", None)}
        result["better"].update(ways)
    kept_names = [n for e in kept for n in e.names]
    result["metrics"] += kept_names
    result["counts"].update({n: dict(e.counts) for e in kept if e.counts for n in e.names})
    if any(e.reads_features for e in kept):
        result["features"] += [f for f in _listed(old, "features") if f not in result["features"]]
    result["warnings"] += [
        w
        for w in _listed(old, "warnings")
        if w not in result["warnings"] and any(f"'{n}'" in str(w) for n in kept_names)
    ]
    what = ", ".join(kept_names) or ", ".join(keys[:5])
    return [
        *notes,
        f"kept from the earlier eval.json of step {step} (same seeds, samples per seed and "
        f"real samples): {what} ({', '.join(keys)}); scored now: "
        + ", ".join(m.name for m in scored),
    ]


def _by_metric(
    names: list[str], scores: list[str], old: dict[str, Any], metric_of: Callable[[str], Any]
) -> list[_Earlier]:
    """The earlier scores by the metric that reported them, each with its recorded counts;
    those of metrics not known here (a plugin uninstalled) or undeclared keys as one."""
    from ganhub.metrics import reported_by

    counted = old.get("counts")
    recorded: dict[str, Any] = counted if isinstance(counted, dict) else {}
    known = [(n, m) for n in names if (m := metric_of(n)) is not None]
    out = []
    for name, metric in known:
        keys = [k for k in scores if reported_by(k, known) == name]
        counts = _own_counts(recorded.get(name))
        if keys:
            out.append(_Earlier([name], keys, counts, metric.reads_features))
    rest = [k for k in scores if reported_by(k, known) is None]
    if rest:
        out.append(_Earlier([n for n in names if metric_of(n) is None], rest, None))
    return out


def _own_counts(entry: Any) -> dict[str, float] | None:
    """A metric's counts as eval.json's `counts` recorded them, or None (none, or not numbers)."""
    if not isinstance(entry, dict) or not entry:
        return None
    if not all(k in COUNT_KEYS and _number(v) for k, v in entry.items()):
        return None
    return {k: float(v) for k, v in entry.items()}


def _differing(earlier: _Earlier, results: dict[str, Any], table: dict[str, Any]) -> str:
    """How the counts an earlier metric rests on differ from those the table shows now
    (`n_real 40 then, 20 now`), or "" when every count both report is the same."""
    differ = []
    for k in COUNT_KEYS:
        if k not in table:
            continue
        now = table[k]["values"]
        if earlier.counts is None:  # the file's counts, per seed, as before `counts`
            if k in results and _values(results[k]) != now:
                differ.append(f"{k} {_counts(results[k])} then, {_shown(now)} now")
        elif k in earlier.counts and any(v != earlier.counts[k] for v in now):
            differ.append(f"{k} {_shown([earlier.counts[k]])} then, {_shown(now)} now")
    return "; ".join(differ)


def _counted(earlier: _Earlier, key: str, valid: dict[str, Any], seeds: int) -> list[float] | None:
    """Count `key` per seed of an earlier metric: its own, or the file's (before `counts`)."""
    if earlier.counts is not None:
        return [earlier.counts[key]] * seeds if key in earlier.counts else None
    return [float(v) for v in valid[key]["values"]] if key in valid else None


def _replaced(what: str, step: Any, why: str) -> str:
    return (
        f"eval.json's earlier scores of {what} (step {step}) were replaced ({why}): they are "
        "kept only when scored with the same seeds, samples per seed and real samples, as "
        "FID-style scores change with them"
    )


def _entry(values: list[float]) -> dict[str, Any]:
    """A result as eval.json holds it: mean, sample std over seeds (None with one), values."""
    mean, std = seed_spread(values)
    return {"mean": mean, "std": std, "values": values}


def seed_spread(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1) of a score over seeds; no std with one seed
    (not 0: no spread was seen). A NaN or infinite score on any seed (a diverged generator's
    FID) makes the std NaN and the mean what float arithmetic gives (NaN, or that infinity):
    `statistics.stdev` raised a traceback on them."""
    n = len(values)
    if not all(map(math.isfinite, values)):
        return sum(values) / n, (math.nan if n > 1 else None)
    try:  # exact where the sums fit a float
        return statistics.fmean(values), statistics.stdev(values) if n > 1 else None
    except OverflowError:  # near float's limit (1e308): the same, on values scaled down
        scale = max(map(abs, values))
        mean, std = seed_spread([v / scale for v in values])
        return mean * scale, None if std is None else std * scale


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _values(entry: Any) -> list[float] | None:
    """An eval.json result's per-seed `values` as floats, or None (not numbers: the user's file)."""
    values = entry.get("values") if isinstance(entry, dict) else None
    if not isinstance(values, list) or not all(_number(v) for v in values):
        return None
    return [float(v) for v in values]


def _shown(values: list[float]) -> str:
    """Per-seed counts as a user reads them: `10,000` (one per seed, `/` between)."""
    return "/".join(f"{v:,.0f}" for v in values) or "unrecorded"


def _counts(entry: Any) -> str:
    """A count's per-seed values in an eval.json result, as a user reads them."""
    return _shown(_values(entry) or [])


def _seed_values(entry: Any, seeds: int) -> bool:
    """Whether an eval.json result holds one number per seed (`values`), to be kept."""
    values = _values(entry)
    return values is not None and len(values) == seeds


def _listed(data: dict[str, Any], key: str) -> list[Any]:
    """`data[key]` when it is a list (an eval.json is the user's file), else []."""
    value = data.get(key)
    return value if isinstance(value, list) else []


def _same_run(saved: object, run_dir: str) -> bool:
    """Whether an eval.json's `run_dir` names the run being scored (typed either way)."""
    try:
        return isinstance(saved, str) and Path(saved).resolve() == Path(run_dir).resolve()
    except (OSError, ValueError):  # a name no file system takes (a NUL in a user's file)
        return False
