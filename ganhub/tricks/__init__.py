"""The trick interface: small objects called at fixed points of the loop.

A trick overrides only the methods it needs; the loop collects the overridden ones once at
setup and calls plain bound methods in the hot path (no hook dispatch, no `if config.x`).
Trick modules import torch inside methods (or in their ops modules), so registering them, and
`ganhub plugins`, loads no torch.

Fixed points, in the order they happen:
  adjust_build(hints)            before models exist (PacGAN widens D's input)
  setup(system)                  models exist, before optimizers (init, spectral norm, EMA copy)
                                 a parameter left with requires_grad off is frozen: the
                                 run gives it to no optimizer (FreezeD)
  adjust_phases(phases)          the phase list (n_critic repeats)
  on_optimizers(optimizers)      optimizers exist (TTUR learning rates, LR schedulers)
  targets(targets)               label targets, once (label smoothing)
  real_batch(real, ctx)          each D loss's real batch, before D sees it: re-sample it or
                                 weight its samples (bias correction toward a reference set)
  d_input(x, ctx)                every discriminator input (augmentation, noise, packing)
  extra_loss(phase, out, ctx)    added to a phase's loss (GP, R1, R2, weight penalties); an
                                 auxiliary task's term (a D head's) is also kept in
                                 `out.tasks` for the tricks that relate tasks
  observe(phase, out, ctx)       after a phase's loss, on device (ADA, balancing); may add
                                 device scalars to out.stats, which the loop logs
  before_optimizer_step(phase, params)   gradients are final and unscaled (clipping)
  after_step(step, system)       after every step (EMA update, schedules, balancing)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator

from ganhub.config.given import complete_keys, given_of, user_gave
from ganhub.config.schema import Section
from ganhub.errors import PluginError, plugin_code

_N = TypeVar("_N")

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ganhub.config.schema import RunConfig
    from ganhub.domain import Domain
    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import BuildHints, GANSystem, Phase, PhaseOutput
    from ganhub.losses import AdversarialLoss, Targets
    from ganhub.plugin_guard import Owners

HOOK_POINTS = (
    "adjust_build",
    "setup",
    "adjust_phases",
    "on_optimizers",
    "targets",
    "real_batch",
    "d_input",
    "extra_loss",
    "observe",
    "before_optimizer_step",
    "after_step",
)

# What ganhub calls on a trick: its fixed points and the methods it may override besides.
TRICK_METHODS = (*HOOK_POINTS, "problems", "warnings", "state_dict", "load_state_dict",
                 "graph_variant", "input_graphs", "follows_run_length")  # fmt: skip

# The fixed points called every step (a CUDA graph of the step would freeze their host state).
STEP_HOOKS = ("real_batch", "d_input", "extra_loss", "observe", "before_optimizer_step",
              "after_step")  # fmt: skip


class Trick:
    """Base class of optimisation tricks. Subclass, set the class attributes, override hooks."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type[Section]] = Section
    # Restrictions checked when the config resolves (None: no restriction).
    suits_losses: ClassVar[frozenset[str] | None] = None
    modalities: ClassVar[frozenset[str] | None] = None
    excludes: ClassVar[frozenset[str]] = frozenset()
    # Why the trick needs the weights of a trained run (fine-tuning tricks: FreezeD, EWC), or
    # None: such a trick is refused on a fresh run (no init_from, no resume)
    needs_trained_weights: ClassVar[str | None] = None
    # Order among tricks: setup (init before spectral norm before EMA) and D-input transforms
    # (augment, then noise, then packing).
    setup_order: ClassVar[int] = 50
    d_input_order: ClassVar[int] = 50
    # extra_loss terms (added in this order; a trick that reads the others' terms goes last)
    extra_loss_order: ClassVar[int] = 50
    # Whether the trick's extra_loss is an auxiliary task's loss (a D head's: rotation, class)
    # rather than a penalty: the loop keeps its term in `PhaseOutput.tasks` under the trick's
    # name, where tricks that relate tasks (`relates_tasks`: task_relations) read it.
    auxiliary_task: ClassVar[bool] = False
    relates_tasks: ClassVar[bool] = False  # refused unless a trick of the run is a task
    # Whether the trick packs several samples into one D input (PacGAN: its adjust_build asks
    # `BuildHints.pack` > 1): refused, when the config resolves, in a class-conditional run
    # (`Domain.conditioning`), where each packed input would hold samples of several classes
    packs_inputs: ClassVar[bool] = False
    # Whether a step of this trick can be captured in a CUDA graph (`trainer.cuda_graphs`):
    # its per-step hooks do device work only and read no host value that changes between steps
    # (a Python float annealed by step would be frozen at its captured value); what after_step
    # changes, it changes in place. None: judged from the hooks it overrides (a trick with
    # none of the per-step ones is safe).
    graph_safe: ClassVar[bool | None] = None
    # Whether the trick's state describes the training as a whole, not the data of one run
    # (ADA's p, EMA's images seen): a run that trains in visits (`ganhub meta`) carries it on.
    state_follows_training: ClassVar[bool] = False

    def __init__(self, options: Section, config: RunConfig) -> None:
        self.options: Any = options
        self.config = config
        # the system is built to read a saved run's weights (sampling, scoring, adapting), not
        # to train anew: refusals of a setting the run was trained with must not lock it away
        self.saved = False

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Reasons this trick cannot run with this config (empty when it can)."""
        out = []
        if cls.suits_losses is not None and config.loss not in cls.suits_losses:
            out.append(
                f"trick '{cls.name}' does not suit loss '{config.loss}' "
                f"(it suits: {', '.join(sorted(cls.suits_losses))})"
            )
        modality = domain.modality_for(config)
        if cls.modalities is not None and modality not in cls.modalities:
            out.append(
                f"trick '{cls.name}' applies to {'/'.join(sorted(cls.modalities))} data, "
                f"and this '{config.plugin}' run trains on {modality} data"
            )
        clash = sorted(cls.excludes & set(config.tricks))
        if clash:
            out.append(f"trick '{cls.name}' cannot be combined with: {', '.join(clash)}")
        fresh = config.init_from is None and config.resume is None
        if cls.needs_trained_weights and fresh:
            out.append(
                f"trick '{cls.name}' {cls.needs_trained_weights}: give init_from=RUN (or use "
                "ganhub adapt RUN)"
            )
        return out

    def warnings(self) -> list[str]:
        """Settings allowed but likely a mistake (an anneal longer than the run): one line each,
        naming the key and its value, printed once as the run starts after "ganhub: warning: ".
        `ganhub config` prints them too, from a trick made with its options and the config but
        never set up: read those, not what `setup` makes. Refusals belong in `problems`; a
        warning leaves the run as it was asked for."""
        return []

    def follows_run_length(self) -> str | None:
        """What of this trick's training follows trainer.steps (an anneal or decay over the
        run), as the few words after its name in the start banner's note on a resume that
        changes trainer.steps ("decays on from the rate it reached over the new length"); None
        (the default) when nothing it does reads the run's length. Like `warnings`, it reads
        the options and the config only."""
        return None

    def constrains_d(self) -> bool:
        """Whether this trick bounds D's Lipschitz constant (what a WGAN critic needs)."""
        return False

    # -- fixed points (no-ops unless overridden) ---------------------------------------

    def adjust_build(self, hints: BuildHints) -> None:
        """Change model-construction hints before the domain builds its models."""

    def setup(self, system: GANSystem) -> None:
        """Change the freshly built models (before optimizers are created)."""

    def adjust_phases(self, phases: list[Phase]) -> None:
        """Add, remove or change phases once, at setup (a lazy penalty's own phase, repeats).

        A trick that adds a phase owns it: its loss closure, its interval and its state."""

    def on_optimizers(self, optimizers: dict[str, Any]) -> None:
        """Adjust optimizers by group name once they exist (learning rates, schedulers)."""

    def targets(self, targets: Targets) -> Targets:
        """Return the label targets the losses should use."""
        return targets

    def real_batch(self, real: Tensor, ctx: TrainContext) -> tuple[Tensor, Tensor | None]:
        """The real batch a D loss should use (`real`, or samples re-drawn from it) and a
        weight per sample of it (None: uniform), before D-input tricks; device work only.

        Weights of several tricks multiply and each loss normalises them to mean 1. A trick
        that re-samples the batch must refuse conditional runs (the labels would no longer
        match) and exclude tricks that weight it (their weights refer to the batch it got)."""
        return real, None

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """Transform a discriminator input (must stay differentiable)."""
        return x

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """A term added to the phase's loss, or None."""
        return None

    def observe(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> None:
        """Look at a phase's result (device tensors only: never sync here)."""

    def before_optimizer_step(self, phase: Phase, params: list[nn.Parameter]) -> None:
        """Act on final, unscaled gradients of the phase's parameters."""

    def after_step(self, step: int, system: GANSystem) -> None:
        """Called after each completed step (`step` counts completed steps)."""

    # -- resume ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (tensors and JSON-able values)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    def graph_variant(self, step: int) -> Hashable:
        """What this trick decides on the host for `step` that changes the work the step
        records (a term left out once annealed to 0): with `trainer.cuda_graphs`, steps of
        another variant are captured as another graph. The same for every step unless
        overridden."""
        return None

    def input_graphs(self) -> frozenset[str]:
        """The D inputs ("real", "fake") whose every-step D forward should keep its graph to
        the input, handed to the trick in `Pair.real_graph` / `Pair.fake_graph`: R1 and R2
        take the input gradient from the loss's own forward instead of running D again."""
        return frozenset()

    def implements(self, hook: str) -> bool:
        """Whether this trick overrides the fixed point `hook`."""
        return getattr(type(self), hook) is not getattr(Trick, hook)

    def capturable(self) -> bool:
        """Whether its steps can be replayed as CUDA graphs (`graph_safe`, else judged from
        the per-step hooks it overrides)."""
        if self.graph_safe is not None:
            return self.graph_safe
        return not any(self.implements(hook) for hook in STEP_HOOKS)


def _names_a_side(groups: list[str]) -> list[str]:
    # an empty list would leave the trick enabled and acting on nothing, without a word
    if not groups:
        raise ValueError("names no side, so the trick would do nothing: give [G], [D] or [G,D]")
    return groups


# The `groups` option of a trick that acts on the generator side, the discriminator side or both
Groups = Annotated[list[Literal["G", "D"]], AfterValidator(_names_a_side)]


def group_params(system: GANSystem, groups: list[str]) -> list[nn.Parameter]:
    """Parameters of the named optimizer groups."""
    by_group = system.param_groups()
    return [p for g in groups for p in by_group.get(g, [])]


def trick_warnings(
    loss: AdversarialLoss, tricks: Sequence[Trick], owners: Owners | None = None
) -> list[str]:
    """The start-of-run warnings about the tricks: the loss needs a Lipschitz D (WGAN's critic)
    and no trick bounds it (a warning, not a refusal: a plugin of the user's own may constrain
    D), then each trick's own `warnings()` (an exception raised in one is one line naming the
    trick and, given `owners`, its plugin)."""
    out = []
    if loss.needs_lipschitz_d and not any(t.constrains_d() for t in tricks):
        out.append(
            f"ganhub: warning: loss={loss.name} needs a Lipschitz constraint on D, and no trick "
            "gives one: add tricks=[gp] or tricks=[spectral_norm] (with D in its groups)"
        )
    for trick in tricks:
        hint = owners.hint("trick", trick.name) if owners else "see `ganhub plugins` for its plugin"
        with plugin_code(f"trick '{trick.name}': its warnings()", hint):
            found = trick.warnings()
        if not isinstance(found, list) or not all(isinstance(w, str) for w in found):
            raise PluginError(
                f"trick '{trick.name}': warnings() returned {type(found).__name__}, not a list "
                "of str"
            )
        out += [f"ganhub: warning: {' '.join(line.split())}" for line in found]
    return out


def build_tricks(
    config: RunConfig,
    classes: Mapping[str, type[Trick]],
    saved: bool = False,
    owners: Owners | None = None,
) -> list[Trick]:
    """The enabled tricks (`classes`, by name) made with their options, in setup order, not
    yet set up (`saved`: to read a saved run's weights, `Trick.saved`); an exception in a
    trick's `__init__` is one line naming it and, given `owners`, its plugin."""
    tricks = []
    for name, cls in classes.items():
        hint = owners.hint("trick", name) if owners else "see `ganhub plugins` for its plugin"
        with plugin_code(f"trick '{name}': its __init__()", hint):
            trick = cls(getattr(config.trick, name), config)
        trick.saved = saved
        tricks.append(trick)
    return sorted(tricks, key=lambda t: t.setup_order)


def config_warnings(
    config: RunConfig,
    loss: AdversarialLoss,
    classes: Mapping[str, type[Trick]],
    owners: Owners | None = None,
) -> list[str]:
    """The warnings `trick_warnings` gives as a run of `config` starts, without building its
    models (`ganhub config`): the tricks as a run makes them, never set up."""
    return trick_warnings(loss, build_tricks(config, classes, owners=owners), owners)


def set_by_user(options: Section, key: str, config: RunConfig) -> bool:
    """Whether the user chose the option `key` of a trick's `options` (as a key, in a file or
    a config dict), where a warning about it is worth giving: not a default, nor what the
    domain's preset or `defaults_for` set (`ganhub.config.given`). Options validated without
    the user's keys count every value they were given as the user's; options that keep none
    (a plain `Section`) read the whole config's. A resumed run's saved config lists every
    value: where its run recorded none of its user's keys (`complete_keys`), a key given
    again, or any value but the default."""
    given, complete = given_of(options), complete_keys(options)
    if given is None:  # the whole config keeps them too (`ganhub.config.resolve`)
        given, complete = given_of(config), complete_keys(config)
    name = next((n for n, section in config.trick if section is options), None)
    if given is not None and name is not None and user_gave(given, f"trick.{name}.{key}"):
        return True
    if config.resume is not None and not complete:
        default = type(options).model_fields[key].default
        return key in options.model_fields_set and getattr(options, key) != default
    return (given is None or name is None) and key in options.model_fields_set


def bounded(value: _N, ok: bool, why: str, give: str) -> _N:
    """`value` if `ok`, else its refusal in one line, why then what to give (a trick option's
    field validator; the config layer puts `trick.<name>.<key>=<value>:` before it)."""
    # pydantic's bounds ("Input should be greater than 0") say what, not why
    if not ok:
        raise ValueError(f"{why}: give {give}")
    return value


def longer_than_run(key: str, value: int | None, config: RunConfig, what: str) -> list[str]:
    """A warning when a trick's length in steps (`key`=`value`) exceeds trainer.steps, so
    `what` never happens in this run (legitimate in a short test run, hence not refused)."""
    steps = config.trainer.steps
    if value is None or value <= steps:
        return []
    return [
        f"{key}={value} is longer than the run (trainer.steps={steps}), so {what}; lower it "
        f"to at most {steps}, or ignore this for a short test run"
    ]


__all__ = [
    "HOOK_POINTS",
    "TRICK_METHODS",
    "Groups",
    "Trick",
    "bounded",
    "build_tricks",
    "config_warnings",
    "group_params",
    "longer_than_run",
    "set_by_user",
    "trick_warnings",
]
