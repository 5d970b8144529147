"""What a domain hands the loop: a `GANSystem` (models, data, phases, samples).

A phase is one optimisation target: a name, the parameter group it updates (``G`` or ``D``),
a loss closure, an interval (lazy regularisation) and a repeat count (n_critic). The loop runs
every due phase each step and owns what all domains share (precision, accumulation, clipping,
optimizer steps, distributed gradient averaging, stats). Domains only write the closures.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal

import torch
from torch import Tensor, nn
from typing_extensions import TypeVar

from ganhub.capabilities import Capabilities, Modality
from ganhub.engine.outputs import Pair as Pair  # public here: plugins import it from system
from ganhub.engine.outputs import PhaseOutput as PhaseOutput
from ganhub.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from ganhub.conditioning import Condition
    from ganhub.config.schema import RunConfig
    from ganhub.data import BatchSource
    from ganhub.engine.context import TrainContext
    from ganhub.latent import LatentSpace


PhaseLoss = Callable[[Any, "TrainContext"], PhaseOutput]

# The run config class a system reads (`GANSystem[Toy2dConfig]`): its domain's RunConfig
# subclass. A bare `GANSystem` reads a `RunConfig` (PEP 696 default), and covariance makes a
# `GANSystem[Toy2dConfig]` one, so the engine takes any system.
ConfigT = TypeVar("ConfigT", bound="RunConfig", default="RunConfig", covariant=True)


@dataclass
class Phase:
    """One named optimisation step over a parameter group.

    `interval` runs the phase every k-th step (lazy regularisation); `repeat` runs it k times
    per step on fresh batches (n_critic). Tricks may change `repeat` during training.
    `grad_groups` are the groups whose weights autograd tracks during the phase (default: the
    updated group only); a D phase may track G too, to hand its fakes' graph to the G phase.
    `start`/`stop` limit the phase to steps in [start, stop) (pretraining, then adversarial
    phases); `stop=None` runs to the end.
    """

    name: str
    group: str
    loss: PhaseLoss
    interval: int = 1
    repeat: int = 1
    grad_groups: tuple[str, ...] = ()
    start: int = 0
    stop: int | None = None

    def __post_init__(self) -> None:
        if self.interval < 1 or self.repeat < 0:
            raise ValueError(f"phase {self.name}: interval must be >= 1 and repeat >= 0")
        if self.start < 0 or (self.stop is not None and self.stop < self.start):
            raise ValueError(f"phase {self.name}: need 0 <= start <= stop")
        if not self.grad_groups:
            self.grad_groups = (self.group,)

    @property
    def every_step(self) -> bool:
        """Whether the phase is a main, every-step one (interval 1), not a lazy regulariser's:
        per-step losses such as weight penalties join only these."""
        return self.interval == 1

    def due(self, step: int) -> bool:
        """Whether the phase runs at `step`: inside [start, stop) and on its interval."""
        in_window = step >= self.start and (self.stop is None or step < self.stop)
        return in_window and step % self.interval == 0


@dataclass
class BuildHints:
    """What tricks ask of model construction before the models exist.

    `pack`: PacGAN packs this many samples into one discriminator input, so D is built with
    `pack` times the input channels (or features).
    `condition`: a class-conditional run's labels and mechanisms (`ganhub.conditioning`);
    None for an unconditional run. Tricks may add auxiliary heads to it (AC-GAN).
    `heads`: auxiliary heads (name -> outputs) an unconditional discriminator is built with
    (`ganhub.engine.heads`: SSGAN's rotation head). Tricks ask with `add_head`, which routes
    a conditional run's request to `condition.heads`, so one trick works on both.
    """

    pack: int = 1
    condition: Condition | None = None
    heads: dict[str, int] = field(default_factory=dict)

    def add_head(self, name: str, outputs: int) -> None:
        """Ask for an auxiliary D head of `outputs` logits on D's features (before the
        models exist); asking twice for one name with another size is a config error."""
        heads = self.condition.heads if self.condition is not None else self.heads
        if heads.get(name, outputs) != outputs:
            raise ConfigError(
                f"two tricks ask for discriminator head '{name}', with {heads[name]} and "
                f"{outputs} outputs; give one of them another head name"
            )
        heads[name] = outputs


@dataclass(frozen=True)
class ExportInput:
    """One input of an exported generator function, per sample (the batch dimension comes first).

    `kind` says what to feed it: "noise" (standard normal), "labels" (class indices, one per
    label factor) or "image" (an input image in [-1, 1], for translators). `meaning` says more
    where the kind alone cannot (what each channel holds, how a mask is coded); the model card
    and export.json show it.

    `spatial_step` > 0 declares a fully convolutional input: each dimension after the first (an
    image's height and width, a volume's depth, height and width; the first holds its channels)
    may be any multiple of `spatial_step` from `spatial_min` up (0: from the step itself), and
    `shape` is one such size (the one trained at). The graphs then take every such size, the
    export checks one besides `shape`, and the card and export.json say which sizes are valid.
    Inputs of one function that declare a step share it and their sizes. 0: the shape is fixed.
    """

    name: str
    shape: tuple[int, ...]
    dtype: Literal["float32", "int64"] = "float32"
    kind: Literal["noise", "labels", "image"] = "noise"
    classes: tuple[int, ...] = ()  # labels: the number of classes of each label factor
    meaning: str = ""  # empty: the kind's own description
    spatial_step: int = 0  # > 0: the sides may be any multiple of it (above)
    spatial_min: int = 0  # the smallest side, a multiple of spatial_step (0: the step)


@dataclass(frozen=True)
class ExportFunction:
    """A module whose `forward(*inputs)` is one call of the generator: what onnx and torchscript
    exports trace. `name` is the stem of its files (generator.onnx, generator.pt);
    `output_range` is (low, high) when the outputs are bounded (images in [-1, 1])."""

    name: str
    module: nn.Module
    inputs: tuple[ExportInput, ...]
    output_range: tuple[float, float] | None = (-1.0, 1.0)


@dataclass(frozen=True)
class ExportSpec:
    """How a system's generator leaves ganhub (`ganhub export`, `ganhub.load(folder)`).

    `state`: role -> module whose weights are exported, as `<role>.<key>` tensors; the system
    built from the same config gives the same roles, so the weights load back into it.
    `functions`: what onnx and torchscript exports trace; empty when sampling is not one
    traceable call, and `refusal` then says why.
    """

    state: dict[str, nn.Module]
    functions: tuple[ExportFunction, ...] = ()
    refusal: str = "its generator is not declared as one traceable call"


class GANSystem(nn.Module, ABC, Generic[ConfigT]):
    """Base class of a domain's trainable system. Being an `nn.Module`, it moves, saves and
    loads as one; `G_ema` copies added by the EMA trick are saved with it.

    It is generic in its config class: a domain's system names its `RunConfig` subclass
    (`class Toy2dSystem(UnconditionalGAN[Toy2dConfig])`), so `self.config` has that type;
    a bare `GANSystem` reads the base `RunConfig`.

    What it can do beyond training (sample from noise, give real samples, translate...) it
    declares in `capabilities()`; metrics, tricks and commands read that declaration.
    """

    # Module names by role; tricks use them (EMA copies generators, spectral norm wraps Ds).
    generator_names: ClassVar[tuple[str, ...]] = ("G",)
    discriminator_names: ClassVar[tuple[str, ...]] = ("D",)
    # vector | image | volume | tokens: the default declaration's modality.
    modality: ClassVar[Modality] = "image"
    # Whether a training step can be replayed as a CUDA graph (`trainer.cuda_graphs`): the
    # phases do device work only, on batches of fixed shapes, and read no host value that
    # changes between steps (a step count, a Python random draw) nor sync with the host.
    graph_safe: ClassVar[bool] = False
    # The logged stat of G's adversarial loss against each discriminator, by the tag of that
    # discriminator's stats ("_A" for D_A_win), where `loss/G` is not that loss: several
    # discriminators (CycleGAN's G_adv_A), or a G phase that adds other terms or whose loss
    # says nothing of D winning (a policy gradient centred on 0). The health monitor reads it
    # for "D wins outright"; an undeclared tag reads `loss/G`.
    g_loss_stats: ClassVar[dict[str, str]] = {}
    # The logged stat of G's gradient norm from each discriminator, by the same tags, where
    # the largest `grad_norm/G*` is not that gradient (CycleGAN's one G phase, whose norm is
    # mostly the cycle loss's): "D wins outright" asks for it to fall. Log it on logging steps
    # only (`TrainContext.diagnose`); an undeclared tag reads the `grad_norm/G*` phase norms.
    g_grad_stats: ClassVar[dict[str, str]] = {}

    def __init__(self, config: ConfigT, hints: BuildHints | None = None) -> None:
        super().__init__()
        self.config: ConfigT = config
        self.hints = hints or BuildHints()

    # -- what every domain provides ---------------------------------------------------

    @abstractmethod
    def phases(self) -> list[Phase]:
        """The phases run each step, in order (D before G, as in most GAN papers)."""

    @abstractmethod
    def data(self) -> BatchSource:
        """The training data as a batch source (in-memory tensors or a dataset with workers)."""

    @abstractmethod
    def sample(
        self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Tensor | None = None
    ) -> Any:
        """Generate `n` outputs (images in [-1, 1], points, token ids...) without gradients.

        `labels` (conditional systems only, `capabilities().labels`): the class of each sample;
        None draws them uniformly. Unconditional systems refuse labels (`refuse_labels`).
        """

    def display_samples(
        self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Tensor | None = None
    ) -> Any:
        """`n` outputs drawn as this domain's pictures draw them, for a user to look at (the
        grid of one class of `ganhub sample --label`), where `sample` is the draw metrics
        score. The default is `sample(n, seed=, use_ema=, labels=)`; a domain whose sample
        grids draw otherwise overrides it (StyleGAN: the run's truncation, `sample.psi` and
        `sample.cutoff`, and the constant noise inputs). Same arguments, seeding and layout
        as `sample`."""
        return self.sample(n, seed=seed, use_ema=use_ema, labels=labels)

    @abstractmethod
    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """Write an artifact of the current model (PNG grid, text, NIfTI); return the paths.

        Must not touch the global RNG (use a seeded generator) so sampling during training
        leaves the run reproducible; `n` defaults to the domain's usual count.

        Where the model comes from, for provenance (a NIfTI `descrip`, a caption): declare
        the keywords `run_dir: Path | None = None` and/or `step: int | None = None` and the
        engine passes them (`write_samples_of`): the run directory and the training step
        during training, `ganhub sample`, `ganhub export` and `TrainedGAN.write_samples`; None
        where unknown. A method without them is called as before.
        """

    def capabilities(self) -> Capabilities:
        """What this system can do. The default: it samples from noise and gives real samples
        of its `modality`. Override to declare more (features, a known dataset, a task,
        further interfaces) or less (a translator does not sample from noise)."""
        return Capabilities(modality=self.modality)

    def real_count(self) -> int:
        """How many samples `real_samples` can give (what metrics that train a network on them,
        or compare with them, have): the training data's size, unless overridden (a
        translator's real samples are its target side's)."""
        return len(self.data())

    def real_samples(self, n: int, seed: int = 0) -> Tensor:
        """Up to `n` training samples picked by a seeded permutation, float, on the CPU."""
        source = self.data()
        n = min(n, len(source))
        idx = torch.randperm(len(source), generator=torch.Generator().manual_seed(seed))[:n]
        return source.gather(idx)

    def real_labels(self, n: int, seed: int = 0) -> Tensor:
        """The labels of the samples `real_samples(n, seed)` picks (conditional runs' data)."""
        source = self.data()
        n = min(n, len(source))
        idx = torch.randperm(len(source), generator=torch.Generator().manual_seed(seed))[:n]
        labels = source.gather_labels(idx)
        if labels is None:
            raise UsageError(f"the '{self.config.plugin}' data of this run has no labels")
        return labels

    def real_labelled(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Up to `n` training samples and their labels (the same pick as `real_samples`)."""
        return self.real_samples(n, seed), self.real_labels(n, seed)

    def refuse_labels(self, labels: Tensor | None) -> None:
        """Raise a one-line error when labels are asked of an unconditional system."""
        if labels is not None and self.capabilities().labels is None:
            raise UsageError(
                f"this '{self.config.plugin}' run is not conditional; it samples without labels"
            )

    def reference_samples(self) -> Tensor | None:
        """A small unbiased reference set of the same kind as the training data (Choi et al.
        2020: the importance-weighting trick learns the density ratio against it), on the CPU;
        None when the data has none (the default)."""
        return None

    def validation_samples(self) -> Tensor | None:
        """Held-out real samples of the training distribution that training never reads, on
        the CPU (few-shot data: the rest of the kept classes beyond `data.n_shots`); what
        `eval.real=validation` compares with. None when the data holds none out (the default)."""
        return None

    def validation_labels(self) -> Tensor | None:
        """The labels of `validation_samples()`, row for row, for conditional runs (what
        `intra_fid` groups the held-out images by); None when there are none (the default)."""
        return None

    def latent_space(self) -> LatentSpace | None:
        """The generator's latent space for interpretation tools (`ganhub.latent`): systems
        that declare `provides={"latent_space"}` return one; None by default."""
        return None

    def architecture(self) -> dict[str, dict[Any, float]]:
        """A supernet's preference over its domain's `arch_space`: each searched key's
        probability per value (`ganhub.nas.architecture`). Systems that declare
        `provides={"supernet"}` return it; {} by default."""
        return {}

    def save_assets(self, run_dir: Path) -> None:
        """Write files a run needs besides its weights (a tokenizer...), once before training."""

    def before_training(self) -> list[str]:
        """Checks once the run is set up (weights loaded from a resume or init_from), before
        step one: warnings for the run's console (default: none); raise a GanhubError (a
        UsageError, ConfigError) to refuse the run in one line. For what would otherwise fail
        or mislead only later in training (a file read at the first sample step)."""
        return []

    def follows_run_length(self) -> list[str]:
        """What of the system's own training follows trainer.steps (a schedule over the whole
        run), one phrase each for the start banner's note on a resume that changes
        trainer.steps, as tricks declare theirs (`Trick.follows_run_length`); default: none.
        textgan names its Gumbel temperature when it anneals to the run's last step."""
        return []

    def export_spec(self) -> ExportSpec:
        """What `ganhub export` writes: by default every generator's weights (its EMA copy when
        there is one) and no traceable function. Noise-to-sample systems (`UnconditionalGAN`)
        and translators declare their functions; a system whose sampling needs more state
        than its generators (a tokenizer) adds it to `state`."""
        return ExportSpec(state={name: self.generator(name) for name in self.generator_names})

    # -- shared helpers ---------------------------------------------------------------

    def configure_optimizers(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Adjust the optimizers once they exist, before tricks and any resume (default: none).

        StyleGAN's lazy regularisation scales lr and betas here; a resumed run then restores
        the saved optimizer state over these values.
        """

    def resume_state(self) -> dict[str, Any]:
        """JSON-ready state of the system's own schedules, kept in each checkpoint (default: {}).

        For what the weights and optimizers do not hold: textgan keeps the plan of its Gumbel
        temperature here, so a run resumed with more `trainer.steps` anneals on from the
        temperature it had reached instead of jumping back to a hotter one.
        """
        return {}

    def load_resume_state(self, state: dict[str, Any], step: int) -> None:
        """Take back `resume_state()`'s dict on resume at `step` ({} from older checkpoints).

        A domain that counts its length in passes over the data (CycleGAN's epochs) may
        recount `config.trainer.steps` here, for a resume on other processes or batch size;
        config.yaml is written after, and a note from `before_training()` should say so.

        Raise ValueError (or KeyError/TypeError) on a damaged value: the user gets one line
        naming the checkpoint."""

    def default_metrics(self) -> list[str]:
        """Metric names evaluated when `eval.metrics` is not set."""
        return []

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimizer group: G from `generator_names`, D from `discriminator_names`."""
        groups: dict[str, list[nn.Parameter]] = {}
        for group, names in (("G", self.generator_names), ("D", self.discriminator_names)):
            groups[group] = [p for n in names for p in getattr(self, n).parameters()]
        return groups

    def generator(self, name: str | None = None, use_ema: bool = True) -> nn.Module:
        """The module to sample from (`name`, by default the first of `generator_names`: cyclegan's
        G_AB): its EMA copy when one exists and `use_ema`."""
        name = name or self.generator_names[0]
        ema = getattr(self, f"{name}_ema", None)
        return ema if (use_ema and ema is not None) else getattr(self, name)

    def discriminators(self) -> Iterator[nn.Module]:
        """Every discriminator module."""
        return (getattr(self, n) for n in self.discriminator_names)

    @property
    def device(self) -> torch.device:
        """The device of the system's first parameter (remembered until the system moves:
        walking the modules for it cost a visible share of a small model's step)."""
        device = self.__dict__.get("_device")
        if device is None:
            device = next(self.parameters()).device
            self.__dict__["_device"] = device
        return device

    def _apply(self, fn: Any, recurse: bool = True) -> GANSystem[ConfigT]:
        """`to`, `cuda`, `half`...: forget the remembered device."""
        self.__dict__.pop("_device", None)
        return super()._apply(fn, recurse)


def write_samples_of(
    system: GANSystem,
    directory: Path,
    stem: str,
    *,
    n: int | None = None,
    seed: int = 0,
    run_dir: Path | None = None,
    step: int | None = None,
) -> list[Path]:
    """`system.write_samples(directory, stem, n=, seed=)`, given `run_dir=` and `step=` where
    its signature declares them (or `**kwargs`): a method written before they existed takes
    fewer, as pluggy lets a hook implementation take fewer arguments."""
    import inspect

    given: dict[str, Any] = {"run_dir": run_dir, "step": step}
    try:
        params = list(inspect.signature(system.write_samples).parameters.values())
    except (TypeError, ValueError):  # not a Python function: called with the old keywords
        params = []
    by_name = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    named = {p.name for p in params if p.kind in by_name}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    extra = {k: v for k, v in given.items() if takes_any or k in named}
    return system.write_samples(directory, stem, n=n, seed=seed, **extra)


__all__ = [
    "BuildHints",
    "ConfigT",
    "ExportFunction",
    "ExportInput",
    "ExportSpec",
    "GANSystem",
    "Pair",
    "Phase",
    "PhaseLoss",
    "PhaseOutput",
    "write_samples_of",
]
