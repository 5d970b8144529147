"""Reptile over ganhub runs: a loop over Runs that share the meta weights.

The meta run is an ordinary `Run` (its directory, config.yaml with `data.classes`, loggers,
console and checkpoints); its system holds the meta weights theta. Each distinct task (a class,
or a group of classes, of `meta.classes`) gets one `Run` of the same config restricted to its
classes, built once with `ganhub.wiring.make_run` in a scratch directory (no loggers, no
evaluation, no samples, no checkpoints) and reused at every visit: Run setup is paid once per
task, not once per visit. A visit loads theta into the task's system (its optimizers keep
their moments from its last visit, cleared with `meta.reset_optimizers`) and runs `inner_steps`
ordinary training steps (`ganhub.engine.loop.train_step`, the loop's own step function) at
its outer step's place on the tasks' timeline (`ganhub_meta.carry`); the outer update then
moves theta toward the tasks' weights.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ganhub.config.schema import Section

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.config.schema import RunConfig
    from ganhub.engine.run import Run
    from ganhub.plugins import Hub

META_FILE = "meta.json"  # the meta-training options and timings, next to config.yaml
# fomaml's default outer learning rate: one Adam step moves a weight by about this much, of
# the order that Reptile's epsilon=1 moves it (10 inner Adam steps at 2e-4: up to 2e-3, less
# where the steps disagree)
FOMAML_OUTER_LR = 1e-3
EXAMPLE = "[0,1,2,3,4,5,6]"  # meta.classes in examples: the digits the docs meta-train on


class MetaOptions(Section):
    """Options of `ganhub meta` (given as meta.KEY=VALUE)."""

    classes: list[int] = Field(
        description="the classes tasks are drawn from (data.classes of the meta run)"
    )
    algorithm: Literal["reptile", "fomaml"] = Field(
        "reptile",
        description="reptile: move the meta weights toward the tasks' adapted weights; fomaml: "
        "first-order MAML, an outer Adam step on the gradients of one more step per task at "
        "its adapted weights, on a fresh batch",
    )
    outer_steps: int = Field(200, gt=0, description="outer steps (meta updates)")
    inner_steps: int = Field(10, gt=0, description="ordinary training steps per task visit")
    outer_lr: float = Field(
        1.0,
        gt=0,
        description="reptile: the step size epsilon toward the tasks' weights (at most 1); "
        f"fomaml: the outer Adam's learning rate (default {FOMAML_OUTER_LR}); annealed "
        "linearly to 0",
    )
    tasks_per_step: int = Field(
        1, gt=0, description="tasks trained from the same weights per outer step (averaged)"
    )
    classes_per_task: int = Field(1, gt=0, description="classes in one task (1: one class)")
    anneal: bool = Field(True, description="anneal outer_lr linearly to 0 (Nichol et al.)")
    learn_lr: bool = Field(
        False,
        description="learn G's and D's inner learning rates by hypergradient descent (Baydin "
        "et al. 2018): lr *= 1 - lr_rate * mean cos(an inner step's gradient, the previous "
        "step's update); the run's optim.G.lr / optim.D.lr become the learned rates, which "
        "ganhub adapt starts from",
    )
    lr_rate: float = Field(
        0.02, gt=0, le=0.5, description="learn_lr: the hypergradient step on log lr per outer step"
    )
    n_shots: int | None = Field(
        None,
        gt=0,
        description="images each task trains on, picked from its classes by the seed (its few "
        "shots; data.n_shots=K says the same); default: all of them",
    )
    reset_optimizers: bool = Field(
        False,
        description="clear a task's optimizer state at each visit (default: each task's Adam "
        "moments carry over from its previous visit, which adapted better on the digits)",
    )
    # the key the command line gave the shots as (data.n_shots says the same): errors name it
    _shots_key: str = PrivateAttr("meta.n_shots")

    @property
    def shots_key(self) -> str:
        """The key the user gave the tasks' shots as: meta.n_shots or data.n_shots."""
        return self._shots_key

    def given_shots_as(self, key: str) -> MetaOptions:
        """These options, their errors naming the shots as `key` (the one the user typed)."""
        self._shots_key = key
        return self

    @field_validator("classes")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or len(v) < 2:
            raise ValueError(f"give at least two distinct classes, e.g. {EXAMPLE}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _outer_lr_of_the_algorithm(cls, data: Any) -> Any:
        """fomaml's outer_lr defaults to an Adam learning rate, not to Reptile's epsilon."""
        if isinstance(data, dict) and data.get("algorithm") == "fomaml" and "outer_lr" not in data:
            return {**data, "outer_lr": FOMAML_OUTER_LR}
        return data

    @model_validator(mode="after")
    def _group_fits(self) -> MetaOptions:
        from ganhub.errors import ConfigError  # raised as is: pydantic passes it through

        if self.algorithm == "reptile" and self.outer_lr > 1:
            raise ConfigError(
                f"meta.outer_lr={self.outer_lr} is Reptile's step toward the tasks' weights: "
                "give at most 1 (or meta.algorithm=fomaml, whose outer_lr is an Adam rate)"
            )
        if self.classes_per_task >= len(self.classes):
            raise ConfigError(
                f"meta.classes_per_task={self.classes_per_task} must be below the number of "
                f"meta.classes ({len(self.classes)}), or every task is the same"
            )
        return self


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


def _room_for_other_classes(
    config: RunConfig, raw: dict[str, Any], items: list[str], hub: Hub
) -> RunConfig:
    """A conditional meta run conditions on every class of its data, not meta.classes alone
    (`condition.classes` of the data without data.classes), unless the user typed it: `ganhub
    adapt RUN data.classes=[K]`, the run's next step, refused a class K it had no row for."""
    from ganhub.config.resolve import resolve

    domain = hub.require_domain(config.plugin)
    request = domain.conditioning(config)
    condition = raw.get("condition")
    if request is None or (isinstance(condition, dict) and "classes" in condition):
        return config
    without = [i for i in items if not i.startswith("data.classes=")]
    whole = domain.conditioning(resolve(without, hub=hub))
    names = whole.labels.names if whole is not None else ()
    if len(names) != 1 or names == request.labels.names:
        return config
    listed = ",".join(f'"{n}"' for n in names[0])
    return resolve([*items, f"condition.classes=[{listed}]"], hub=hub)


def meta_config(items: list[str], options: MetaOptions, hub: Hub) -> RunConfig:
    """The meta run's config: the items, with data.classes set to meta.classes and
    trainer.steps to meta.outer_steps (any other trainer.steps among the items is refused: the
    run trains outer steps, and its config.yaml says how many)."""
    from ganhub_meta.shots import check_task_shots, refuse_whole_data_shots

    from ganhub.config.overrides import merge_sources
    from ganhub.config.resolve import resolve
    from ganhub.errors import ConfigError

    sources: dict[str, str] = {}
    raw = merge_sources(items, sources=sources)
    refuse_whole_data_shots(raw, sources, options)
    if not isinstance(raw.get("plugin"), str):
        raise ConfigError("ganhub meta needs plugin=NAME, e.g. plugin=dcgan data=digits")
    if raw.get("resume") is not None:  # its task runs would each resume (and lock) that run
        raise ConfigError(
            "ganhub meta starts a new meta run and does not take resume=; run it again, or "
            "fine-tune a finished one with ganhub adapt RUN"
        )
    domain = hub.require_domain(raw["plugin"])
    field = domain.config_class.model_fields.get("data")
    if field is None or "classes" not in getattr(field.annotation, "model_fields", {}):
        raise ConfigError(
            f"ganhub meta draws tasks from data.classes, which the '{domain.name}' domain's "
            "data does not take (dcgan data=digits does)"
        )
    data = raw.get("data")
    if isinstance(data, dict) and "classes" in data:
        raise ConfigError("data.classes is set by meta.classes in ganhub meta; drop data.classes")
    trainer = raw.get("trainer")
    steps = trainer.get("steps") if isinstance(trainer, dict) else None
    if steps is not None and steps != options.outer_steps:  # it trained meta.outer_steps
        where = f" (from {sources['trainer.steps']})" if "trainer.steps" in sources else ""
        wanted = steps if isinstance(steps, int) and not isinstance(steps, bool) else "N"
        raise ConfigError(
            f"trainer.steps={steps}{where} has no use in ganhub meta, which trains "
            f"meta.outer_steps={options.outer_steps} outer steps (of meta.tasks_per_step x "
            f"meta.inner_steps steps each): give meta.outer_steps={wanted} instead"
        )
    classes = "[" + ",".join(str(c) for c in options.classes) + "]"
    # config.yaml records the steps the run's checkpoints count: its outer steps
    fixed = [f"data.classes={classes}", f"trainer.steps={options.outer_steps}"]
    if isinstance(data, dict) and data.get("n_shots") is not None:  # the tasks' (meta.n_shots)
        fixed.append("data.n_shots=null")  # the meta run's data: every image of meta.classes
    try:
        config = resolve([*items, *fixed], hub=hub)
    except ConfigError as err:  # the user typed meta.classes, not data.classes
        if "data.classes" not in str(err):
            raise
        # the data's example (one class, e.g. data.classes=[8]) is no meta.classes: use one
        shown = re.sub(r"e\.g\. data\.classes=\[[^\]]*\]", f"e.g. meta.classes={EXAMPLE}", str(err))
        raise ConfigError(shown.replace("data.classes", "meta.classes")) from None
    config = _room_for_other_classes(config, raw, [*items, *fixed], hub)
    if options.learn_lr and "lr_schedule" in config.tricks:
        raise ConfigError(
            "meta.learn_lr=true sets the learning rates itself, and tricks=[lr_schedule] would "
            "override them at every step: drop one of the two"
        )
    if options.learn_lr and config.trainer.cuda_graphs:
        raise ConfigError(
            "meta.learn_lr=true watches every optimizer step from Python, which a replayed "
            "CUDA graph skips: drop trainer.cuda_graphs=true"
        )
    check_task_shots(config, options, hub)
    return config


def task_config(
    config: RunConfig,
    classes: tuple[int, ...],
    scratch: Path,
    hub: Hub,
    options: MetaOptions | None = None,
) -> RunConfig:
    """A task's config: the meta config on `classes` (and `options.n_shots` of them), quiet,
    without outputs, on the tasks' timeline (`ganhub_meta.carry`; no logging step on it). It
    keeps the meta run's init_from: each visit loads the meta weights over it, and a trick
    that needs trained weights (freeze_d) sees where they came from."""
    from ganhub_meta.carry import task_steps
    from ganhub_meta.shots import task_data

    from ganhub.config.resolve import resolve

    steps = config.trainer.steps if options is None else task_steps(options)
    quiet: dict[str, Any] = {
        "data": task_data(classes, options),
        "name": "task-" + "-".join(str(c) for c in classes),
        "out_dir": str(scratch),
        "loggers": [],
        "eval": {"metrics": []},
        "trainer": {"steps": steps, "log_every": steps + 1, "progress": False, "sample_every": 0,
                    "checkpoint_every": 0, "eval_every": 0, "keep_best": None, "patience": None,
                    "max_seconds": None},
    }  # fmt: skip
    return resolve(quiet, hub=hub, saved=config.model_dump(mode="json"))


def meta_train(config: RunConfig, options: MetaOptions, hub: Hub | None = None) -> dict[str, Any]:
    """Meta-train (Reptile or first-order MAML) into a new run directory; return the summary."""
    from ganhub.plugins import get_hub
    from ganhub.wiring import make_run

    hub = hub or get_hub()
    run = make_run(config, hub)
    scratch = Path(tempfile.mkdtemp(prefix="ganhub-meta-"))
    tasks: dict[tuple[int, ...], tuple[Run, Any]] = {}
    restore_signals = run.install_signal_handlers()  # stop after an outer step, and save
    try:
        with run.console.session():
            summary = _outer_loop(run, options, tasks, scratch, hub)
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
) -> dict[str, Any]:
    from ganhub_meta import carry
    from ganhub_meta.outer import outer_update
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
         ("outer steps", f"{options.outer_steps:,} x {options.tasks_per_step} task(s) x "
                         f"{options.inner_steps} inner steps{query}, batch {run.config.trainer.batch_size}"),
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
    for step in range(options.outer_steps):
        theta = {k: v.detach().clone() for k, v in system.state_dict().items()}
        kept: list[dict[str, Any]] = []
        losses = carry.StepLosses(run, step, options.outer_steps)
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
            carry.train_visit(task_run, batches, options.inner_steps)
            kept.append(update.after_inner(task_run, batches))
            carried.back(task_run)
            losses.add(task_run)  # the host sync of this visit
            timing["inner"] += time.perf_counter() - began
        began = time.perf_counter()
        epsilon = epsilon_at(options, step)
        update.apply(run, theta, kept, step)
        _ema_follows(run)
        timing["update"] += time.perf_counter() - began
        run.step = step + 1
        metrics = {**losses.means(), update.rate_key: epsilon}  # over the step's visits
        if options.learn_lr:
            cosines = alignment.mean_cosines()  # the host sync of this outer step
            rates = next_rates(rates, cosines, options.lr_rate)
            metrics.update({f"meta/lr_{g}": lr for g, lr in rates.items()})
            metrics.update({f"meta/hypergrad_cos_{g}": c for g, c in cosines.items()})
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
