"""A run's final metrics table for `ganhub report`: eval.json's scores (mean +- std over seeds)
or the last evaluation logged during training, whichever scored the newer weights.

eval.json is untrusted: one that is not what `ganhub eval` writes is ignored with a note in the
caller's `notes`; results without a numeric mean/std are left out and named.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ganhub.metrics import COUNT_KEYS
from ganhub.metrics.untrusted import (
    MAX_FILE_BYTES,
    MAX_ROWS,
    as_number,
    read_json,
    shown_key,
    whole_step,
)
from ganhub.plural import counted


def _fmt(value: Any) -> str:
    """A logged evaluation value for the table: 4 significant digits; null (ganhub logs NaN
    and inf so) or a NaN or inf as eval.json's rows show it; else bounded text."""
    number = as_number(value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "null (NaN or inf)"
    if number is None or isinstance(value, bool):
        return shown_key(value, 60)  # a text logged as a score: escaped as keys are
    return str(value) if isinstance(value, int) else f"{number:.4g}"


def eval_result(run_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    """eval.json as a checked object (a 'seeds' list, a 'results' object, whole-number 'step'
    and 'n_samples'), or None (with a note) when absent or malformed."""
    path = run_dir / "eval.json"
    if not path.exists():
        return None
    result, problem = read_json(run_dir, path, MAX_FILE_BYTES)
    if problem is None:
        if not isinstance(result, dict):
            problem = "not a JSON object"
        elif not isinstance(result.get("seeds"), list) or not isinstance(
            result.get("results"), dict
        ):
            problem = "no 'seeds' list or 'results' object"
        elif whole_step(result.get("step")) is None or whole_step(result.get("n_samples")) is None:
            problem = "'step' or 'n_samples' is not a whole number"
    if problem is not None:
        notes.append(f"eval.json: ignored ({problem})")
        return None
    return result


def _eval_json(run_dir: Path, notes: list[str]) -> tuple[int, str, list[tuple[str, str]]] | None:
    """(step, caption, rows) from eval.json, or None (with a note) when absent or malformed."""
    result = eval_result(run_dir, notes)
    if result is None:
        return None
    seeds = len(result["seeds"])
    features = result.get("features")
    shown = ", ".join(shown_key(f, 40) for f in features[:10]) if isinstance(features, list) else ""
    caption = (
        f"ganhub eval: step {result['step']}, {counted(seeds, 'seeds')} x {scored_text(result)}"
        + (f", features: {shown}" if shown else "")
    )
    if seeds > 1 and _same_for_every_seed(result["results"]):
        caption += "; the same scores for every seed, so a std of 0 measures no spread"
    rows: list[tuple[str, str]] = []
    bad: list[str] = []
    recorded = result.get("better")  # which way each key improves; null: no score
    better: dict[Any, Any] = recorded if isinstance(recorded, dict) else {}
    for key, value in result["results"].items():
        mean = as_number(value.get("mean")) if isinstance(value, dict) else None
        std = as_number(value.get("std")) if isinstance(value, dict) else None
        odd = not_finite_mean(value)
        if odd is not None and len(rows) < MAX_ROWS:
            rows.append((shown_key(key), f"null ({odd})"))  # a diverged score, shown as such
        elif mean is None or (seeds > 1 and (std is None or std < 0)):  # a spread is >= 0
            bad.append(key)
        elif len(rows) < MAX_ROWS and _is_count(key, value, better):
            # the same for every seed and no score (n_samples): a spread of 0 says nothing
            whole = mean.is_integer() and abs(mean) < 1e15
            rows.append((shown_key(key), f"{int(mean)}" if whole else f"{mean:.4g}"))
        elif len(rows) < MAX_ROWS:
            rows.append((shown_key(key), f"{mean:.4g} ± {std:.2g}" if seeds > 1 else f"{mean:.4g}"))
    if bad:
        names = ", ".join(shown_key(k, 40) for k in bad[:5])
        notes.append(
            f"eval.json: {counted(len(bad), 'results')} without a numeric mean/std left out "
            f"({names})"
        )
    if len(result["results"]) - len(bad) > MAX_ROWS:
        notes.append(f"eval.json: only the first {MAX_ROWS} results are shown")
    return int(result["step"]), caption, rows


def not_finite_mean(value: Any) -> str | None:
    """Why an eval.json result's mean is null, NaN or inf ("NaN or inf on 1 of 2 seeds": a
    diverged generator's score, which `ganhub eval` writes as null); None for any other."""

    def _odd(v: Any) -> bool:  # null (NaN or inf as ganhub writes them), NaN, inf
        return v is None or v != v or v in (math.inf, -math.inf)

    if not isinstance(value, dict) or not _odd(value.get("mean", 0)):
        return None
    seen = values if isinstance(values := value.get("values"), list) else []
    odd = sum(map(_odd, seen)) if len(seen) > 1 else 0
    return f"NaN or inf on {odd} of {len(seen)} seeds" if odd else "NaN or inf"


def scored_text(result: dict[str, Any]) -> str:
    """The samples per seed an eval.json's scores rest on: what its metrics scored (`counts`;
    class_accuracy rounds --n up to fill every class), else `n_samples` or the fewer the metrics
    reported (an older eval.json said the --n asked for, though a held-out set of 8 was scored);
    in brackets the count asked for, where other, and each metric that scored another count."""
    n = int(result["n_samples"])
    reported = result["results"].get("n_samples")
    mean = as_number(reported.get("mean")) if isinstance(reported, dict) else None
    asked = whole_step(result.get("n_asked"))
    if mean is not None and 0 <= mean < n:
        n, asked = int(mean), n
    raw = result.get("counts")
    own: dict[str, int] = {}  # {metric: the samples per seed it scored}
    for name, count in raw.items() if isinstance(raw, dict) else ():
        number = as_number(count.get("n_samples")) if isinstance(count, dict) else None
        if number is not None and number >= 0 and number.is_integer():
            own[shown_key(name, 40)] = int(number)
    if len(set(own.values())) == 1 and n not in own.values():
        n, asked = next(iter(own.values())), asked or n
    text = counted(n, "samples", ",") + (
        f" ({asked:,} asked)" if asked is not None and asked != n else ""
    )
    other = [f"{k} {v:,}" for k, v in own.items() if v != n]
    return text + (f" ({', '.join(other[:5])} scored)" if other else "")


def _is_count(key: Any, value: dict[str, Any], better: dict[Any, Any]) -> bool:
    """Whether an eval.json result is no score but a count or setting: its `better` entry
    records no direction (COUNT_KEYS where eval.json records none: one written before it
    recorded them), and every seed gave the same value (a `std` of 0)."""
    declared = better[key] is None if key in better else key in COUNT_KEYS
    values = value.get("values")
    same = (
        len(set(map(repr, values))) <= 1
        if isinstance(values, list)
        else value.get("std") in (0, None)
    )
    return declared and same


def _same_for_every_seed(results: dict[Any, Any]) -> bool:
    """Whether every score (counts aside) has a std of 0: the same samples for every seed, or
    scores at a limit (a collapsed generator's precision 1 and recall 0)."""
    stds = [
        as_number(v.get("std")) if isinstance(v, dict) else None
        for k, v in results.items()
        if k not in COUNT_KEYS
    ]
    return bool(stds) and all(s == 0 for s in stds)


def final_metrics(
    run_dir: Path,
    records: list[dict[str, Any]],
    notes: list[str] | None = None,
    up_to: int | None = None,
) -> tuple[str, list[tuple[str, str]]]:
    """(caption, rows) from eval.json (mean +- std over seeds), else the last logged evaluation;
    with `up_to`, only scores of the weights of that step or before (an exported checkpoint
    older than the run's newest, when the newest was damaged)."""
    notes = [] if notes is None else notes
    table = _eval_json(run_dir, notes)
    if up_to is not None:
        records = [r for r in records if isinstance(r.get("step"), int) and r["step"] <= up_to]
        if table is not None and table[0] > up_to:
            notes.append(f"eval.json scored step {table[0]}, not these weights (step {up_to})")
            table = None
    logged = None
    for rec in reversed(records):
        evals = {k.removeprefix("eval/"): v for k, v in rec.items() if k.startswith("eval/")}
        if evals:
            rows = [(shown_key(k), _fmt(v)) for k, v in list(evals.items())[:MAX_ROWS]]
            logged = (f"last evaluation during training (step {rec['step']})", rows, rec["step"])
            break
    if table is not None:
        step, caption, rows = table
        if logged is None or not isinstance(logged[2], int) or logged[2] <= step:
            last = max((r["step"] for r in records if isinstance(r.get("step"), int)), default=0)
            if last > step:
                notes.append(f"eval.json scored step {step}; the run trained to step {last} since")
            return caption, rows
        # the run trained on after `ganhub eval` scored it: its scores are of older weights
        notes.append(
            f"eval.json scored step {step}, before the run's last evaluation (step {logged[2]}); "
            "shown: the newer one (ganhub eval RUN_DIR scores the latest weights)"
        )
    if logged is not None:
        return logged[0], logged[1]
    return "no evaluation yet (run ganhub eval RUN_DIR)", []


__all__ = ["eval_result", "final_metrics", "not_finite_mean", "scored_text"]
