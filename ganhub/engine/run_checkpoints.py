"""A run's checkpoints (`ganhub.engine.run.Run.save`, `keep_best`, and resuming): writing one
at a step, keeping the best by a metric, and continuing from the newest.

Each takes the `Run` (`run`) and works on its state; the checkpoint files themselves are
`ganhub.engine.checkpoint`'s.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ganhub.engine import checkpoint, distributed, start
from ganhub.engine.best import restored_best
from ganhub.engine.environment import rng_state, set_rng_state
from ganhub.errors import ConfigError, first_line, one_line
from ganhub.interrupts import finish_first
from ganhub.plugin_guard import hook_plugins


def keep_best(run: Any, values: Mapping[str, float]) -> None:
    """After an evaluation: if trainer.keep_best improved, checkpoint this step and record
    it as the best (all ranks take part in the save; rank 0 decides and writes)."""
    key = run.config.trainer.keep_best
    if key is None or run.best_direction is None:
        return
    improved = False
    if run.dist.is_main:
        value = values.get(key)
        if value is None:
            if values:  # a metric named its output otherwise than declared (a feature net)
                run.console.warn(
                    f"ganhub: warning: trainer.keep_best={key} is not among this "
                    f"evaluation's results ({', '.join(values)}); no best checkpoint kept"
                )
        elif run.best is None or run.best.metric != key:
            improved = math.isfinite(value)  # the first value counts; NaN is never the best
        else:
            improved = run.best.beaten_by(value)
    # one agreement per evaluation, not per step: every rank must join the save
    if not distributed.broadcast_object(improved, run.dist):
        run.stale_evaluations += 1  # the same count on every rank: it follows the broadcast
        return
    run.stale_evaluations = 0
    run.save()
    if run.dist.is_main:
        directory = run.run_dir / "checkpoints"
        run.best = checkpoint.Best(key, run.step, float(values[key]), run.best_direction)
        checkpoint.write_best(directory, run.best)  # after its checkpoint, never before
        # the previous best is no longer protected
        checkpoint.prune(directory, run.config.trainer.keep_checkpoints, {run.best.name})


def save(run: Any) -> Path | None:
    """Checkpoint everything needed to continue exactly (all ranks take part; rank 0 writes);
    the path written (rank 0), else None."""
    if run.saved_step == run.step:  # written at this step already (keep_best, then cadence)
        return run.last_checkpoint
    run.check_finite()
    run.require_finite_weights("writing a checkpoint")  # never save NaN/Inf weights
    rng = distributed.gather_object(rng_state(), run.dist)
    run.saved_step = run.step  # on every rank, so all of them skip a second save alike
    if not run.dist.is_main:
        return None
    extra: dict[str, Any] = {}
    run.hooks.before_save_checkpoint(run=run, step=run.step, extra=extra)
    state = start.training_state(run, rng, extra)
    plugins = hook_plugins(run.hooks, "before_save_checkpoint")
    # a value no checkpoint can hold names the trick, domain or hook plugin that gave it
    # a second Ctrl-C during the write lets it finish, then aborts (docs/training.md)
    with finish_first(lambda: _finishing(run)), start.storable(run.config.plugin, plugins):
        run.last_checkpoint = checkpoint.save(
            run.run_dir / "checkpoints",
            run.step,
            run.system.state_dict(),
            state,
            keep=run.config.trainer.keep_checkpoints,
            protect=[run.best.name] if run.best else [],
        )
    return run.last_checkpoint


def _finishing(run: Any) -> None:
    run.console.warn(
        f"\nganhub: finishing the checkpoint of step {run.step} first; Ctrl-C again aborts "
        "without it"
    )


@contextmanager
def streams_kept() -> Iterator[None]:
    """Around what a run writes between its steps (evaluations, sample artifacts): the global
    random streams (Python's, numpy's, torch's CPU and CUDA ones) are where they were
    afterwards, whatever a metric or a domain drew from them. A checkpoint keeps the streams
    as training left them, and a run resumed from it repeats no output of an earlier step and
    builds its feature networks once more: any draw here would give the uninterrupted run
    other noise from then on than the resumed one. Costs a copy of the states (a few KB) per
    output, none per step."""
    kept = rng_state()
    try:
        yield
    finally:
        set_rng_state(kept)


def restore(run: Any) -> None:
    """Continue `run` from the newest complete checkpoint of its run directory (`resume=`):
    weights, optimizers, training state, step and the best checkpoint so far."""
    found = checkpoint.load_newest(run.run_dir / "checkpoints", warn=run.console.warn)
    if found is None:
        raise ConfigError(
            f"resume={run.run_dir}: it holds no complete checkpoint to resume from (a run "
            "stopped before its first one); start a new run, with the same name once you "
            "have removed this folder"
        )
    path, step, model_state, state = found
    refuse_changed_fixed(run, path, state)  # before the weights: it names the key exactly
    # torch's 40-line list, or a silent cast of int/complex values: one line instead
    mismatch = checkpoint.load_fitting(run.system, model_state, run.device)
    if mismatch:
        # names the keys this resume changes, or the run's config.yaml when it changes none
        line = checkpoint.misfit_line(run.run_dir, path.name, mismatch, run.config)
        raise ConfigError(line)
    start.restore_optimizers(run, state, path)  # before any step reads them
    start.refuse_nothing_to_train(run.config, run.run_dir, step)
    run.resumed_steps = start.saved_steps(run.run_dir)
    asked = run.config.trainer.steps
    try:  # state.json and state.safetensors are untrusted: any damage is one line
        parts = (run.scaler, run.tricks, run.phases, run.data.position, run.system)
        seed, batch = run.config.seed, run.config.trainer.batch_size
        run.resumed_extra = start.restore_training_state(
            state, step, parts, run.dist, seed, batch, run.owners
        )
        run.stats.carry_over(state.get("stats"))  # absent before checkpoints kept it
        run.monitor.load_state_dict(state.get("monitor"))  # absent before checkpoints kept it
        if run.config.trainer.steps != asked:  # the domain recounted the run's length
            run.resumed_steps = None  # (cyclegan's epochs): its own note says so
    except start.DAMAGED_STATE as exc:
        reason = first_line(exc, 200)
        raise ConfigError(
            f"resume={run.run_dir}: the training state of {path.name} (state.json, "
            f"state.safetensors) is damaged ({type(exc).__name__}: {reason}); remove "
            f"{path.name} to resume from the checkpoint before it"
        ) from None
    stale = state.get("stale_evaluations", 0)  # untrusted: an int, or a fresh count
    run.stale_evaluations = stale if type(stale) is int and stale >= 0 else 0
    run.step = step
    run.last_checkpoint = path
    if run.dist.is_main:
        key = run.config.trainer.keep_best
        run.best = restored_best(
            run.run_dir / "checkpoints", run.step, key, run.console.warn,
            better=run.best_direction,
        )  # fmt: skip


def refuse_changed_fixed(run: Any, path: Path, state: dict[str, Any]) -> None:
    """Refuse a resume whose config sets a key no resume may change (the seed, the
    conditioning, the domain's resume_fixed_keys) otherwise than checkpoint `path` records it
    was trained with: a resume refuses such a key typed again, but an edited config.yaml
    changed it silently (another seed: another data order). A checkpoint from before the
    record resumes as before; a record that is not one is a damaged state."""
    from ganhub.config.saved import fixed_drift
    from ganhub.config.sources import as_typed
    from ganhub.engine.init_from import saved_config

    now = start.fixed_settings(run.config, run.parts.domain)
    resolved = start.fixed_resolver(run.config, run.parts.domain)  # model.norm auto = instance...
    try:
        drift = fixed_drift(state.get("fixed"), now, saved_config(run.run_dir), resolved)
    except ValueError as exc:
        raise ConfigError(
            f"resume={run.run_dir}: the training state of {path.name} (state.json) is damaged "
            f"({first_line(exc, 200)}); remove {path.name} to resume from the checkpoint before it"
        ) from None
    if drift is None:
        return
    key, value, was, in_file = drift
    typed, trained = (one_line(as_typed(v), 60) for v in (value, was))
    run_dir = one_line(run.run_dir, 200)
    file = one_line(run.run_dir / "config.yaml", 200)
    head = f"resume={run_dir}: {file} gives" if in_file else f"resume={run_dir}: this resume sets"
    fix = f"set {key} back to {trained} in {file}" if in_file else "resume without changing it"
    raise ConfigError(
        f"{head} {key}={typed}, but checkpoint {path.name} was trained with {key}={trained}, "
        f"and a resumed run's {key} cannot change; {fix} (a new run with {key}={typed} "
        f"init_from={run_dir} starts from its weights)"
    )


__all__ = ["keep_best", "refuse_changed_fixed", "restore", "save", "streams_kept"]
