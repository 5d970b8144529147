"""Reptile over ganhub runs: a loop over Runs that share the meta weights.

The meta run is an ordinary `Run` (its directory, config.yaml with `data.classes`, loggers,
console and checkpoints); its system holds the meta weights theta. Each distinct task (a class,
or a group of classes, of `meta.classes`) gets one `Run` of the same config restricted to its
classes, built once with `ganhub.wiring.make_run` in a scratch directory (no loggers, no
evaluation, no samples, no checkpoints) and reused at every visit: Run setup is paid once per
task, not once per visit. A visit loads theta into the task's system (its optimizers keep
their moments from its last visit, cleared with `meta.reset_optimizers`) and runs `inner_steps`
ordinary training steps (`ganhub.engine.loop.train_steps`, the loop's own step function) at
its outer step's place on the tasks' timeline (`ganhub_meta.carry`); the outer update then
moves theta toward the tasks' weights.
"""

from __future__ import annotations

import json
import random
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the options and configs live in ganhub_meta.config; named here too, where callers found them
from ganhub_meta.config import FOMAML_OUTER_LR, MetaOptions, meta_config, task_config

from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub_meta import carry
    from torch import Tensor

    from ganhub.config.schema import RunConfig
    from ganhub.engine.run import Run
    from ganhub.plugins import Hub

META_FILE = "meta.json"  # the meta-training options and timings, next to config.yaml


def reptile_update(
    meta: dict[str, Tensor], tasks: list[dict[str, Tensor]], epsilon: float
) -> dict[str, Tensor]:
    """Reptile's outer update, theta + epsilon * mean_i(phi_i - theta), for every floating
    tensor of the meta state; other tensors (step counters) keep theta's value."""
    import torch

    if not tasks:
        raise ValueError("reptile_update needs the weights of at least one task")
    out: dict[str, Tensor] = {}
    for key, theta in meta.items():
        if not theta.is_floating_point():
            out[key] = theta.clone()
            continue
        mean = torch.stack([phi[key].to(theta) for phi in tasks]).mean(0)
        out[key] = theta + epsilon * (mean - theta)
    return out


def epsilon_at(options: MetaOptions, step: int) -> float:
    """The outer step size (Reptile's epsilon, FOMAML's learning rate) at outer step `step`
    (0-based): linear from outer_lr to 0."""
    if not options.anneal:
        return options.outer_lr
    return options.outer_lr * (1.0 - step / options.outer_steps)


def meta_train(config: RunConfig, options: MetaOptions, hub: Hub | None = None) -> dict[str, Any]:
    """Meta-train (Reptile or first-order MAML) into a new run directory; return the summary."""
    from ganhub_meta import carry

    from ganhub.plugins import get_hub
    from ganhub.wiring import make_run

    hub = hub or get_hub()
    run = make_run(config, hub)
    scratch = Path(tempfile.mkdtemp(prefix="ganhub-meta-"))
    tasks: dict[tuple[int, ...], tuple[Run, Any]] = {}
    restore_signals = run.install_signal_handlers()  # stop after an outer step, and save
    try:
        with run.console.session(), carry.VisitStats().installed(hub) as visits:
            summary = _outer_loop(run, options, tasks, scratch, hub, visits)
        return summary
    except BaseException as exc:
        run.fail(exc)
        raise
    finally:
        restore_signals()
        for task_run, _ in tasks.values():
            task_run.close()
        shutil.rmtree(scratch, ignore_errors=True)
        run.close()


def _outer_loop(
    run: Run,
    options: MetaOptions,
    tasks: dict[tuple[int, ...], tuple[Run, Any]],
    scratch: Path,
    hub: Hub,
    visits: carry.VisitStats,
) -> dict[str, Any]:
    from ganhub_meta import carry
    from ganhub_meta.outer import logged_norms, outer_update
    from ganhub_meta.periodic import BetweenSteps
    from ganhub_meta.rates import UpdateAlignment, group_ratios, next_rates, set_rates
    from ganhub_meta.shots import draw_task

    from ganhub.console import summary_rows
    from ganhub.wiring import make_run

    console, system = run.console, run.system
    # as `ganhub run`: refused before the banner, not at the end
    for warning in carry.timeline_warnings(run, options, run.preflight()):
        console.warn(warning)
    rng = random.Random(run.config.seed)
    update = outer_update(options)
    query = f" + {update.query_steps} query step" if update.query_steps else ""
    console.banner(
        f"meta-training {run.config.plugin} ({update.title})",
        [("run dir", str(run.run_dir)), ("device", str(run.device)),
         ("tasks", f"{options.classes_per_task} of classes {options.classes}" + (
             f", {options.n_shots} shots each" if options.n_shots else "")),
         ("outer steps", f"{options.outer_steps:,} x {counted(options.tasks_per_step, 'tasks')} x "
                         f"{options.inner_steps} inner steps{query}, "
                         f"batch {run.config.trainer.batch_size}"),
         ("outer lr", f"{options.outer_lr} {'annealed to 0' if options.anneal else 'constant'}")],
    )  # fmt: skip
    between = BetweenSteps(run)  # the trainer's cadences, counted in outer steps
    timing = {"setup": 0.0, "inner": 0.0, "update": 0.0}
    rates = {g: getattr(run.config.optim, g).lr for g in run.groups} if options.learn_lr else {}
    ratios: dict[tuple[int, ...], dict[str, list[float]]] = {}  # per task: group lr / side lr
    alignment, carried = UpdateAlignment(), carry.CarriedTricks(run)
    from ganhub.engine.checkpoint import write_text_atomic

    # written now, completed at the end: it marks the directory as a meta run, which a
    # `ganhub run resume=` of it (stopped early, or failed) refuses (the plugin's before_train)
    started = {"method": options.algorithm, "options": options.model_dump()}
    write_text_atomic(run.run_dir / META_FILE, json.dumps(started, indent=1))
    console.start_training(options.outer_steps, 0)
    carry.monitor_in_outer_steps(run, options)  # its warm-up and first step, as `ganhub run`'s
    for step in range(options.outer_steps):
        theta = {k: v.detach().clone() for k, v in system.state_dict().items()}
        kept: list[dict[str, Any]] = []
        losses = carry.StepLosses(run, step, options.outer_steps, visits)
        for _ in range(options.tasks_per_step):
            task = draw_task(rng, options)  # the draws `check_task_shots` checked
            if task not in tasks:  # built once, reused at every visit
                began = time.perf_counter()
                task_run = make_run(task_config(run.config, task, scratch, hub, options), hub)
                if options.learn_lr:  # the rates the task's optimizers were built with
                    ratios[task] = group_ratios(task_run.optimizers, {
                        g: getattr(task_run.config.optim, g).lr for g in rates})  # fmt: skip
                    alignment.watch(task_run.optimizers)
                update.watch(task_run)
                tasks[task] = (task_run, task_run.batches())
                timing["setup"] += time.perf_counter() - began
            task_run, batches = tasks[task]
            began = time.perf_counter()
            task_run.system.load_state_dict(theta)
            if options.reset_optimizers:
                for optimizer in task_run.optimizers.values():
                    optimizer.state.clear()  # a fresh inner optimizer at every visit
            # one timeline of steps, each visit from the state the last left: ganhub_meta.carry
            task_run.step = carry.first_step(options, step)
            carried.into(task_run)
            if options.learn_lr:
                set_rates(task_run.optimizers, rates, ratios[task])
                alignment.start_task()
            with losses.checked():  # the visit's last step flushes its stats, and checks them
                carry.train_visit(task_run, batches, options.inner_steps)
                kept.append(update.after_inner(task_run, batches))
            carried.back(task_run)
            losses.add(task_run)  # what the host sync of the visit's last step read
            timing["inner"] += time.perf_counter() - began
        began = time.perf_counter()
        epsilon = epsilon_at(options, step)
        update.apply(run, theta, kept, step)
        _ema_follows(run)
        timing["update"] += time.perf_counter() - began
        run.step = step + 1
        # over the step's visits: losses, and the diagnostics of each visit's last step
        metrics = {**losses.means(), update.rate_key: epsilon}
        metrics |= logged_norms(update)  # FOMAML's meta-gradient, over a task step's of that name
        if options.learn_lr:
            cosines = alignment.mean_cosines()  # the host sync of this outer step
            rates = next_rates(rates, cosines, options.lr_rate)
            metrics.update({f"meta/lr_{g}": lr for g, lr in rates.items()})
            metrics.update({f"meta/hypergrad_cos_{g}": c for g, c in cosines.items()})
        run.monitor.check(run.step, metrics)  # exploding meta-gradients, D winning outright...
        run.log(metrics)
        console.training(run.step, _postfix(metrics, update.rate_key))
        # a signal, patience or trainer.max_seconds: checkpoint this outer step, then stop
        if between.after(last=run.step == options.outer_steps):
            break
    console.end_training(run.step)
    done = max(1, run.step)
    if options.learn_lr:  # what ganhub adapt and a resumed run read
        factors = {g: lr / getattr(run.config.optim, g).lr for g, lr in rates.items()}
        for g, lr in rates.items():
            getattr(run.config.optim, g).lr = lr
        if "ttur" in run.config.tricks:  # TTUR sets its rates outright: they learn the factor
            ttur = getattr(run.config.trick, "ttur")  # noqa: B009 (a plugin-registered section)
            ttur.g_lr, ttur.d_lr = ttur.g_lr * factors["G"], ttur.d_lr * factors["D"]
        run.write_config()
    spent = between.seconds
    began = time.perf_counter()
    checkpoint = run.save()
    spent["checkpoint"] += time.perf_counter() - began
    stopped = run.signal is not None  # stop now: no samples, no evaluation
    samples, values = between.finish()
    seconds = between.elapsed()
    per_step = (timing["inner"] + timing["update"]) / done
    record = {
        "method": options.algorithm,
        "options": options.model_dump(),
        "seconds": seconds,
        "outer_step_seconds": per_step,
        "task_setup_seconds": timing["setup"] / max(1, len(tasks)),
        # training steps of the task Runs, query steps included
        "inner_steps_per_s": done
        * options.tasks_per_step
        * (options.inner_steps + update.query_steps)
        / max(timing["inner"], 1e-9),
        "tasks": ["-".join(map(str, t)) for t in tasks],
    }
    if options.learn_lr:
        record["learned_lr"] = rates
    write_text_atomic(run.run_dir / META_FILE, json.dumps(record, indent=1))
    summary = {
        "run_dir": str(run.run_dir),
        "steps": run.step,
        "steps_this_session": run.step,
        "seconds": seconds,
        "train_seconds": timing["inner"] + timing["update"],
        "steps_per_s": run.step / max(timing["inner"] + timing["update"], 1e-9),
        "eval_seconds": spent["eval"],
        "sample_seconds": spent["samples"],
        "checkpoint_seconds": spent["checkpoint"],
        "stopped_early": run.step < options.outer_steps,
        "early_stop": between.early_stop,  # {"reason": "patience", ...} when patience ran out
        "signal": run.signal,  # SIGINT/SIGTERM that stopped it (the CLI exits 128 + it)
        "checkpoint": str(checkpoint) if checkpoint else None,
        "samples": [str(p) for p in samples],
        "metrics": values,
        "best": None,
        "meta": record,
    }
    if run.best is not None:  # trainer.keep_best, judged at every evaluation
        where = str(run.run_dir / "checkpoints" / run.best.name)
        summary["best"] = {"metric": run.best.metric, "step": run.best.step,
                           "value": run.best.value, "checkpoint": where}  # fmt: skip
    rows = [(k, v.replace(" steps", " outer steps") if k == "training" else v)
            for k, v in summary_rows(summary, tensorboard=False)]  # fmt: skip
    rows.insert(2, ("outer step", _speed(record, len(tasks))))
    shown = shlex.quote(str(run.run_dir))
    rows[-1] = ("next", f"ganhub adapt {shown} data.classes=[K]\nganhub sample {shown}")
    verb = f"stopped by signal {run.signal} at" if stopped else "done,"
    if between.early_stop is not None:
        verb = f"stopped early by trainer.patience={run.config.trainer.patience} at"
    elif not stopped and run.step < options.outer_steps:
        verb = f"stopped by trainer.max_seconds={run.config.trainer.max_seconds:g} at"
    console.summary(f"ganhub meta: {verb} {run.step} outer steps in {seconds:.1f} s", rows)
    return summary


def _ema_follows(run: Run) -> None:
    """EMA copies of the generators take the meta generator's weights: a meta-learned
    initialisation has one set of generator weights."""
    import torch

    with torch.no_grad():
        for name in run.system.generator_names:
            ema = run.system.generator(name, use_ema=True)
            own = run.system.generator(name, use_ema=False)
            if ema is not own:
                ema.load_state_dict(own.state_dict())


def _speed(record: dict[str, Any], n_tasks: int) -> str:
    return (
        f"{record['outer_step_seconds']:.3f} s ({record['inner_steps_per_s']:.1f} inner steps/s); "
        f"task Run setup {record['task_setup_seconds']:.2f} s, once for each of {n_tasks} tasks"
    )


def _postfix(metrics: dict[str, float], rate: str) -> str:
    losses = " ".join(
        f"{k.removeprefix('loss/')}={v:.3f}" for k, v in metrics.items() if k.startswith("loss/")
    )
    return f"{losses} {rate.removeprefix('meta/')}={metrics[rate]:.3g}"


__all__ = [
    "FOMAML_OUTER_LR",
    "META_FILE",
    "MetaOptions",
    "epsilon_at",
    "meta_config",
    "meta_train",
    "reptile_update",
    "task_config",
]
