"""A training run: everything `fit` needs, set up once (models, tricks, optimizers, run dir).

`prepare_system` (`ganhub.engine.prepare`) is shared with `ganhub.load`; saving checkpoints,
keeping the best and resuming are `ganhub.engine.run_checkpoints`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import signal
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from ganhub.capability_checks import guarded_phases
from ganhub.config.overrides import dump_yaml
from ganhub.config.saved import GIVEN_FILE
from ganhub.config.schema import RunConfig, patience_warnings, with_absolute_paths
from ganhub.console import Console
from ganhub.domain import BATCH_SOURCE, check_declarations
from ganhub.engine import checkpoint, compiled, distributed, graphs, run_checkpoints, start
from ganhub.engine.best import keep_best_direction, record_directions
from ganhub.engine.components import Components
from ganhub.engine.context import TrainContext
from ganhub.engine.distributed import DistInfo
from ganhub.engine.environment import (
    autocast_factory,
    grad_scaler,
    seed_everything,
    select_device,
    set_deterministic,
    set_threads,
)
from ganhub.engine.failure import record_failure
from ganhub.engine.health import HealthMonitor
from ganhub.engine.optimizers import learning_rates_on_device, make_optimizer
from ganhub.engine.prepare import prepare_system
from ganhub.engine.rundir import RunDirectory, record_user_keys
from ganhub.engine.stats import StatsAccumulator
from ganhub.engine.system import Phase, write_samples_of
from ganhub.errors import (
    Diverged,
    plugin_code,
    unknown_choice,
)
from ganhub.interrupts import OutputsStopped, Terminated
from ganhub.metrics import (
    Metric,
    check_metrics,
    evaluate,
    refuse_inapplicable,
    unused_inception_settings,
)
from ganhub.plugin_guard import GuardedLogger, Owners, listed_text
from ganhub.plural import agreeing
from ganhub.provenance import REQUIRES_FILE
from ganhub.tricks import HOOK_POINTS, trick_warnings


class Run:
    """The state of one training run: `Run(config, parts)`, then `ganhub.engine.loop.fit`;
    `parts` are `ganhub.wiring.components(config)`; `ganhub.wiring.make_run` does both."""

    def __init__(self, config: RunConfig, parts: Components) -> None:
        self.config = config
        self.parts = parts
        self.hooks = parts.hooks
        self.owners = Owners(parts.provenance)  # names a part's plugin when its code raises
        self.dist = DistInfo.from_env()
        self.threads_before = torch.get_num_threads()  # trainer.threads: Run.close puts it back
        # all terminal output of the run; rank 0 shows progress unless trainer.progress=false
        self.console = Console(quiet=not (config.trainer.progress and self.dist.is_main))
        self.device = select_device(config.device, self.dist.local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        # first: it imports torch's compiler, which keeps an older process group alive at exit
        set_deterministic(config.deterministic)
        distributed.init(self.dist, self.device)
        try:
            set_threads(config.trainer.threads)  # refused (more than the cores) before building
            self._build(config, parts)
        except BaseException as exc:  # a caller of make_run that goes on keeps no group
            torch.set_num_threads(self.threads_before)
            distributed.leave(self.dist, exc)
            raise

    def _build(self, config: RunConfig, parts: Components) -> None:
        """The rest of `__init__`, once this process joined its job's process group."""
        seed_everything(config.seed)  # same seed on every rank: identical initial weights

        self.system, self.tricks = prepare_system(config, parts, self.device)
        start.refuse_with_resume(config)
        if config.init_from is not None and config.resume is None:  # weights only, then fresh
            loaded = start.initialise_from(self.system, config.init_from, self.console.warn)
            self.console.print(loaded)
        if self.dist.enabled:
            distributed.broadcast_module(self.system)
        self.phases: list[Phase] = guarded_phases(self.system, config.plugin, self.owners)
        for t in self.tricks:
            where = self.owners.hint("trick", t.name)
            with plugin_code(f"trick '{t.name}': its adjust_phases()", where):
                t.adjust_phases(self.phases)
        hint = self.owners.hint("domain", config.plugin)  # what the domain declares holds
        check_declarations(parts.domain, config, self.system, self.phases, hint)
        self.groups, frozen = start.trainable_groups(self.system)  # FreezeD: left out
        self.grad_groups: tuple[str, ...] = ()  # groups whose weights autograd tracks now
        self.graphs = graphs.StepGraphs.for_run(self) if config.trainer.cuda_graphs else None
        self.optimizers = {
            g: make_optimizer(
                params,
                getattr(config.optim, g),
                self.device,
                capturable=self.graphs is not None,
                key=f"optim.{g}",
            )
            for g, params in self.groups.items()
        }
        start.configure_optimizers(self.system, self.tricks, self.optimizers, self.owners)
        if frozen:  # once the tricks' on_optimizers accepted them (FreezeD checks its source)
            self.console.print(f"frozen at setup (not trained): {', '.join(frozen)}")
        if config.trainer.compile:
            compiled.compile_models(self.system)

        self.points = {
            hook: [getattr(t, hook) for t in self.tricks if t.implements(hook)]
            for hook in HOOK_POINTS
        }
        terms = sorted(
            (t for t in self.tricks if t.implements("extra_loss")), key=lambda t: t.extra_loss_order
        )
        self.points["extra_loss"] = [t.extra_loss for t in terms]
        self.graph_variants = [
            t.graph_variant for t in self.tricks if t.implements("graph_variant")
        ]
        # auxiliary tasks' terms, which the loop also keeps by trick name in PhaseOutput.tasks
        self.task_terms = {t.extra_loss: t.name for t in terms if t.auxiliary_task}
        targets = start.run_targets(self.points["targets"], self.owners)  # type-checked
        d_tricks = sorted(
            (t for t in self.tricks if t.implements("d_input")), key=lambda t: t.d_input_order
        )
        self.scaler = grad_scaler(config.precision, self.device)
        # a captured step must not keep autocast's cast weights between steps (they would be
        # freed while the graph still reads them)
        self.autocast = autocast_factory(config.precision, self.device, cache=self.graphs is None)
        self.ctx = TrainContext(
            parts.loss,
            targets,
            [t.d_input for t in d_tricks],
            self.scaler,
            real_hooks=self.points["real_batch"],  # in the config's order
            compiled=config.trainer.compile,
            input_graphs=frozenset().union(*(t.input_graphs() for t in self.tricks)),
            owners=self.owners,
        )
        self.data = start.data_source(self.system, config.plugin, self.owners)
        # fp16's scaler skips overflowing steps: their values must stay out of the means
        self.stats = StatsAccumulator(skip_nonfinite=self.scaler is not None)
        self.monitor = HealthMonitor(  # rank 0's; kept in checkpoints
            warn=self.console.warn,
            g_loss_stats=self.system.g_loss_stats,
            g_grad_stats=self.system.g_grad_stats,
            tricks={trick.name: trick.options.model_dump() for trick in self.tricks},
        )
        self.step = 0
        self.stop_requested = False
        self.resumed_extra: dict[str, Any] = {}
        self.resumed_steps: int | None = None  # a resumed run's trainer.steps before this call
        self.last_checkpoint: Path | None = None
        self.final_metrics: dict[str, float] = {}
        self.skipped_metrics: list[str] = []
        self.signal: int | None = None  # the signal that stopped the run, if one did
        # writing the final samples and evaluation, after the last checkpoint: a signal then
        # stops them at once (a resume writes them), not "after this step"
        self.finishing = False
        self.loggers: list[Any] = []
        self.saved_step: int | None = None  # the step last checkpointed by this process
        self.best: checkpoint.Best | None = None  # the best checkpoint so far (keep_best)
        self.stale_evaluations = 0  # evaluations since keep_best last improved (patience)
        self.touched = False  # whether this process has written to the run directory
        # a resumed run's config.yaml and requires.json before this session (None: absent)
        self.files_before: dict[str, str | None] = {}
        self.first_step = 0
        self.first_checkpoint: Path | None = None  # the checkpoint a resumed run started from
        # refused before any directory exists
        self.best_direction = keep_best_direction(
            config.trainer.keep_best, self.metrics(), self.system
        )
        self.directory = self._claim_run_dir()
        # every rank takes part: rank 0 sends the path of the directory it claimed
        claimed = self.directory.path if self.directory else None
        self.run_dir = distributed.share_run_dir(claimed, self.dist)
        try:
            if config.resume is not None:
                run_checkpoints.restore(self)  # resume: weights, optimizers, state
            if self.graphs is not None:  # after tricks and the restore set their values
                learning_rates_on_device(self.optimizers.values())
            # noise differs per rank (after init and restore, which are identical on all ranks)
            if self.dist.enabled and config.resume is None:
                seed_everything(config.seed + 1_000_003 * self.dist.rank)
            if self.dist.is_main:
                self.files_before, self.first_step = self._saved_texts(), self.step
                self.first_checkpoint = self.last_checkpoint
                self.touched = True  # from here on a failure is the run's, not the config's
                self.write_config()
                self.system.save_assets(self.run_dir)
                # loggers log config.yaml, so they start after it is written (one that refuses
                # its options or folder is a refusal before the first step: see `fail`)
                named = parts.loggers.items()
                self.loggers = [
                    GuardedLogger(n, cls, self.run_dir, config, hint=self.owners.hint("logger", n))
                    for n, cls in named
                ]
                if config.resume is not None:  # steps logged after the checkpoint come again
                    for logger in self.loggers:
                        logger.resumed_at(self.step)
        except BaseException as exc:
            self.fail(exc)
            raise

    # -- run directory -----------------------------------------------------------------

    def _claim_run_dir(self) -> RunDirectory | None:
        """Rank 0 creates (or opens, to resume) and locks the run directory."""
        if not self.dist.is_main:
            return None
        if self.config.resume is not None:
            return RunDirectory.open(Path(self.config.resume))
        name = self.config.name or f"{self.config.plugin}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
        return RunDirectory.create(self.config.out_dir, name)

    def fail(self, error: BaseException) -> None:
        """After an error: remove a run directory this run created that holds nothing
        resumable, or mark it failed (rank 0); another rank leaves its error for rank 0
        (`ganhub.engine.failure`)."""
        record_failure(self, error)

    def _saved_texts(self) -> dict[str, str | None]:
        """A resumed run's config.yaml, requires.json and record of its user's keys before
        this session rewrites them."""
        names = ("config.yaml", REQUIRES_FILE, GIVEN_FILE) if self.config.resume else ()
        return checkpoint.read_texts(self.run_dir, names)

    def write_config(self) -> None:
        """Write config.yaml (and the plugin provenance) atomically from `self.config`; a
        command that learns settings during the run (`ganhub meta meta.learn_lr=true`)
        rewrites it with them."""
        data = with_absolute_paths(self.config, self.config.model_dump(mode="json"))
        checkpoint.write_text_atomic(self.run_dir / "config.yaml", dump_yaml(data, sort_keys=False))
        record_user_keys(self.run_dir, self.config)  # given.json: what a resume knows again
        requires = self.parts.requires(m.name for m in self.metrics())  # the metrics too
        if requires:
            text = json.dumps(requires, indent=1, sort_keys=True)
            checkpoint.write_text_atomic(self.run_dir / REQUIRES_FILE, text)

    # -- batches, signals --------------------------------------------------------------

    def batches(self) -> Iterator[Any]:
        """This rank's infinite batch stream, continuing from the restored position."""
        try:
            stream = self.data.batches
        except AttributeError:  # data() broke its contract: a bare tensor, a list...
            start.check_part(self.config.plugin, "data()", self.data, False, BATCH_SOURCE)
            raise
        seed, info = self.config.seed, self.dist
        return stream(
            self.config.trainer.batch_size, self.device, seed=seed, rank=info.rank, world=info.world
        )

    def install_signal_handlers(self) -> Callable[[], None]:
        """SIGINT/SIGTERM ask the loop to stop after the current step and save; returns undo."""
        previous: dict[int, Any] = {}

        def request_stop(signum: int, frame: Any) -> None:
            if self.stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            if self.finishing and not self.dist.enabled:  # one process: stop them now
                raise OutputsStopped(signum)
            if signum == signal.SIGTERM and distributed.failed_ranks(self.dist):
                raise Terminated  # torchrun stops the job for a failed rank: no checkpoint agreed
            self.stop_requested = True
            self.signal = signum
            if self.dist.is_main:
                self.console.warn(
                    f"\nganhub: {signal.Signals(signum).name} received; saving a checkpoint "
                    "after this step (Ctrl-C again aborts)"
                )

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        with contextlib.suppress(ValueError):  # not the main thread (a notebook's): none
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        return restore

    # -- logging, samples, evaluation, checkpoints ------------------------------------

    def log(self, metrics: dict[str, float]) -> None:
        """Send host-side metrics to every logger (rank 0)."""
        for logger in self.loggers:
            logger.log(self.step, metrics)

    def check_finite(self) -> None:
        """Stop with a clear message if any loss became NaN/Inf (one host sync).

        Under fp16 grad scaling an overflowing step is expected now and then: the scaler skips
        it and lowers the scale. Then only non-finite weights stop training.
        """
        bad = self.stats.nonfinite_keys()
        if bad and self.scaler is not None and self.weights_finite():
            self.stats.clear_nonfinite()
            return
        if bad:
            raise Diverged(f"loss {', '.join(bad)}", self.step, self.last_checkpoint)

    def require_finite_weights(self, before: str) -> None:
        """Refuse to write a checkpoint or samples of non-finite weights (one host sync)."""
        if not self.weights_finite():
            raise Diverged("weights", self.step, self.last_checkpoint, refused=before)

    def weights_finite(self) -> bool:
        """Whether every floating weight and buffer (EMA copies included) is finite (one sync)."""
        tensors = [t.detach() for t in self.system.state_dict().values() if t.is_floating_point()]
        if not tensors:
            return True
        return bool(torch.stack(torch._foreach_norm(tensors)).isfinite().all())

    def preflight(self) -> list[str]:
        """Checks before the start banner: batch size, the metrics (not hours in, at the first
        evaluation), the domain's (`Domain.warnings`: of the config, as `ganhub config` prints
        them) and the system's (`GANSystem.before_training`: its warnings returned)."""
        start.check_batch_size(self.data, self.config.trainer.batch_size, self.dist.world)
        notes = []
        if self.dist.is_main:
            if self.config.eval.metrics is not None:  # named by the user: all must apply
                refuse_inapplicable(self.system, self.metrics())
            check_metrics(self.system, self.metrics())
            notes = [*self.parts.notes, *unused_inception_settings(self.system, self.metrics())]
            notes += patience_warnings(self.config)
            said = f"domain '{self.config.plugin}': its warnings()"
            hint = self.owners.hint("domain", self.config.plugin)
            with plugin_code(said, hint):
                found_in_config = self.parts.domain.warnings(self.config)
            notes += listed_text(found_in_config, said, hint)
        found = self.system.before_training()
        listed = isinstance(found, list) and all(isinstance(w, str) for w in found)
        start.check_part(self.config.plugin, "before_training()", found, listed, "a list of str")
        return [*trick_warnings(self.parts.loss, self.tricks, self.owners), *notes, *found]

    def write_samples(self) -> list[Path]:
        """Write the domain's sample artifact for the current step (rank 0)."""
        if not self.dist.is_main:
            return []
        self.require_finite_weights("writing samples")
        try:
            with run_checkpoints.streams_kept():  # a resume continues exactly (its doc)
                paths = write_samples_of(
                    self.system, self.run_dir / "samples", f"step_{self.step:07d}",
                    run_dir=self.run_dir, step=self.step,
                )  # fmt: skip
        except Exception as exc:  # a full disk names its file: the command line shows it
            if not (isinstance(exc, OSError) and exc.filename is not None):
                self.owners.fault(exc, "domain", self.config.plugin, "write_samples()")
            raise
        listed = isinstance(paths, list) and all(isinstance(p, Path) for p in paths)
        wanted = "a list of paths (pathlib.Path)"
        start.check_part(self.config.plugin, "write_samples()", paths, listed, wanted)
        for logger in self.loggers:
            logger.log_artifacts(self.step, paths)
        return paths

    def metrics(self) -> list[Metric]:
        """The metric objects this run evaluates: eval.metrics, else the domain's defaults."""
        names = self.config.eval.metrics
        if names is None:  # the domain's names: a mistake there is its plugin's, not the user's
            hint = self.owners.hint("domain", self.config.plugin)
            names = start.default_metric_names(
                self.system, self.config.plugin, self.parts.metrics, hint
            )
        try:
            return [self.parts.metrics[n] for n in names]
        except KeyError as exc:
            raise unknown_choice("metric", str(exc.args[0]), self.parts.metrics) from None

    def evaluate(self) -> dict[str, float]:
        """Run the configured (or the domain's default) metrics on rank 0 and log them."""
        if not self.dist.is_main:
            return {}
        metrics = self.metrics()
        if not metrics:
            return {}
        # a resume continues exactly: no metric moves training's random streams (see its doc)
        with (
            self.console.activity(f"evaluation at step {self.step}"),
            run_checkpoints.streams_kept(),
        ):
            result = evaluate(
                self.system, metrics, n_samples=self.config.eval.n_samples, seed=self.config.seed
            )
        if result.skipped and result.skipped != self.skipped_metrics:
            self.console.warn(
                f"ganhub: warning: {agreeing(len(result.skipped), 'metrics')} "
                f"{', '.join(result.skipped)} "
                f"{'does' if len(result.skipped) == 1 else 'do'} not apply to this "
                f"'{self.config.plugin}' run (see `ganhub list metrics`); not computed"
            )
        self.skipped_metrics = result.skipped
        self.log({f"eval/{k}": v for k, v in result.values.items()})
        record_directions(self.run_dir / "checkpoints", result.better, self.console.warn)
        self.hooks.after_evaluate(run=self, step=self.step, metrics=result.values)
        self.final_metrics = result.values
        return result.values

    def keep_best(self, values: Mapping[str, float]) -> None:
        """After an evaluation: if trainer.keep_best improved, checkpoint this step and record
        it as the best (all ranks take part in the save; rank 0 decides and writes)."""
        run_checkpoints.keep_best(self, values)

    def save(self) -> Path | None:
        """Checkpoint everything needed to continue exactly (all ranks take part; rank 0 writes)."""
        return run_checkpoints.save(self)

    def close(self) -> None:
        """Close loggers, release the run directory, leave the process group."""
        for logger in self.loggers:
            logger.close()
        self.loggers = []
        if self.directory is not None:
            self.directory.close()
        torch.set_num_threads(self.threads_before)  # trainer.threads was this run's
        distributed.shutdown(self.dist)


__all__ = ["Run"]
