"""The training loop: one function, read top to bottom.

Each step runs every due phase (D phases, then G phases, as the domain ordered them); each
phase runs `repeat` times on fresh batches. Nothing here reads a device value back to the host
except on logging, evaluation and checkpoint steps: losses and stats stay on the device.

A plugin command that drives training itself (an outer loop around runs, as meta-learning's)
trains a `Run` (`ganhub.wiring.make_run`) with `fit`, or `n` steps at a time with
`train_steps`, and reports an early stop with `patience_ran_out` and any other stop with
`log_stop`, as `fit` does.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ganhub.capability_checks import loss_problem
from ganhub.console import summary_head, summary_rows
from ganhub.data import split_batch
from ganhub.engine import compiled, distributed
from ganhub.engine.banner import describe_run as describe_run  # the start banner
from ganhub.engine.diagnostics import grad_norm, learning_rates
from ganhub.engine.run import Run
from ganhub.engine.stats import check_stats
from ganhub.engine.stopping import log_stop as log_stop  # why a run stopped, logged
from ganhub.engine.stopping import patience_ran_out as patience_ran_out
from ganhub.engine.system import Phase
from ganhub.errors import PluginError
from ganhub.interrupts import OutputsStopped
from ganhub.plugin_guard import cut_graph, trace_d_inputs
from ganhub.tricks.inputs import unreached


def fit(run: Run) -> dict[str, Any]:
    """Train `run` to `trainer.steps` (or until stopped); return the summary.

    Training speed is measured over training alone: the wall time spent evaluating, writing
    samples and saving checkpoints is timed apart and reported as such in the summary
    (`train_seconds`, `steps_per_s`, `eval_seconds`, `sample_seconds`, `checkpoint_seconds`).
    """
    cfg = run.config.trainer
    hook = run.hooks
    console = run.console
    restore_signals = run.install_signal_handlers()
    start = time.perf_counter()
    spent = {"eval": 0.0, "samples": 0.0, "checkpoint": 0.0}  # seconds outside training
    first_step, log_step = run.step, run.step
    evaluated_at: int | None = None  # the step of the last evaluation in the loop
    sampled: tuple[int, list[Path]] | None = None  # the last samples the loop wrote: step, paths
    early_stop: dict[str, Any] | None = None  # trainer.patience ran out
    stopped_by: int | None = None  # the signal every rank agreed stops the run
    timed_out = False  # trainer.max_seconds ran out (this process's clock)
    monitor = run.monitor  # a resumed run's peaks and warnings come from its checkpoint
    monitor.warmup_steps = cfg.steps // 10
    try:
        with console.session():
            # the system's own checks first: a run it refuses prints no banner naming a run
            # directory that is then removed
            for warning in run.preflight():
                console.warn(warning)
            if not console.quiet:
                console.banner(*describe_run(run))
            hook.before_train(run=run)
            batches = run.batches()
            console.start_training(cfg.steps, run.step)
            t_train = t_log = time.perf_counter()
            paused_at_log = 0.0  # seconds outside training up to the last log
            while run.step < cfg.steps:
                to_log = (run.step + 1) % cfg.log_every == 0 or run.step + 1 == cfg.steps
                # the rates this step uses: a schedule sets the next step's after each step
                rates = learning_rates(run.optimizers) if to_log else {}
                train_step(run, batches)

                metrics = None
                last = run.step == cfg.steps
                if run.step % cfg.log_every == 0 or last:
                    metrics = run.stats.flush()  # the one host sync of a logging interval
                    run.check_finite()
                    now, paused = time.perf_counter(), sum(spent.values())
                    # steps/s of training: an evaluation inside the interval does not count
                    busy = now - t_log - (paused - paused_at_log)
                    rate = (run.step - log_step) / max(busy, 1e-9)
                    metrics["perf/steps_per_s"] = rate
                    metrics["perf/samples_per_s"] = rate * cfg.batch_size * run.dist.world
                    metrics |= rates
                    t_log, log_step, paused_at_log = now, run.step, paused
                    if run.dist.is_main:
                        monitor.check(run.step, metrics)  # collapse, D winning outright...
                    run.log(metrics)
                    console.training(run.step, _postfix(metrics))
                hook.after_step(run=run, step=run.step, metrics=metrics)

                if _due(run.step, cfg.sample_every) and not last:
                    with _timed(spent, "samples"):
                        sampled = run.step, run.write_samples()
                if _due(run.step, cfg.eval_every) and not last:
                    with _timed(spent, "eval"):
                        values = run.evaluate()
                    evaluated_at = run.step
                    with _timed(spent, "checkpoint"):
                        run.keep_best(values)  # may checkpoint this step
                    if cfg.patience is not None and run.stale_evaluations >= cfg.patience:
                        early_stop = patience_ran_out(run)
                        run.stop_requested = True  # all ranks: the count follows a broadcast
                stop = early_stop is not None
                if run.step % cfg.log_every == 0 or last or not run.dist.enabled:
                    timed_out = (
                        cfg.max_seconds is not None
                        and time.perf_counter() - start > cfg.max_seconds
                    )
                    # a signal sets one rank's flag at any moment: only the value all ranks
                    # agree on stops them (one that stopped alone would wait in the others'
                    # next all-reduce), and they agree on the signal, which skips the final
                    # samples and evaluation that every rank takes part in
                    run.stop_requested, stopped_by = distributed.agree_stop(
                        run.stop_requested or timed_out, run.signal, run.dist, run.device
                    )
                    if stopped_by is not None and run.signal is None and run.dist.is_main:
                        run.console.warn(  # rank 0 speaks for the job, and it saw no signal
                            f"\nganhub: {signal.Signals(stopped_by).name} received by another "
                            "process of this job; saving a checkpoint after this step"
                        )
                    stop = stop or run.stop_requested
                if stop:
                    break
                if _due(run.step, cfg.checkpoint_every) and not last:
                    with _timed(spent, "checkpoint"):
                        run.save()
            train_seconds = time.perf_counter() - t_train - sum(spent.values())
            if run.dist.enabled:  # a signal only one rank has seen is ignored from here on
                run.signal = stopped_by
            else:  # one process: a signal during the last step stops it too
                stopped_by = run.signal
            if run.dist.is_main:
                log_stop(run, stopped_by, timed_out, log_step, why=early_stop is None)
            console.end_training(run.step)

            with _timed(spent, "checkpoint"):
                run.save()
            if not run.dist.enabled:  # a signal during that save stops the outputs too
                stopped_by = run.signal
            samples: list[Path] = []
            metrics = {}
            # a finished run resumed with nothing to train: its final evaluation is logged
            logged = _logged_evaluation(run) if run.step == first_step else None
            if logged is not None:
                metrics = logged
            elif stopped_by is None:  # a signal asks to stop now: no samples, no evaluation
                run.finishing = True
                try:
                    with _timed(spent, "samples"):  # not twice at a step the loop sampled
                        if sampled is not None and sampled[0] == run.step:
                            samples = sampled[1]
                        else:
                            samples = run.write_samples()
                    with _timed(spent, "eval"):  # not twice at a step the loop just evaluated
                        metrics = run.final_metrics if evaluated_at == run.step else run.evaluate()
                    with _timed(spent, "checkpoint"):
                        run.keep_best(metrics)
                except OutputsStopped as stop:  # the checkpoint is saved: a resume writes them
                    stopped_by = run.signal = stop.signum
                    samples, metrics = [], {}
                finally:
                    run.finishing = False
        steps = run.step - first_step
        best = run.best
        summary = {
            "run_dir": str(run.run_dir),
            "rank": run.dist.rank,
            "world": run.dist.world,  # how many processes trained, and how many per node
            "per_node": run.dist.per_node,
            "steps": run.step,
            "steps_this_session": steps,
            "seconds": time.perf_counter() - start,
            "train_seconds": train_seconds,
            "steps_per_s": steps / max(train_seconds, 1e-9),
            "eval_seconds": spent["eval"],
            "sample_seconds": spent["samples"],
            "checkpoint_seconds": spent["checkpoint"],
            # a signal in the last step or during the final outputs skipped them: a resume
            # at the last step writes them
            "stopped_early": run.step < cfg.steps or stopped_by is not None,
            "early_stop": early_stop,  # {"reason": "patience", "step", ...} when patience ran out
            "signal": run.signal,  # SIGINT/SIGTERM that stopped it (the CLI exits 128 + it)
            "checkpoint": str(run.last_checkpoint) if run.last_checkpoint else None,
            "samples": [str(p) for p in samples],
            "metrics": metrics,
            "best": None,
        }
        if best is not None:
            where = str(run.run_dir / "checkpoints" / best.name)
            summary["best"] = {"metric": best.metric, "step": best.step, "value": best.value,
                               "checkpoint": where}  # fmt: skip
        hook.after_train(run=run, summary=summary)
        console.summary(
            summary_head(summary), summary_rows(summary, "tensorboard" in run.parts.loggers)
        )
        return summary
    except BaseException as exc:
        try:
            hook.on_train_error(run=run, error=exc)
        except Exception as hook_error:  # the run's own error is the one to raise and clean up
            console.warn(f"ganhub: warning: {hook_error}", every_rank=True)  # its own
        run.fail(exc)  # no half-made run directory: removed, or marked failed
        failure = compiled.compiler_failure(exc) if cfg.compile else None
        if failure is not None:  # torch's compiler broke: one line, not its generated code
            raise failure from exc
        raise
    finally:
        restore_signals()
        run.close()


@contextmanager
def _timed(spent: dict[str, float], what: str) -> Iterator[None]:
    """Add the wall time of the block to `spent[what]` (each block ends in a host sync)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        spent[what] += time.perf_counter() - began


def train_steps(run: Run, batches: Iterator[Any], n: int) -> None:
    """n steps as `fit` runs them, without sampling, evaluation or checkpoint I/O (benchmarks)."""
    for _ in range(n):
        train_step(run, batches)
        metrics = None
        if run.step % run.config.trainer.log_every == 0:
            metrics = run.stats.flush()
            run.check_finite()
        run.hooks.after_step(run=run, step=run.step, metrics=metrics)


def train_step(run: Run, batches: Iterator[Any]) -> None:
    """One optimisation step: every due phase (repeated as asked), then the tricks' after_step.

    The step's batches are drawn first (one, plus one per extra repeat), so that a step
    replayed as a CUDA graph (`trainer.cuda_graphs`) can copy them into its static inputs."""
    step = run.step
    run.ctx.step = step
    run.ctx.cache.clear()
    # diagnostics (accuracies, diversity, gradient norms) only on the steps whose stats get logged
    # (and a phase's gradient norm on its last run before one: `_last_before_log`)
    cfg = run.config.trainer
    run.ctx.diagnose = (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps
    # lazy phases (R1 every 16 steps...) skip most steps; pretraining windows
    plan = [(phase, phase.repeat) for phase in run.phases if phase.due(step) and phase.repeat]
    inputs = [next(batches) for _ in range(1 + sum(repeat - 1 for _, repeat in plan))]
    # a lazy phase's last run before the logging step measures its gradient norm: eager too
    # (asked last, so only with graphs: the eager path pays nothing for it)
    if (
        run.graphs is None
        or run.ctx.diagnose
        or not plan
        or any(_last_before_log(run, phase) for phase, _ in plan)
    ):  # diagnostics: eager
        _run_plan(run, plan, inputs)
    else:
        # a trick's host decision for this step (noise annealed to 0) makes another plan
        key = (*((phase.name, repeat) for phase, repeat in plan),
               *(variant(step) for variant in run.graph_variants))  # fmt: skip
        run.graphs.step(run, key, inputs, lambda static: _run_plan(run, plan, static))
    if run.ctx.unchecked:  # until a D phase ran: did D's inputs reach the tricks on them?
        unreached(run.tricks, run.ctx, plan, run.config, run.console.warn)
    run.step = step + 1
    try:  # free unless it raises: a trick's exception is named in one line
        for after_step in run.points["after_step"]:
            after_step(run.step, run.system)  # EMA, LR schedules, balancing
    except Exception as exc:
        run.owners.trick_fault(exc, after_step, "after_step")
        raise


def _run_plan(run: Run, plan: list[tuple[Phase, int]], inputs: list[Any]) -> None:
    """Each due phase, `repeat` times; the first repeat of a phase takes the last batch drawn,
    every further one the next (n_critic: every D repeat sees new data)."""
    fresh = iter(inputs)
    batch = next(fresh)
    for phase, repeats in plan:
        for repeat in range(repeats):
            if repeat:
                batch = next(fresh)
            run_phase(run, phase, batch)


def run_phase(run: Run, phase: Phase, batch: Any) -> None:
    """Forward, backward and optimizer step of one phase, over `grad_accum` micro-batches."""
    params = run.groups[phase.group]
    _track_grads(run, phase.grad_groups)
    optimizer = run.optimizers[phase.group]
    micro_batches = split_batch(batch, run.config.trainer.grad_accum)
    run.ctx.micro_batches = len(micro_batches)
    for index, micro in enumerate(micro_batches):
        run.ctx.micro = index
        with run.autocast():
            out = phase.loss(micro, run.ctx)
            loss = out.loss
            check_loss(loss, phase, None, run.config.loss)
            for extra_loss in run.points["extra_loss"]:
                try:  # free unless it raises: a trick's exception is named in one line
                    term = extra_loss(phase, out, run.ctx)  # GP, R1, weight penalties, heads
                except Exception as exc:
                    run.owners.trick_fault(exc, extra_loss, "extra_loss")
                    raise
                if term is not None:
                    check_loss(term, phase, extra_loss)
                    loss = loss + term
                    if run.task_terms and extra_loss in run.task_terms:
                        out.tasks[run.task_terms[extra_loss]] = term
        if not loss.requires_grad:
            raise _no_gradient(run, phase, micro)
        scaled = loss if len(micro_batches) == 1 else loss / len(micro_batches)
        (run.scaler.scale(scaled) if run.scaler is not None else scaled).backward()
        for observe in run.points["observe"]:
            known = len(out.stats)
            try:  # free unless it raises: a trick's exception is named in one line
                observe(phase, out, run.ctx)  # ADA, balancing; may add device stats to out.stats
            except Exception as exc:
                run.owners.trick_fault(exc, observe, "observe")
                raise
            if len(out.stats) != known:  # what it added must be device scalars (no sync)
                check_stats(out.stats, known, phase, observe)
        run.stats.add({f"loss/{phase.name}": loss, **out.stats}, watch=phase.name)
    if run.dist.enabled:
        distributed.average_gradients(params, run.dist.world)
    if run.ctx.diagnose or _last_before_log(run, phase):
        norm = grad_norm(params, run.scaler)  # before clipping; stays on the device
        if norm is not None:
            run.stats.add({f"grad_norm/{phase.name}": norm})
    if run.points["before_optimizer_step"]:
        if run.scaler is not None:
            run.scaler.unscale_(optimizer)  # clipping must see true gradients
        try:  # free unless it raises: a trick's exception is named in one line
            for before_step in run.points["before_optimizer_step"]:
                before_step(phase, params)
        except Exception as exc:
            run.owners.trick_fault(exc, before_step, "before_optimizer_step")
            raise
    if run.scaler is not None:
        # updated after every optimizer step, not once a training step: an optimizer steps
        # more than once in a step (n_critic, lazy R1's phase, cyclegan's two D phases) and
        # GradScaler refuses a second step() before update()
        run.scaler.step(optimizer)
        run.scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _no_gradient(run: Run, phase: Phase, batch: Any) -> PluginError:
    """The error of a phase whose loss reaches no weight of its group, naming the trick whose
    `d_input` cut D's input from the graph when one did (G's fakes, detached): the phase runs
    once more, its D-input tricks traced, to find it, on this error path only."""
    if run.ctx.d_transforms:
        with run.autocast():
            cut = cut_graph(trace_d_inputs(run.ctx, lambda: phase.loss(batch, run.ctx)))
        if cut is not None:
            return PluginError(
                f"trick '{cut}': its d_input() returned D's input without the gradient it came "
                f"with (a .detach(), .data or torch.no_grad()?), so the loss of phase "
                f"'{phase.name}' depends on no weight of {phase.group} and cannot train it "
                f"({run.owners.hint('trick', cut)})"
            )
    return PluginError(
        f"phase '{phase.name}': its loss does not depend on any weight of {phase.group}, so "
        "it cannot train it (a value computed without gradients?)"
    )


def _last_before_log(run: Run, phase: Phase) -> bool:
    """Whether this step's run of `phase` is its last before the next logging step, so that
    every phase that steps an optimizer logs its gradient norm: a phase every k steps (lazy R1,
    path length) is never due on a logging step when k divides log_every, and a phase whose
    window ends between two (MLE pretraining) missed its last one. A few integer ops a step."""
    step, trainer = run.ctx.step, run.config.trainer
    log_step = step + (-(step + 1)) % trainer.log_every
    if step < trainer.steps:  # the last step logs too (benchmarks may train past it)
        log_step = min(log_step, trainer.steps - 1)
    again = step + phase.interval
    return again > log_step or (phase.stop is not None and again >= phase.stop)


def check_loss(value: Any, phase: Phase, extra_loss: Any, loss_name: str = "") -> None:
    """A phase's loss and each extra term (`extra_loss`: the trick hook that gave it, None for
    the phase's own) must be one number, a 0-dim tensor: a per-sample vector, or a Python
    float that trains nothing, is refused naming where it came from. Costs an isinstance."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        return
    trick = getattr(getattr(extra_loss, "__self__", None), "name", "?")
    source = (
        f"the domain's phase (or its loss '{loss_name}')"
        if extra_loss is None
        else f"trick '{trick}'"
    )
    raise PluginError(f"phase '{phase.name}': {source} gave {loss_problem(value)}")


def _track_grads(run: Run, groups: tuple[str, ...]) -> None:
    """Let autograd track only these groups' weights (the G phase skips D's weight gradients)."""
    if run.grad_groups == groups:
        return
    for name, params in run.groups.items():
        for p in params:
            p.requires_grad_(name in groups)
    run.grad_groups = groups


def _logged_evaluation(run: Run) -> dict[str, Any] | None:
    """The evaluation metrics.jsonl holds for the run's current step (null: nan), or None: a
    finished run resumed with nothing to train must not evaluate and log it again."""
    from ganhub.metrics.rundata import read_metrics

    nan = float("nan")
    for record in reversed(read_metrics(run.run_dir)):
        if record.get("step") != run.step:
            break
        values = {k[5:]: nan if v is None else v for k, v in record.items() if k[:5] == "eval/"}
        if values:
            return values
    return None


def _due(step: int, every: int) -> bool:
    return every > 0 and step % every == 0


def _postfix(metrics: dict[str, float]) -> str:
    losses = " ".join(
        f"{k.removeprefix('loss/')}={v:.3f}" for k, v in metrics.items() if k.startswith("loss/")
    )
    return f"{losses} {metrics['perf/samples_per_s']:.0f} samples/s"


__all__ = [
    "fit",
    "log_stop",
    "patience_ran_out",
    "train_steps",
]
