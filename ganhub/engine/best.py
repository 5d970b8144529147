"""trainer.keep_best: which way the chosen value improves, and the record a resume continues;
and the run's record of which way every score it evaluated improves (`record_directions`)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ganhub.engine import checkpoint
from ganhub.engine.checkpoint_state import (
    DIRECTIONS,
    MAX_DIRECTIONS,
    direction_key,
    read_directions,
)
from ganhub.errors import ConfigError, PluginError, UsageError, did_you_mean, one_line
from ganhub.metrics import Better, Metric, direction_of, extractor_names, supported
from ganhub.plugin_guard import registered_hint

if TYPE_CHECKING:
    from ganhub.engine.system import GANSystem


def keep_best_direction(
    key: str | None, metrics: Sequence[Metric], system: GANSystem
) -> Better | None:
    """Which way trainer.keep_best improves; a one-line error if this run's metrics do not
    report it as a score (raised before training, before the run directory exists)."""
    if key is None:
        return None
    applicable = supported(metrics, system.capabilities())
    if not applicable:
        raise ConfigError(
            f"trainer.keep_best={one_line(key, 60)}: this run evaluates no metric that "
            "applies to it; name some in eval.metrics=[...] (ganhub list metrics)"
        )
    way = direction_of(key, applicable)
    if way is None:
        scores = list(dict.fromkeys(k for m in applicable for k in m.scores()))
        names = ", ".join(m.name for m in applicable)
        raise ConfigError(
            f"trainer.keep_best={one_line(key, 60)}: not a score this run's metrics ({names}) "
            f"report{did_you_mean(key, scores)}; valid: {', '.join(scores) or 'none'}"
        )
    if way not in ("lower", "higher"):  # a plugin's `better` table mistyped: never guessed
        declaring = next(m for m in reversed(applicable) if direction_of(key, [m]) == way)
        hint = registered_hint(declaring) or "see `ganhub plugins` for its plugin"
        raise PluginError(
            f"trainer.keep_best={one_line(key, 60)}: metric '{declaring.name}' says it improves "
            f"{one_line(repr(way), 60)}, neither 'lower' nor 'higher', so no checkpoint can be "
            f"kept as the best: a mistake of its `better` table ({hint})"
        )
    feature_network_named(key, applicable, system)
    return way


def feature_network_named(key: str, metrics: Sequence[Metric], system: GANSystem) -> None:
    """A feature metric's key must name one of this run's feature networks: `fd_digitz`
    matched the pattern `fd_*`, `fid` (Inception's) was declared, and no evaluation of a run
    scoring on `digits` reported either (no best kept, patience never ran out). Checked where
    every network's name is known (local ones; Inception's label depends on its weights, a
    network's file names its own)."""
    declaring = [m for m in metrics if direction_of(key, [m]) is not None]
    if not declaring or not all(m.reads_features for m in declaring):
        return
    names = extractor_names(system.config.eval, system.capabilities())
    if any(n == "inception" or "/" in n or n.endswith((".json", ".safetensors")) for n in names):
        return  # `fid` or `fid_<weights' label>`, `fd_<a file's name>`: known once built
    if not any(re.search(rf"(^|_){re.escape(n)}(_|$)", key) for n in names):
        raise ConfigError(
            f"trainer.keep_best={one_line(key, 60)}: names no feature network of this run "
            f"(eval.features: {', '.join(names)}), as its keys do (fd_{names[0]} for fid)"
        )


def restored_best(
    directory: Path,
    step: int,
    key: str | None,
    warn: Callable[[str], None],
    better: Better | None = None,
) -> checkpoint.Best | None:
    """The best-checkpoint record of the run being resumed (at `step`), if it still holds (it
    is untrusted: a damaged or stale record is reported and set aside, never followed), or the
    checkpoint at `step` when its logged evaluation beats that record (`better`: which way `key`
    improves, for a run with no record yet). A folder in its place cannot be replaced by the
    next record: a run that keeps the best is refused before training, not failed after it."""
    best = _record(directory, step, key, warn)
    if key is None or (best is not None and best.metric != key):
        return best
    way = best.better if best is not None else better
    value = _logged_value(directory.parent, step, key)
    if value is None or way not in ("lower", "higher") or (best is not None and best.step == step):
        return best
    if best is None or best.beaten_by(value):
        # a run stopped between writing the best checkpoint and its record (kill -9): the
        # evaluation at `step` is not run again, so the record it would have written is written
        best = checkpoint.Best(key, step, value, str(way))
        checkpoint.write_best(directory, best)
    return best


def _logged_value(run_dir: Path, step: int, key: str) -> float | None:
    """The finite value of `eval/key` that metrics.jsonl logged last at `step`, or None."""
    from ganhub.metrics.rundata import read_metrics

    for record in reversed(read_metrics(run_dir)):
        if record.get("step") != step:
            continue
        value = record.get(f"eval/{key}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) if math.isfinite(value) else None
    return None


def _kept(directory: Path, step: int) -> bool:
    """Whether the checkpoint of `step` is there with all its files."""
    return all((directory / f"step_{step:07d}" / f).is_file() for f in checkpoint.FILES)


def _reproducible_best(
    directory: Path, step: int, stale: checkpoint.Best, warn: Callable[[str], None]
) -> checkpoint.Best | None:
    """A record naming a checkpoint this resume (at `step`) does not have (a later one it could
    not load, or one removed) replaced by the best the resumed run still has: among its
    checkpoints up to `step`, the one whose evaluation metrics.jsonl logged best for the same
    metric. No such checkpoint: the record is removed, and the next evaluation starts anew."""
    from ganhub.metrics.rundata import read_metrics

    logged: dict[int, float] = {}
    for record in read_metrics(directory.parent):
        at, value = record.get("step"), record.get(f"eval/{stale.metric}")
        if type(at) is not int or at > step or isinstance(value, bool):
            continue
        if isinstance(value, int | float) and math.isfinite(value):
            logged[at] = float(value)  # the last logged at a step, as `_logged_value`
    best: checkpoint.Best | None = None
    for at in sorted(logged):
        if _kept(directory, at) and (best is None or best.beaten_by(logged[at])):
            best = checkpoint.Best(stale.metric, at, logged[at], stale.better)
    said = (
        f"ganhub: warning: {directory / checkpoint.BEST} names step {stale.step}, which this "
        f"resume (at step {step}) does not have; "
    )
    if best is None:
        (directory / checkpoint.BEST).unlink(missing_ok=True)
        warn(said + "none of its checkpoints was evaluated, so a new record starts")
        return None
    checkpoint.write_best(directory, best)
    warn(said + f"its best {stale.metric} is now step {best.step}'s ({best.value:.6g})")
    return best


def _record(
    directory: Path, step: int, key: str | None, warn: Callable[[str], None]
) -> checkpoint.Best | None:
    """best.json as `restored_best` trusts it (see there), or None."""
    path = directory / checkpoint.BEST
    if key is not None and path.is_dir():  # links and FIFOs are refused before (runfiles)
        raise UsageError(
            f"'{one_line(path, 200)}' is a folder where trainer.keep_best records the best "
            "checkpoint (a file); remove or rename it"
        )
    try:
        best = checkpoint.read_best(directory)
    except UsageError as exc:
        warn(f"ganhub: warning: {exc}; starting a new best-checkpoint record")
        return None
    if best is None:
        return None
    if best.step > step or not _kept(directory, best.step):
        return _reproducible_best(directory, step, best, warn)
    if key is not None and best.metric != key:
        warn(
            f"ganhub: warning: {directory / checkpoint.BEST} records the best {best.metric}; "
            f"this run keeps the best {key}, which replaces it at the next evaluation"
        )
    return best


# -- which way each evaluated score improves: checkpoints/better.json --------------------

_UNWRITABLE: set[Path] = set()  # records this process could not write (said once each)


def record_directions(
    directory: Path, better: Mapping[str, str | None], warn: Callable[[str], None]
) -> None:
    """After an evaluation (rank 0): record in `directory`/better.json which way each key it
    reported improves (`Evaluation.better`: as the metric reporting it declares; None for a
    count), so `ganhub report RUN RUN` compares runs by what they used, not by the metrics
    installed where it runs. One small read per evaluation, nothing per step; the file is
    written (atomically) only when a key is new or its declared direction changed. A damaged
    record is said once and written anew; one that cannot be written is said once and skipped
    (training goes on: the record serves comparisons, not the run)."""
    path = directory / DIRECTIONS
    damaged = False
    try:
        known = read_directions(directory)
    except UsageError as exc:
        if path.is_dir() and not path.is_symlink():  # a file cannot be renamed over it
            _unwritable(path, "a folder is there: remove or rename it", warn)
            return
        warn(f"ganhub: warning: {exc}; it is written anew")
        known, damaged = {}, True
    merged = dict(known)
    for key, way in better.items():
        fits = key in merged or len(merged) < MAX_DIRECTIONS  # a larger record is not read
        if fits and direction_key(key) and way in ("lower", "higher", None):
            merged[key] = way
    if merged == known and not damaged:  # nothing new: the usual case after the first
        return
    try:
        directory.mkdir(exist_ok=True)  # before the first checkpoint, there may be none yet
        checkpoint.write_text_atomic(path, json.dumps({"better": merged}, indent=1))
    except OSError as exc:  # a full disk: the next checkpoint says so, if it fails too
        _unwritable(path, exc.strerror or str(exc), warn)


def _unwritable(path: Path, why: str, warn: Callable[[str], None]) -> None:
    """Say once per process that `path` could not be written, and why."""
    if path in _UNWRITABLE:
        return
    _UNWRITABLE.add(path)
    warn(
        f"ganhub: warning: cannot record which way each score improves in '{one_line(path, 200)}'"
        f" ({why}); `ganhub report RUN RUN` takes them from the metrics installed where it runs"
    )


__all__ = [
    "feature_network_named",
    "keep_best_direction",
    "record_directions",
    "restored_best",
]
