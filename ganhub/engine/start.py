"""How a run's weights start: another run's weights (`init_from`, `ganhub.engine.init_from`) and
parameters frozen at setup.

A parameter whose `requires_grad` is off once the tricks have set the models up (FreezeD) is
frozen: the run leaves it out of its optimizer groups, so no optimizer step and no gradient
tracking ever touches it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.config.overrides import dotted_items
from ganhub.engine import checkpoint
from ganhub.engine.checkpoint_state import shaping_settings
from ganhub.engine.init_from import initialise_from as initialise_from  # Run's entry
from ganhub.engine.init_from import saved_config as _saved
from ganhub.errors import (
    ConfigError,
    PluginError,
    UsageError,
    did_you_mean,
    first_line,
    one_line,
    plugin_code,
)
from ganhub.plugin_guard import Owners

if TYPE_CHECKING:
    from torch import nn

    from ganhub.config.schema import RunConfig
    from ganhub.engine.system import GANSystem
    from ganhub.losses import Targets


def refuse_nothing_to_train(config: RunConfig, run_dir: Path, step: int) -> None:
    """A resume at or past trainer.steps trains nothing: asking for fewer steps than the run
    has, or other settings at its last step, would only rewrite its config (refused before
    anything changes). The same settings at the last step finish a run that was stopped
    after its final checkpoint (its final samples and evaluation)."""
    steps = config.trainer.steps
    if step < steps:
        return
    saved = _saved(run_dir)
    changed = _changed_keys(saved, config.model_dump(mode="json") | {"resume": None})
    if step == steps and saved is not None and not changed - _SHOWN_ONLY:
        return
    if step == steps and saved is not None:  # the same length: another setting is the matter
        keys = sorted(changed - _SHOWN_ONLY)
        listed = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        raise ConfigError(
            f"resume={run_dir}: the run has finished its {steps:,} steps; changing {listed} "
            f"would only rewrite its config; give trainer.steps above {step} to train on "
            "with it (ganhub eval scores a run again)"
        )
    raise ConfigError(
        f"resume={run_dir}: the run is at step {step:,} and trainer.steps={steps} asks for no "
        f"more; give trainer.steps above {step} to train on (ganhub eval scores a run again)"
    )


# keys that change how a run is shown or where it runs, not what it computes: a finished run
# resumed with them (trainer.progress=false) writes its final outputs as it would without
_SHOWN_ONLY = frozenset({"trainer.progress", "device", "trainer.num_workers"})


def _changed_keys(saved: dict[str, Any] | None, current: dict[str, Any]) -> set[str]:
    """The dotted keys whose values differ between a saved config and the current one."""
    old, new = dict(dotted_items(saved or {})), dict(dotted_items(current))
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def saved_steps(run_dir: Path) -> int | None:
    """The trainer.steps of a run's saved config.yaml (None when it cannot be read)."""
    saved = _saved(run_dir)
    trainer = saved.get("trainer") if saved is not None else None
    steps = trainer.get("steps") if isinstance(trainer, dict) else None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def refuse_with_resume(config: RunConfig) -> None:
    """Refuse `init_from` next to `resume` (a resumed run continues from its own checkpoint),
    unless it is the value the resumed run was started with: its saved config keeps it."""
    if config.init_from is None or config.resume is None:
        return
    saved = _saved(Path(config.resume))
    started_from = saved.get("init_from") if saved is not None else None
    if isinstance(started_from, str) and Path(started_from) == Path(config.init_from):
        return
    raise ConfigError(
        f"init_from={one_line(config.init_from, 200)} with resume={one_line(config.resume, 200)}: "
        "a resumed run continues from its own checkpoint; drop init_from"
    )


def trainable_groups(system: GANSystem) -> tuple[dict[str, list[nn.Parameter]], list[str]]:
    """The system's optimizer groups without the parameters frozen at setup (requires_grad
    off), and the modules those frozen parameters belong to, in module order."""
    names = {id(p): n for n, p in system.named_parameters()}
    groups: dict[str, list[nn.Parameter]] = {}
    frozen: list[str] = []
    for group, params in system.param_groups().items():
        groups[group] = [p for p in params if p.requires_grad]
        frozen += [owner(names.get(id(p), "?")) for p in params if not p.requires_grad]
    return groups, list(dict.fromkeys(frozen))


def owner(parameter: str) -> str:
    """The module a parameter name belongs to: `D.0` for `D.0.weight` and for a parametrised
    `D.0.parametrizations.weight.original` (spectral norm)."""
    module = parameter.rpartition(".")[0]
    return module.split(".parametrizations.", 1)[0]


def configure_optimizers(
    system: Any, tricks: list[Any], optimizers: dict[str, Any], owners: Owners | None = None
) -> None:
    """Let the domain, then the tricks, adjust the fresh optimizers (their learning rates,
    betas, param groups); then record each group's configured learning rate, against which a
    resume measures a changed optim.*.lr."""
    from ganhub.engine.optimizers import remember_configured_lr

    system.configure_optimizers(optimizers)
    owners = owners or Owners({})
    for t in tricks:
        with plugin_code(f"trick '{t.name}': its on_optimizers()", owners.hint("trick", t.name)):
            t.on_optimizers(optimizers)
    remember_configured_lr(optimizers.values())


def _trick_state(trick: Any, owners: Owners) -> Any:
    """A trick's `state_dict()`, run as plugin code (an exception is one line naming it)."""
    with plugin_code(f"trick '{trick.name}': its state_dict()", owners.hint("trick", trick.name)):
        return trick.state_dict()


def training_state(run: Any, rng: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """Everything but the weights that a resumed `run` needs to continue exactly."""
    return {
        "optimizers": {g: opt.state_dict() for g, opt in run.optimizers.items()},
        "scaler": run.scaler.state_dict() if run.scaler else None,
        "tricks": {t.name: _trick_state(t, run.owners) for t in run.tricks},
        "phases": {p.name: p.repeat for p in run.phases},
        "data": data_state(run.data.position, run.config.trainer.batch_size),
        "system": run.system.resume_state(),
        "rng": rng,
        "world": run.dist.world,
        "extra": extra,
        "stale_evaluations": run.stale_evaluations,
        # the sums of the logging interval a checkpoint cuts: a resumed run logs the same means
        "stats": run.stats.pending() if run.dist.is_main else {},
        # the health monitor's peaks, streaks and open warnings: a resumed run does not warn again
        "monitor": run.monitor.state_dict() if run.dist.is_main else {},
        # the values no resume may change (seed, conditioning, the domain's resume_fixed_keys):
        # a resume checks its config.yaml against them, which an edit could have changed
        "fixed": fixed_settings(run.config, run.parts.domain),
        # every setting that may shape the model (a few KiB): a checkpoint that does not fit
        # the model an edited config.yaml describes names the key edited
        "shaping": shaping_settings(run.config),
    }


def fixed_settings(config: RunConfig, domain: Any) -> dict[str, Any]:
    """{dotted key: value} of the keys a resume of this run may not change (paths absolute,
    as config.yaml keeps them)."""
    from ganhub.config.saved import fixed_values
    from ganhub.config.schema import with_absolute_paths

    return fixed_values(domain, with_absolute_paths(config, config.model_dump(mode="json")))


def fixed_resolver(config: RunConfig, domain: Any) -> Any:
    """For `fixed_drift`: {dotted key: value} -> `resolved_fixed` of `config` with those keys
    set to those values (a checkpoint's record), None when that does not validate."""
    from ganhub.config.overrides import deep_merge
    from ganhub.config.saved import resolved_fixed
    from ganhub.config.sources import nest_dotted

    def resolved(values: dict[str, Any]) -> dict[str, Any] | None:
        try:  # a damaged record (keys that nest into each other): nothing resolved
            dumped = deep_merge(config.model_dump(mode="json"), nest_dotted(values, "the record"))
            return resolved_fixed(domain, type(config).model_validate(dumped))
        except (ValueError, TypeError, UsageError):  # pydantic's ValidationError: a ValueError
            return None

    return resolved


def data_state(position: Any, batch_size: int) -> dict[str, int]:
    """A data position as a checkpoint keeps it: epoch, batches taken, their size, and the
    samples of the epoch taken before them (the number of processes is the state's `world`)."""
    return {"epoch": position.epoch, "index": position.index, "batch": batch_size,
            "start": position.start}  # fmt: skip


def resume_position(
    saved: dict[str, Any], saved_world: Any, position: Any, batch_size: int, world: int
) -> None:
    """Set `position` to continue a checkpoint's epoch after the samples all its ranks had
    taken, in batches of `batch_size` on `world` ranks: the saved position itself when both
    are unchanged, else the same sample of the epoch (ranks take its samples in turn, so
    those taken are a prefix of its permutation: none repeated, none skipped)."""
    from ganhub.data import Position, continue_epoch, samples_taken

    epoch, index, start = saved["epoch"], saved["index"], saved.get("start", 0)
    if not all(type(v) is int and v >= 0 for v in (epoch, index, start)):
        raise ValueError(f"data position {one_line(epoch, 40)}/{one_line(index, 40)}")
    taken = saved.get("batch", batch_size)  # absent in checkpoints before it was kept
    if type(taken) is not int or taken < 1:
        raise ValueError(f"data batch size {one_line(taken, 40)}")
    if type(saved_world) is not int or saved_world < 1:
        raise ValueError(f"number of processes {one_line(saved_world, 40)}")
    consumed = samples_taken(Position(epoch, index, start), taken, saved_world)
    at = continue_epoch(epoch, consumed, batch_size, world)
    position.epoch, position.index, position.start = at.epoch, at.index, at.start


# what a damaged value in a checkpoint's training state raises where it is restored
DAMAGED_STATE = (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError)


def restore_optimizers(run: Any, state: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's optimizer states into `run.optimizers` (`optimizers.load_state`),
    before any step reads them: one line when one does not fit this resume's optimizers (the
    keys that changed which parameters they train, or the run's config.yaml) or is damaged
    (state.json); a group whose checkpoint holds another optimizer's state (a changed
    optim.*.name) starts afresh, which one line says."""
    from ganhub.engine.checkpoint_state import (
        DamagedState,
        optimizer_misfit_line,
        optimizer_mismatch,
    )
    from ganhub.engine.optimizers import KIND_NAMES, load_state

    def damaged(reason: str) -> ConfigError:
        return ConfigError(
            f"resume={run.run_dir}: the optimizer state of {path.name} (state.json, "
            f"state.safetensors) is damaged ({reason}); remove {path.name} to resume from the "
            "checkpoint before it"
        )

    names = {id(p): n for n, p in run.system.named_parameters()}
    try:  # counted first: torch's words say neither which group nor why
        mismatch = optimizer_mismatch(run.optimizers, state.get("optimizers"), names)
    except DamagedState as exc:
        raise damaged(f"its state.json {first_line(exc, 200)}") from None
    if mismatch:
        raise ConfigError(optimizer_misfit_line(run.run_dir, path.name, mismatch, run.config))
    others: dict[str, str | None] = {}
    try:
        for g, optimizer in run.optimizers.items():
            others[g] = load_state(optimizer, state["optimizers"][g])
    except DAMAGED_STATE as exc:  # a damaged state.json: a wrong type anywhere
        reason = f"{type(exc).__name__}: {first_line(exc, 200)}"
        raise damaged(reason) from None
    for g, other in others.items():
        name = getattr(getattr(run.config.optim, g, None), "name", None)
        if other is not None and run.dist.is_main:
            run.console.warn(
                f"ganhub: note: optim.{g}.name={name}: {path.name} holds {g}'s {KIND_NAMES[other]} "
                f"state, which {name} cannot use; {g}'s optimizer starts afresh (no moments, "
                "step count 0) at the learning rate the run had reached"
            )


def _restore_trick(trick: Any, state: Any, owners: Owners) -> None:
    """A trick's `load_state_dict(state)` as plugin code: a value it refuses is a damaged state
    naming the trick and its plugin (raised as ValueError); any other exception is its bug."""
    try:
        trick.load_state_dict(state)
    except DAMAGED_STATE as exc:
        reason = first_line(exc, 80)
        raise ValueError(
            f"trick '{trick.name}' ({owners.hint('trick', trick.name)}) refused its state: "
            f"{type(exc).__name__}: {reason}"
        ) from exc
    except Exception as exc:
        owners.fault(exc, "trick", trick.name, "load_state_dict()")
        raise


def restore_training_state(
    state: dict[str, Any],
    step: int,
    parts: tuple[Any, list[Any], list[Any], Any, Any],
    dist: Any,
    seed: int,
    batch_size: int,
    owners: Owners | None = None,
) -> dict[str, Any]:
    """Restore a checkpoint's training state into `parts` (the grad scaler or None, the tricks,
    the phases, the data position, the system): scaler, trick states, phase repeats, data
    position (in batches of `batch_size`: a resume with another batch size starts at the
    sample the run had reached), the system's own schedules and this rank's RNG streams;
    return the plugin's extras. Raises on any damaged value."""
    from ganhub.engine.environment import seed_everything, set_rng_state

    scaler, tricks, phases, position, system = parts
    if scaler and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    for t in tricks:
        if t.name in state["tricks"]:
            _restore_trick(t, state["tricks"][t.name], owners or Owners({}))
    # the saved repeats are checked, not applied: this run's config sets them (n_critic's n,
    # given anew or dropped on resume) and so does the state of a trick that changes them as
    # it trains (balance's counts, restored above)
    for p in phases:
        repeat = state["phases"].get(p.name, p.repeat)
        if type(repeat) is not int or repeat < 1:
            raise ValueError(f"phase '{p.name}' repeats {one_line(repeat, 40)} times")
    resume_position(state["data"], state.get("world", dist.world), position, batch_size, dist.world)
    saved = state.get("system", {})  # absent in checkpoints before systems kept state
    if not isinstance(saved, dict):
        raise ValueError(f"system state {one_line(saved, 40)}")
    system.load_resume_state(saved, step)
    if state.get("world") == dist.world:
        set_rng_state(state["rng"][dist.rank])
    else:  # a different number of processes: data order is kept, noise streams restart
        seed_everything(seed + step + 1_000_003 * dist.rank)
    extra = state.get("extra", {})
    return extra if isinstance(extra, dict) else {}


def run_targets(hooks: list[Any], owners: Owners) -> Targets:
    """The label targets after each trick's `targets()` in turn (`hooks`: their bound
    methods): one that raises, or returns anything but a `Targets` (a forgotten `return`), is
    named in one line, not blamed on the loss that reads it later."""
    from ganhub.losses import Targets

    targets = Targets()
    for fn in hooks:
        try:
            targets = fn(targets)
        except Exception as exc:
            owners.trick_fault(exc, fn, "targets")
            raise
        if not isinstance(targets, Targets):
            name = getattr(getattr(fn, "__self__", None), "name", "?")
            raise PluginError(
                f"trick '{name}': its targets() returned {type(targets).__name__}, not a "
                "ganhub.losses.Targets (return the targets it was given, or a changed copy: "
                f"dataclasses.replace(targets, real=0.9)) ({owners.hint('trick', name)})"
            )
    return targets


def data_source(system: Any, plugin: str, owners: Owners) -> Any:
    """The system's `data()`: an exception it raises is one line naming the domain, except an
    OSError naming a file (a data path the user gave, a full disk), which the command line
    shows in one line as it is."""
    try:
        return system.data()
    except Exception as exc:
        if not (isinstance(exc, OSError) and exc.filename is not None):
            owners.fault(exc, "domain", plugin, "data()")
        raise


def check_batch_size(data: Any, batch_size: int, world: int) -> None:
    """A batch larger than the data's share of one process, refused before the start banner
    (the sources check it again when they start yielding). A data() that broke its contract
    is left to `Run.batches`, which says how."""
    try:
        check = data.check_batch_size
    except AttributeError:
        return
    check(batch_size, world)


def check_part(
    plugin: str, method: str, value: object, fits: bool, wanted: str, hint: str = ""
) -> None:
    """A domain method's result that the engine relies on: one line naming the domain (and,
    given its `hint`, its plugin) when it is not what the contract says (else an
    AttributeError deep in the engine)."""
    if fits:
        return
    where = f" ({hint})" if hint else ""
    if isinstance(value, type):  # `return MistSystem`: its type, ABCMeta, would say nothing
        raise PluginError(
            f"domain '{plugin}': {method} returned the class {value.__name__}, not {wanted}; "
            f"return an instance of it{where}"
        )
    got = type(value).__name__
    if value is None:  # the function ended without `return` (or returned early)
        got = "None (a missing return?)"
    elif inspect.isroutine(value):  # `return self.make`: not its result
        got = f"the {got} itself (a missing call?)"
    if isinstance(value, list | tuple) and value:  # what it held: a list of str for paths
        got = f"a {got} holding {', '.join(sorted({type(v).__name__ for v in value}))}"
    raise PluginError(f"domain '{plugin}': {method} returned {got}, not {wanted}{where}")


def default_metric_names(
    system: GANSystem, plugin: str, known: Collection[str], hint: str
) -> list[str]:
    """The names of the metrics a run evaluates when eval.metrics is not set, from the
    system's `default_metrics()`: a result that is no list of names, or a name no plugin
    registers, is one line saying it is the domain's mistake and naming its plugin (`hint`),
    never an unknown metric the user did not type."""
    with plugin_code(f"domain '{plugin}': its default_metrics()", hint):
        names = system.default_metrics()
    listed = isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
    check_part(plugin, "default_metrics()", names, listed, "a list of metric names", hint)
    for name in names:
        if name not in known:
            raise PluginError(
                f"domain '{plugin}': its default_metrics() names metric '{one_line(name, 100)}', "
                f"which no installed plugin registers{did_you_mean(name, sorted(known))} "
                f"({hint}); eval.metrics=[...] chooses the metrics of a run"
            )
    return list(names)


@contextlib.contextmanager
def storable(domain: str, hook_plugins: list[str]) -> Iterator[None]:
    """Around a checkpoint's write: a value of the training state that it cannot hold (a set,
    an object) becomes one line naming who put it there: the trick (`state_dict()`), the
    domain (`resume_state()`) or the plugins whose before_save_checkpoint hook fills `extra`."""
    try:
        yield
    except checkpoint.Unstorable as exc:
        part, *rest = exc.path or ["?"]
        kind = f"a value of type {exc.kind}"
        if part == "tricks" and rest:
            where = _keys(rest[1:]) or "its top"
            what = f"trick '{rest[0]}': its state_dict() holds {kind} at {where}"
        elif part == "system":
            what = (
                f"domain '{domain}': its resume_state() holds {kind} at {_keys(rest) or 'its top'}"
            )
        elif part == "extra" and rest:
            owners = ", ".join(f"'{p}'" for p in hook_plugins) or "?"
            what = (
                f"plugin {owners}: its before_save_checkpoint hook put {kind} in extra{_keys(rest)}"
            )
        else:  # the engine's own part of the state: its bug, shown as it is
            raise
        raise PluginError(
            f"{what}, which a checkpoint cannot hold (use numbers, strings, tensors, and lists "
            "or dicts of them)"
        ) from exc


def _keys(path: list[Any]) -> str:
    """`["a", 0]` as `['a'][0]`: where a value sits in a nested state."""
    return "".join(f"[{k!r}]" for k in path)


@contextlib.contextmanager
def fits_in_memory(what: str, fix: str) -> Iterator[None]:
    """Allocation failures inside (a model built from sizes typed too large, or from a run
    folder's edited config.yaml; a sample count too large) become one line: `what` does not
    fit in memory, and `fix`; never an allocator traceback."""
    import torch

    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        text = str(exc).strip()
        if not (isinstance(exc, MemoryError | torch.OutOfMemoryError) or "allocate" in text):
            raise
        first = one_line(text.splitlines()[0] if text else type(exc).__name__, 160)
        raise UsageError(f"{what} does not fit in memory ({first}); {fix}") from None


__all__ = [
    "DAMAGED_STATE",
    "check_batch_size",
    "check_part",
    "configure_optimizers",
    "data_source",
    "data_state",
    "default_metric_names",
    "fits_in_memory",
    "fixed_settings",
    "initialise_from",
    "owner",
    "refuse_nothing_to_train",
    "refuse_with_resume",
    "restore_optimizers",
    "restore_training_state",
    "resume_position",
    "run_targets",
    "saved_steps",
    "storable",
    "trainable_groups",
    "training_state",
]
