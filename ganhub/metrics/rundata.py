"""Reading a run directory for `ganhub report`: every file in it is untrusted.

Run directories travel between people, so nothing read here is trusted: only regular files that
resolve inside the run directory are opened (a link must not pull, say, ~/.ssh/id_rsa into a
page that gets mailed), files and lines are read up to a size limit, and values come back as
bounded plain text or finite numbers. Values that are not what a run writes (a line that is not
a JSON object, a non-numeric metric, a huge line, a sample that is not a PNG) are skipped and
described in the caller's `notes`; a config.yaml that cannot be read as a mapping is a one-line
UsageError naming the file. Nothing here escapes markup: the page's template engine does that.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ganhub.config.overrides import ConfigLoader, DuplicateKeyError
from ganhub.errors import UsageError, one_line
from ganhub.metrics import COUNT_KEYS
from ganhub.runfiles import runs_inside

MAX_GRIDS = 12
MAX_LINE_BYTES = 1 << 20  # a metrics.jsonl line longer than this is skipped unread
MAX_FILE_BYTES = 16 << 20  # config.yaml / eval.json larger than this are not parsed
MAX_IMAGE_BYTES = 32 << 20  # a sample image larger than this is not embedded
MAX_ROWS = 200  # rows of the final metrics table
MAX_TEXT = 200  # characters of one value shown on the page
MAX_SAMPLE_LINES = 8  # lines of a text sample file shown on the page
MAX_PLOTTED = 1e30  # |value| and step beyond this break matplotlib's tick locators
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# -- reading untrusted values --------------------------------------------------------------

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


def _step(value: Any) -> int | None:
    """A record's step: a non-negative int (not a bool) small enough to plot."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_PLOTTED else None


def shown_path(path: Path | str) -> str:
    """A path or file name as every message and page shows it (`one_line`): control
    characters and bytes that are not UTF-8 written as escapes."""
    return one_line(str(path))


def error_line(exc: BaseException, limit: int = 160) -> str:
    """An exception as one short, printable line (whitespace collapsed, the rest escaped)."""
    return one_line(" ".join(str(exc).split()) or type(exc).__name__, limit)


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
    if path.exists() and not path.is_file():  # a FIFO would block the read; a folder, a device
        raise UsageError(f"{shown_path(path)}: not a regular file; config.yaml must be one")
    if not path.is_file():
        raise UsageError(
            f"'{shown_path(run_dir)}' is not a ganhub run directory (no config.yaml)"
            + runs_inside(run_dir)
        )
    if not _inside(run_dir, path):
        raise UsageError(f"{shown_path(path)}: a link to a file outside the run directory")
    try:
        data = _read_bytes(path, MAX_FILE_BYTES)
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
        notes.append(f"metrics.jsonl: reading stopped ({error_line(exc)})")
    for reason, numbers in skipped.items():
        notes.append(f"metrics.jsonl: skipped {len(numbers)} line(s) {reason} ({_lines(numbers)})")
    return records


# -- samples, final metrics -----------------------------------------------------------------


def sample_grids(
    run_dir: Path, notes: list[str] | None = None, up_to: int | None = None
) -> list[tuple[int, Path]]:
    """Up to MAX_GRIDS sample images (step, path), evenly spread over training, last included;
    with `up_to`, those of later steps are left out with a note (the run's history ends there:
    a resume went back past them).

    Only files named step_<N>.png that are PNG files inside the run directory are used; other
    step_*.png entries are skipped with a note.
    """

    def problem(path: Path) -> str | None:
        with path.open("rb") as fh:
            head = fh.read(len(PNG_SIGNATURE))
        if head != PNG_SIGNATURE:
            return "not a PNG file"
        return (
            f"larger than {MAX_IMAGE_BYTES >> 20} MiB"
            if path.stat().st_size > MAX_IMAGE_BYTES
            else None
        )

    notes = [] if notes is None else notes
    return _spread(_up_to(_step_files(run_dir, ".png", problem, notes), up_to, notes))


def sample_texts(
    run_dir: Path, notes: list[str] | None = None, up_to: int | None = None
) -> list[tuple[int, str, Path]]:
    """Text domains' samples (step_<N>.txt), as for `sample_grids`: up to MAX_GRIDS, each its
    first MAX_SAMPLE_LINES lines as plain text (the page escapes them), and its path."""
    out = []
    notes = [] if notes is None else notes
    for step, path in _spread(_up_to(_step_files(run_dir, ".txt", None, notes), up_to, notes)):
        try:
            with path.open("rb") as fh:  # the first lines only, however large the file
                raw = fh.read(MAX_SAMPLE_LINES * (MAX_TEXT + 1) * 4)
        except OSError as exc:
            notes.append(f"samples/{as_text(shown_path(path.name))}: skipped ({error_line(exc)})")
            continue
        lines = raw.decode("utf-8", "replace").splitlines()[:MAX_SAMPLE_LINES]
        out.append((step, "\n".join(as_text(line) for line in lines), path))
    return out


def _up_to(
    found: list[tuple[int, Path]], up_to: int | None, notes: list[str]
) -> list[tuple[int, Path]]:
    """The samples of steps up to `up_to`; the later ones named in a note."""
    later = [step for step, _ in found if up_to is not None and step > up_to]
    if later:
        shown = ", ".join(str(n) for n in later[:5]) + (
            f" and {len(later) - 5} more" if len(later) > 5 else ""
        )
        notes.append(
            f"samples: {len(later)} file(s) of steps after the last logged step {up_to} left "
            f"out (step {shown}): a resume went back to an earlier checkpoint and has not "
            "made them again"
        )
    return [(step, path) for step, path in found if up_to is None or step <= up_to]


def _step_files(
    run_dir: Path, suffix: str, problem: Callable[[Path], str | None] | None, notes: list[str]
) -> list[tuple[int, Path]]:
    """The samples/step_<N><suffix> files inside the run directory, by step; others noted."""
    found: list[tuple[int, Path]] = []
    samples = run_dir / "samples"
    if not samples.is_dir():
        return found
    for p in samples.glob(f"step_*{suffix}"):
        match = re.fullmatch(r"step_(\d{1,12})", p.stem)
        reason = None
        if not match:
            reason = f"not named step_<N>{suffix}"
        elif not _inside(run_dir, p):
            reason = "not a regular file inside the run directory"
        elif problem is not None:
            try:
                reason = problem(p)
            except OSError as exc:
                reason = f"cannot be read ({error_line(exc)})"
        if reason or not match:
            notes.append(f"samples/{as_text(shown_path(p.name))}: skipped ({reason})")
            continue
        found.append((int(match.group(1)), p))
    return sorted(found)


def _spread(found: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """At most MAX_GRIDS of `found`, evenly spread, first and last included."""
    if len(found) <= MAX_GRIDS:
        return found
    picks = {round(i * (len(found) - 1) / (MAX_GRIDS - 1)) for i in range(MAX_GRIDS)}
    return [found[i] for i in sorted(picks)]


def _fmt(value: Any) -> str:
    """A logged evaluation value for the table: 4 significant digits, else bounded text."""
    number = as_number(value)
    if number is None or isinstance(value, bool):
        return as_text(value, 60)
    return str(value) if isinstance(value, int) else f"{number:.4g}"


def read_json(run_dir: Path, path: Path, max_bytes: int) -> tuple[Any, str | None]:
    """(parsed JSON, None) of a file of the run, or (None, what is wrong with it): outside the
    run directory or not a regular file, larger than `max_bytes`, unreadable, not JSON."""
    if not _inside(run_dir, path):
        return None, "not a regular file inside the run directory"
    try:
        data = _read_bytes(path, max_bytes)
        if data is None:
            size = f"{max_bytes >> 20} MiB" if max_bytes >= 1 << 20 else f"{max_bytes >> 10} KiB"
            return None, f"larger than {size}"
        return json.loads(data), None
    except OSError as exc:
        return None, f"cannot be read ({error_line(exc)})"
    except (ValueError, RecursionError):
        return None, "not valid JSON"


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
        elif _step(result.get("step")) is None or _step(result.get("n_samples")) is None:
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
    shown = ", ".join(as_text(f, 40) for f in features[:10]) if isinstance(features, list) else ""
    caption = f"ganhub eval: step {result['step']}, {seeds} seed(s) x {_scored(result)}" + (
        f", features: {shown}" if shown else ""
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
            rows.append((as_text(key), f"null ({odd})"))  # a diverged score, shown as such
        elif mean is None or (seeds > 1 and std is None):
            bad.append(key)
        elif len(rows) < MAX_ROWS and _is_count(key, value, better):
            # the same for every seed and no score (n_samples): a spread of 0 says nothing
            whole = mean.is_integer() and abs(mean) < 1e15
            rows.append((as_text(key), f"{int(mean)}" if whole else f"{mean:.4g}"))
        elif len(rows) < MAX_ROWS:
            rows.append((as_text(key), f"{mean:.4g} ± {std:.2g}" if seeds > 1 else f"{mean:.4g}"))
    if bad:
        names = ", ".join(as_text(k, 40) for k in bad[:5])
        notes.append(
            f"eval.json: {len(bad)} result(s) without a numeric mean/std left out ({names})"
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


def _scored(result: dict[str, Any]) -> str:
    """The samples per seed an eval.json's scores rest on: what its metrics scored (`counts`;
    class_accuracy rounds --n up to fill every class), else `n_samples` or the fewer the metrics
    reported (an older eval.json said the --n asked for, though a held-out set of 8 was scored);
    in brackets the count asked for, where other, and each metric that scored another count."""
    n = int(result["n_samples"])
    reported = result["results"].get("n_samples")
    mean = as_number(reported.get("mean")) if isinstance(reported, dict) else None
    asked = _step(result.get("n_asked"))
    if mean is not None and 0 <= mean < n:
        n, asked = int(mean), n
    raw = result.get("counts")
    own: dict[str, int] = {}  # {metric: the samples per seed it scored}
    for name, count in raw.items() if isinstance(raw, dict) else ():
        number = as_number(count.get("n_samples")) if isinstance(count, dict) else None
        if number is not None and number >= 0 and number.is_integer():
            own[as_text(name, 40)] = int(number)
    if len(set(own.values())) == 1 and n not in own.values():
        n, asked = next(iter(own.values())), asked or n
    text = f"{n:,} samples" + (f" ({asked:,} asked)" if asked is not None and asked != n else "")
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
            rows = [(as_text(k), _fmt(v)) for k, v in list(evals.items())[:MAX_ROWS]]
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
    "shown_path",
]
