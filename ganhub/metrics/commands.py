"""`ganhub eval` and `ganhub report` (and the registration of `ganhub features`): evaluation from
the command line."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ganhub.clikit import (
    RUN_DIR,
    ConfigKeys,
    KeyValueCommand,
    WholeNumber,
    default_output,
    device_option,
)
from ganhub.config.schema import MAX_EVAL_SAMPLES
from ganhub.hookspecs import hookimpl
from ganhub.metrics import COUNT_KEYS
from ganhub.metrics.feature_commands import features
from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub.metrics import Metric

_EXTRA = {"ignore_unknown_options": True, "allow_extra_args": True}
_SEEDS = WholeNumber(1, 1000, "counts the sample seeds scored")
_N = WholeNumber(1, MAX_EVAL_SAMPLES, "counts the samples scored per seed")
# a `--flag` that is a config key: eval.* keys and where the run's data has moved
_READS = ConfigKeys(
    "ganhub eval",
    "eval.* keys (the eval. prefix is optional) and, where the run's data has moved, data.*",
    frozenset({"eval", "data"}),
)


@click.command(name="eval", cls=KeyValueCommand, keys=_READS, context_settings=_EXTRA)
@click.argument("run_dir", type=RUN_DIR)
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=_SEEDS,
    help="How many sample seeds, from the run's seed on; scores are their mean and std.",
)
@click.option("--n", "n_samples", type=_N,
              help="Samples per seed  [default: the run's eval.n_samples]")  # fmt: skip
@device_option()
@click.option("--out", type=click.Path(), default=None,
              help="Write the scores to this JSON file (a folder, or a path ending in /: "
              "eval.json in it), as for a run folder that cannot be written (a read-only "
              "mount, another user's run)  [default: RUN_DIR/eval.json; for an export: "
              "./eval-EXPORT.json]")  # fmt: skip
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def eval_command(
    run_dir: Path,
    seeds: int,
    n_samples: int | None,
    device: str,
    out: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Score a trained run: ganhub eval RUN_DIR [--seeds N] [--n N] [eval.KEY=VALUE ...].

    \b
    Keys: eval.metrics=[fid,kid,...], eval.features=[inception,digits], eval.n_real=N,
    eval.inception_weights=PATH, eval.allow_download=true (the eval. prefix is optional);
    data.path=DIR where the run's data has moved. Prints mean and std over the seeds and
    writes RUN_DIR/eval.json (or --out FILE).
    """
    import sys

    from ganhub.console import Console

    # each metric and any first-time feature work, with its time, on stderr: stdout is the table
    # a folder (`--out scores/`, made if missing) takes eval.json: click's Path drops the slash
    folder = out is not None and (out.endswith(("/", os.sep)) or Path(out).is_dir())
    target = None if out is None else Path(out) / "eval.json" if folder else Path(out)
    with Console(file=sys.stderr).session():
        result = evaluate_run(
            run_dir, list(overrides), seeds=seeds, n_samples=n_samples, device=device, out=target
        )
    click.echo(format_table(result, target))


def evaluate_run(
    run_dir: Path,
    overrides: list[str],
    *,
    seeds: int = 1,
    n_samples: int | None = None,
    device: str = "cpu",
    out: Path | None = None,
) -> dict[str, Any]:
    """Evaluate a run's latest checkpoint over `seeds` sample seeds; write and return eval.json
    (to `out` where given: the earlier scores kept are those `out` holds of this run)."""
    from ganhub.api import load
    from ganhub.config.resolve import read_saved
    from ganhub.config.schema import EvalConfig
    from ganhub.errors import UsageError, one_line
    from ganhub.metrics import applies_to, check_metrics, evaluate, supported
    from ganhub.metrics.earlier import keep_earlier, seed_spread
    from ganhub.metrics.features import extractor_names, extractors_used
    from ganhub.metrics.store import check_output_file, write_json
    from ganhub.plugins import get_hub
    from ganhub.provenance import require_installed
    from ganhub.runfiles import check_run_destination

    hub = get_hub()
    items = []
    moved: list[str] | None = None  # the run's data location keys: its config read once
    for item in overrides:
        key = item.partition("=")[0]
        if not key.startswith("eval."):
            if moved is None:  # where a run's data is now, as for sample
                moved = _data_location_keys(run_dir, hub)
            if key.startswith("sample."):  # eval.json records the scores of one setting
                raise UsageError(
                    f"{one_line(key, 60)}: ganhub eval scores the run as it samples (its "
                    "eval.json keeps one setting's scores); `ganhub sample RUN "
                    f"{one_line(key, 60)}=...` writes samples at another; a domain's own "
                    "commands may score other settings (`ganhub --help`)"
                )
            if key not in EvalConfig.model_fields and key not in moved:
                raise UsageError(
                    f"unknown option '{key}'; ganhub eval takes eval.* keys: "
                    + ", ".join(f"eval.{k}" for k in EvalConfig.model_fields)
                    + (f"; where the run's data has moved: {', '.join(moved)}" if moved else "")
                )
            item = item if key in moved else f"eval.{item}"
        items.append(item)
    if out is not None:  # not a file of a checkpoint, removed when it is pruned
        check_run_destination(out, run_dir)
    target = out if out is not None else run_dir / "eval.json"
    # before the scoring: a FIFO or folder there, a run folder that cannot be written
    if out is not None:
        check_output_file(target, "")
    model = load(run_dir, device=device, hub=hub, overrides=items)
    said = ""
    if out is None:  # an export stays as exported (it may be on a read-only share): beside it
        if model.exported:
            target, said = default_output(run_dir, True, name="eval.json", what="scores")
        check_output_file(target, "; give --out FILE to write elsewhere")
    system, config = model.system, model.config
    _check_data_keys(hub, config, [i.partition("=")[0] for i in items if not i.startswith("eval.")])
    names = config.eval.metrics if config.eval.metrics is not None else system.default_metrics()
    chosen_here = any(item.partition("=")[0] == "eval.metrics" for item in items)
    if not names and not chosen_here and config.eval.metrics == []:
        # the run switched evaluation off while it trained (the tiny presets do): scoring it
        # now is what `ganhub eval` was asked for, so the domain's defaults apply
        names = system.default_metrics()
        if names:
            click.echo(
                f"{run_dir} trained with eval.metrics=[]; scoring the domain's defaults: "
                + ", ".join(names),
                err=True,
            )
    if not names:
        defaults = ", ".join(system.default_metrics()) or "none"
        raise UsageError(
            f"'{run_dir}': no metrics to score (the domain's defaults: {defaults}); "
            "pass eval.metrics=[...] (ganhub list metrics)"
        )
    # a metric of a plugin no longer installed: the pip line that adds it, as for a domain
    require_installed(run_dir, read_saved(run_dir), hub, used={"metrics": names})
    metrics = [hub.metrics.get(n) for n in names]
    caps = system.capabilities()
    usable = supported(metrics, caps)
    skipped = [m.name for m in metrics if m not in usable]
    if not usable:  # refused before eval.json is touched: the earlier scores stay
        defaults = ", ".join(system.default_metrics()) or "none"
        needs = "; ".join(f"{m.name}: {applies_to(m)}" for m in metrics)
        raise UsageError(
            f"'{run_dir}': no chosen metric applies to this run ({caps.summary()}). They apply "
            f"to: {needs}. The domain's defaults: {defaults} (ganhub list metrics)"
        )
    n = n_samples or config.eval.n_samples
    asked = f"--n {n}" if n_samples else f"eval.n_samples={n}"
    check_metrics(system, usable, n, "--n" if n_samples else "eval.n_samples")
    uses_features = any(m.reads_features for m in usable)
    unused = _unused_inception_keys(
        items, extractor_names(config.eval, caps) if uses_features else []
    )
    if unused:
        click.echo(unused, err=True)
    seed_list = [config.seed + i for i in range(seeds)]
    runs, warnings, t0 = [], [], time.perf_counter()
    better: dict[str, str | None] = {}
    counts: dict[str, dict[str, float]] = {}  # each metric's own, the fewest over seeds
    for seed in seed_list:
        evaluation = evaluate(system, usable, n_samples=n, seed=seed)
        runs.append(evaluation.values)
        better.update(evaluation.better)  # as each key's metric declares it
        for name, own in evaluation.counts.items():
            mine = counts.setdefault(name, {})
            mine.update({k: min(v, mine.get(k, v)) for k, v in own.items()})
        # shown on stderr as they came; kept with the scores they doubt
        warnings += [w for w in evaluation.warnings if w not in warnings]
    table: dict[str, dict[str, Any]] = {}
    for key in runs[0]:
        values = [r[key] for r in runs]
        mean, std = seed_spread(values)  # the sample std over seeds
        table[key] = {"mean": mean, "std": std, "values": values}
    scored, notes = _scored_count(table, n, asked)
    result = {
        "run_dir": str(run_dir),
        "checkpoint": str(model.checkpoint),
        "step": model.step,
        "metrics": [m.name for m in usable],
        "skipped": skipped,
        "features": extractors_used(config.eval, caps) if uses_features else [],
        "seeds": seed_list,
        "n_samples": scored,
        **({"n_asked": n} if scored < n else {}),
        "notes": notes,
        "warnings": warnings,
        "seconds": round(time.perf_counter() - t0, 2),
        "better": {},  # which way each key improves, as the metric scoring it declares
        "counts": counts,  # what each metric scored; results' counts are the fewest of these
        "results": table,
    }

    def known(name: str) -> Metric | None:  # an earlier metric, to tell which keys are its
        return hub.metrics.get(name) if name in hub.metrics else None

    notes += keep_earlier(target, result, usable, known)  # each earlier metric on its counts
    kept: dict[str, Any] = result["better"]  # type: ignore[assignment]  # recorded with the scores kept from the earlier eval.json
    result["better"] = {
        k: better[k] if k in better else kept[k] for k in table if k in better or k in kept
    }
    if not result["warnings"]:
        del result["warnings"]
    if len(runs) > 1 and all(  # a NaN score has no std of 0 to explain
        v["std"] == 0 for k, v in table.items() if k not in COUNT_KEYS
    ):
        notes.append(
            f"every score is the same for all {len(runs)} seeds, so a std of 0 measures no "
            "spread: the metrics may score the same samples whatever the seed (a fixed "
            "held-out set), or each score may sit at a limit that other samples reach too "
            "(precision 1 or recall 0 of a collapsed generator)"
        )
    write_json(target, result)
    if said:
        click.echo(said, err=True)
    return {**result, "written_to": str(target)}  # for the table, not in the file


def _data_location_keys(run_dir: Path, hub: Any) -> list[str]:
    """The keys of the run's data section that say where its files are (data.path, ...): a
    run whose data has moved is scored with them given again, as `ganhub sample` takes them.
    None when the run names no installed domain (`load` then says why)."""
    from pydantic import BaseModel

    from ganhub.config.resolve import read_saved
    from ganhub.config.schema import holds_path

    plugin = read_saved(run_dir).get("plugin")
    if not isinstance(plugin, str) or plugin not in hub.domains:
        return []
    data = hub.domains.get(plugin).config_class.model_fields.get("data")
    section = data.annotation if data is not None else None
    if not (isinstance(section, type) and issubclass(section, BaseModel)):
        return []
    fields = section.model_fields.items()
    return [f"data.{name}" for name, field in fields if holds_path(field.annotation)]


def _check_data_keys(hub: Any, config: Any, keys: list[str]) -> None:
    """Refuse data keys given to `ganhub eval` that the run's data source does not read, as
    `ganhub run` does: `load` validates without the domain's training checks, so a data.path
    beside built-in data (stylegan's faces) would be ignored and the built-in data scored.
    The domain's `check` runs here, and only its problems naming a given key are raised."""
    if not keys:
        return
    from ganhub.errors import ConfigError, plugin_code

    domain = hub.domains.get(config.plugin)
    with plugin_code(f"domain '{config.plugin}': its check()", "a bug of its plugin"):
        problems = list(domain.check(config))
    given = re.compile(rf"(?<![\w.])({'|'.join(map(re.escape, keys))})\b")  # not data.path_b
    named = [p for p in problems if given.search(p)]
    if named:
        raise ConfigError("; ".join(named))


def _scored_count(table: dict[str, Any], n: int, asked: str) -> tuple[int, list[str]]:
    """The samples per seed the metrics scored, and a note when that is fewer than the `n`
    asked for: metrics that score a held-out set (medgan's data.n_eval phantoms) report their
    count as `n_samples`, and that count, not `n`, is what the scores rest on."""
    reported = table.get("n_samples", {}).get("values", [])
    counts = [int(v) for v in reported if isinstance(v, int | float) and math.isfinite(v)]
    # a metric scoring more than it was asked for (a fixed set of its own) is not a cap
    if not counts or max(counts) >= n:
        return n, []
    scored = max(counts)
    return scored, [
        f"{asked}: scored {counted(scored, 'samples', ',')} per seed, not {n:,}; the metrics "
        "have no more to score (a held-out set, or a metric's own limit)"
    ]


def _unused_inception_keys(items: list[str], extractors: list[str]) -> str | None:
    """A note when eval.inception_weights / inception_sha256 / allow_download were given here
    but no metric of this scoring reads Inception features: the keys change nothing."""
    from ganhub.metrics import INCEPTION_KEYS, unused_inception_note

    keys = [f"eval.{k}" for k in INCEPTION_KEYS]
    return unused_inception_note([i for i in items if i.partition("=")[0] in keys], extractors)


def format_table(result: dict[str, Any], out: Path | None = None) -> str:
    """The eval result as a plain-text table: metric, mean, std (over seeds); `out`: where it
    was written, when not the run's eval.json. Metric keys and names are escaped as paths are
    (`shown_key`): a third-party metric named "fid\\x1b[31m" prints no escape sequence; so are
    the notes (`shown_text`), which quote the names an earlier eval.json holds."""
    from ganhub.metrics.final_scores import scored_text
    from ganhub.metrics.untrusted import shown_key, shown_path, shown_text

    seeds = len(result["seeds"])
    # the samples scored, as the report's caption says them: class_accuracy and intra_fid
    # round --n up to fill every class ("27 samples (25 asked)")
    head = (
        f"ganhub eval {shown_path(result['run_dir'])}: step {result['step']}, "
        f"{counted(seeds, 'seeds')} x {scored_text(result)}"
    )
    if result["features"]:
        head += f", features: {', '.join(shown_key(f) for f in result['features'])}"
    rows = [(shown_key(k), v["mean"], v["std"]) for k, v in result["results"].items()]
    width = max([len("metric"), *(len(k) for k, _, _ in rows)])
    lines = [head, f"{'metric':<{width}}  {'mean':>12}  {'std':>10}"]
    lines += [f"{k:<{width}}  {_num(m):>12}  {_num(s) if s is not None else 'n/a':>10}"
              for k, m, s in rows]  # fmt: skip
    if result["skipped"]:
        skipped = ", ".join(shown_key(name) for name in result["skipped"])
        lines.append(f"not applicable to this run: {skipped}")
    lines += [f"note: {shown_text(note)}" for note in result.get("notes", [])]
    written = out or result.get("written_to") or Path(result["run_dir"]) / "eval.json"
    lines.append(f"written to {shown_path(written)}")
    return "\n".join(lines)


def _num(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == int(v) and abs(v) < 1e9:
        return f"{int(v)}"
    return f"{v:.4g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.4f}"


@click.command(name="report")
@click.argument("run_dirs", nargs=-1, required=True, type=RUN_DIR, metavar="RUN_DIR...")
@click.option(
    "--out",
    type=click.Path(),
    help="HTML page to write; a folder (one that exists, or a path ending in /) takes "
    "report.html (compare.html for several runs)  [default: RUN_DIR/report.html; "
    "./compare.html for several runs]",
)
def report_command(run_dirs: tuple[Path, ...], out: str | None) -> None:
    """Write RUN_DIR/report.html (self-contained) with PNG plots in RUN_DIR/report/ (next to
    an --out page, in PAGE-plots/, where RUN_DIR cannot be written).

    With several run directories: one self-contained page comparing them (the config keys
    that differ, final and best metrics with the best run marked, curves overlaid, each run's
    status), written to ./compare.html or --out, and nothing into the runs' folders."""
    from ganhub.metrics.rundata import shown_path  # a run's name may hold control characters

    if len(run_dirs) > 1:
        from ganhub.metrics.compare import write_comparison

        click.echo(shown_path(write_comparison(list(run_dirs), out, _declared_direction)))
        return
    from ganhub.metrics.report import write_report
    from ganhub.metrics.store import page_destination

    run_dir = run_dirs[0]
    click.echo(shown_path(write_report(run_dir, page_destination(out, "report.html", run_dir))))


def _declared_direction(key: str) -> str | None:
    """Which way a reported metric key improves, as the installed metrics declaring it agree
    ("lower"/"higher"), else None (none declares it, or they disagree)."""
    from ganhub.plugins import get_hub

    ways = set()
    for entry in get_hub().metrics:
        try:
            ways.add(entry.obj.direction(key))
        except KeyError:
            continue
    return ways.pop() if len(ways) == 1 else None


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub eval`, `ganhub report` and `ganhub features`."""
    for command in (eval_command, report_command, features):
        cli.add_command(command)
