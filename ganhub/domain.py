"""The domain interface: what a domain plugin registers with `register_domains`.

A domain is cheap to import and to register: its module must not import heavy optional
packages at the top (monai, transformers, optuna). `build` is where those imports happen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub.conditioning import ConditionRequest
    from ganhub.config.schema import RunConfig
    from ganhub.data.inspect import DataReport
    from ganhub.engine.system import BuildHints, GANSystem, Phase


class Domain(ABC):
    """A trainable family of GANs: config class, presets, and a factory for its `GANSystem`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # vector | image | volume | tokens; tricks declare which of these they apply to. "image"
    # when a domain sets none; a run refuses a domain whose systems declare another
    # (`modality_mismatch`).
    modality: ClassVar[str] = "image"
    # Whether `build` honours `BuildHints.pack` (PacGAN's wider discriminator input); a run
    # names the domain when its discriminator then fails on a packed input (`guard_packed`).
    supports_pack: ClassVar[bool] = False
    # Named override sets: `preset=small` merges presets["small"] under the user's overrides.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # Architecture search space (`ganhub tune space=arch`): dotted config keys of G/D structure
    # (depth, width, normalisation, activation, attention, residual) mapped to distributions,
    # e.g. {"model.g_layers": {"type": "int", "low": 2, "high": 5}}. Empty: no arch search.
    arch_space: ClassVar[dict[str, Any]] = {}
    # Config overrides that build the weight-sharing supernet of `arch_space` (`ganhub.nas`;
    # `ganhub tune sampler=oneshot`), e.g. {"model.supernet": True}; its system declares
    # `provides={"supernet"}`. Empty: no one-shot search.
    supernet: ClassVar[dict[str, Any]] = {}
    # Keys of earlier releases, refused with one line saying what to write instead (they are
    # never translated silently). "old.key" -> "new.key" is a rename; "section.*" ->
    # "other.section.*" moves a whole section; any value with a space is the sentence to show
    # (a removed key: "was removed: use tricks=[n_critic]"). Exact keys are matched first.
    renamed_keys: ClassVar[dict[str, str]] = {}
    # Dotted keys a resumed run cannot change: another value makes it another model trained
    # on from these weights (medgan's `task`: a translator resumed as a follow-up predictor).
    # `resume=RUN key=other` is refused naming the saved value; a new run with `init_from=RUN`
    # starts from the weights instead.
    resume_fixed_keys: ClassVar[tuple[str, ...]] = ()

    @property
    @abstractmethod
    def config_class(self) -> type[RunConfig]:
        """The pydantic model (a `RunConfig` subclass) that validates this domain's runs."""

    @abstractmethod
    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """Build the models and data for a validated config (random init, nothing downloaded)."""

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """Defaults that depend on the user's choices (e.g. per-task step counts); {} if none.

        `chosen` is the preset merged with the user's keys. The result is layered above the
        config class's defaults and below the preset and the user's keys, so anything the user
        or the preset sets still wins.
        """
        return {}

    def resume_value(self, config: RunConfig, key: str) -> Any:
        """What dotted `key`, one of `resume_fixed_keys` (or the seed, the conditioning keys),
        resolves to for the model a run of the validated `config` trains; None where nothing
        reads it. A resume compares these, not the values as typed: a key typed as the value
        the run resolved it to (cyclegan's model.norm=instance for its default `auto` on an
        unpaired run) resumes, and one nothing reads is left to `check` to name. Default: the
        value as config.yaml holds it; override it for a key whose default is resolved (an
        `auto`, a None derived from another key) or read by some tasks only."""
        found: Any = config.model_dump(mode="json")
        for part in key.split("."):
            if not isinstance(found, dict) or part not in found:
                return None
            found = found[part]
        return found

    def modality_for(self, config: RunConfig) -> str:
        """The modality a run of this config trains on (default: the class's `modality`);
        tricks that suit some modalities only are checked against it."""
        return self.modality

    def check(self, config: RunConfig) -> list[str]:
        """Domain-specific problems with a validated config (empty when fine)."""
        return []

    def warnings(self, config: RunConfig) -> list[str]:
        """Warnings about a validated config that `check` does not refuse, one line each (a
        key this run does not read, a value that works but is rarely meant); [] when none.
        `ganhub run` prints them before its start banner and `ganhub config` on stderr, both
        from this one method, so it reads the config only (nothing is built or loaded). Warn
        only about what the user chose: `ganhub.config.given.chosen_by_user(config, key,
        preset)` tells a user's value from a default, a preset's or `defaults_for`'s."""
        return []

    def conditioning(self, config: RunConfig) -> ConditionRequest | None:
        """The labels and mechanisms of a class-conditional run of this config; None (the
        default) for an unconditional one. The wiring resolves the mechanisms by name and hands
        them to `build` as `hints.condition` (see `ganhub.conditioning`)."""
        return None

    # -- data (`ganhub data check | clean | convert`) --------------------------------------

    def inspect_data(self, config: RunConfig) -> DataReport:
        """Check the data `config` trains on. The default builds the system and checks the
        samples its data source gives (NaN/Inf, constant samples, duplicates); domains that
        read files override it to check each file (unreadable, bit depth, sizes...)."""
        from ganhub.data.inspect import DataReport, inspect_samples
        from ganhub.engine.system import BuildHints

        source = self.build(config, BuildHints()).data()
        import torch

        samples = source.gather(torch.arange(len(source)))
        modality = self.modality_for(config)
        report = DataReport(f"{config.plugin} data", f"{modality} samples")
        inspect_samples(report, samples, images=modality in ("image", "volume"))
        return report

    def cleaned_copy_files(
        self, config: RunConfig, data: Path, kept: list[str]
    ) -> dict[str, bytes]:
        """Files a cleaned copy of `data` (`ganhub data clean --out`) needs beside the `kept`
        items (named as the check names them) so a run trains on it as on `data`: name in the
        copy -> bytes, e.g. a labels file holding the kept items' rows only. For a text file
        `data` (items `FILE:LINE`), an entry under `data.name` is the copy itself, written
        instead of the kept lines' bytes (the lines as the loader reads them). Default: none."""
        return {}

    def refuse_labelled(self, config: RunConfig, fmt: str) -> None:
        """Refuse converting a class-conditional config to `fmt`, a format that holds samples
        without labels (a shard, a zip of images): the labels would be dropped without a word."""
        from ganhub.errors import UsageError

        if self.conditioning(config) is not None:
            raise UsageError(
                f"--to {fmt}: the {fmt} holds the samples without their labels; convert "
                "without model.conditional=true, and train a conditional run on the folder itself"
            )

    def data_formats(self, config: RunConfig) -> tuple[str, ...]:
        """The formats `ganhub data convert --to` writes for `config`. The engine checks a
        shard's --out before the domain decodes anything, and only where "shard" is listed:
        another format is refused by `convert_data` in the domain's words. Default: shard,
        where the config reads data.path."""
        return ("shard",) if reads_data_path(type(config)) else ()

    def convert_data(self, config: RunConfig, fmt: str, out: Path) -> list[Path]:
        """Write the data `config` trains on in another format (`ganhub data convert`).
        The default writes the decoded samples as a tensor shard (`fmt="shard"`), each once,
        without the files `data.skip_bad` skips; domains add formats (a zip of images,
        resampled volumes, tokenised text)."""
        from ganhub.data.shards import write_shard
        from ganhub.engine.system import BuildHints
        from ganhub.errors import UsageError

        if fmt != "shard":
            raise UsageError(f"--to {fmt}: domain '{config.plugin}' converts to: shard")
        if not reads_data_path(type(config)):  # a shard it could never be pointed at
            raise UsageError(
                f"--to {fmt}: domain '{config.plugin}' has no data.path key to read a shard "
                "back from; it trains on data it makes itself (its data.* keys), so there is "
                "nothing to convert"
            )
        self.refuse_labelled(config, fmt)
        source = self.build(config, BuildHints()).data()
        import torch

        samples = source.gather(torch.arange(len(source)))
        skipped = source.stood_in_rows()  # data.skip_bad: a stand-in decoded in their place
        if skipped:
            samples = samples[[i for i in range(len(samples)) if i not in skipped]]
        data = config.model_dump(mode="json").get("data")
        return write_shard(out, samples, {"plugin": config.plugin, "data": data})


def reads_data_path(config_class: type[RunConfig]) -> bool:
    """Whether a domain's config has a `data.path` key: where its runs read a data folder,
    zip or shard from. Without one it trains on data it makes itself (toy2d's mixtures), and
    `ganhub data` has no folder to check or convert. A `data` section of a type that is not
    one config class (a union) is taken to have one: its validation decides."""
    field = config_class.model_fields.get("data")
    section = field.annotation if field is not None else None
    fields = getattr(section, "model_fields", None) if isinstance(section, type) else None
    if not isinstance(fields, dict):
        return field is not None and section is not None
    return "path" in fields


# -- what a run checks of a domain's declarations -----------------------------------------

# what `GANSystem.data()` must return, as a run that got something else says
BATCH_SOURCE = "a ganhub.data.BatchSource: return TensorBatches(tensor) (or LoaderBatches(dataset))"


def check_declarations(
    domain: Domain, config: RunConfig, system: GANSystem, phases: list[Phase], hint: str
) -> None:
    """At run creation, before the run directory exists: refuse a domain whose modality
    disagrees with its system's declaration (`modality_mismatch`, one PluginError line), and
    name the domain if its discriminator fails on a packed input (`guard_packed`)."""
    from ganhub.capabilities import Capabilities
    from ganhub.errors import PluginError, plugin_code

    with plugin_code(f"domain '{config.plugin}': its capabilities()", hint):
        caps = system.capabilities()
    if isinstance(caps, Capabilities):  # else check_domain names what it returned
        problem = modality_mismatch(domain, config, caps.modality)
        if problem is not None:
            raise PluginError(problem)
    guard_packed(system, phases, config.plugin, hint)


def modality_mismatch(domain: Domain, config: RunConfig, declared: str) -> str | None:
    """The one line that refuses a run whose domain says one modality (`Domain.modality`, or
    its `modality_for(config)`) while its system's `capabilities()` declare another
    (`declared`): tricks and data checks read the domain's, metrics the system's. None when
    they agree."""
    said = domain.modality_for(config)
    if said == declared:
        return None
    name = config.plugin
    if type(domain).modality_for is not Domain.modality_for:
        return (
            f"domain '{name}': its modality_for(config) gives \"{said}\" but its system's "
            f'capabilities() declare "{declared}"; make modality_for return "{declared}"'
        )
    default = not any("modality" in vars(c) for c in type(domain).__mro__ if c is not Domain)
    what = "the default, as the Domain class sets none" if default else "set on the Domain class"
    return (
        f"domain '{name}': its modality is \"{said}\" ({what}) but its system's "
        f'capabilities() declare "{declared}"; set `modality = "{declared}"` on the Domain '
        "class (tricks and `ganhub data` read it)"
    )


def guard_packed(system: GANSystem, phases: list[Phase], plugin: str, hint: str) -> None:
    """With a packed discriminator input (`system.hints.pack` > 1: tricks=[pacgan]), an
    exception raised inside a discriminator's forward is the domain's: each phase's loss is
    wrapped so that it becomes one PluginError line naming the domain, `supports_pack` and
    `hints.pack` (a try block: nothing is done or built until something raises)."""
    pack = system.hints.pack  # GANSystem.__init__ sets hints
    if pack < 2:
        return
    for phase in phases:
        phase.loss = _packed_loss(phase.loss, system, pack, plugin, hint)


def _packed_loss(loss: Any, system: GANSystem, pack: int, plugin: str, hint: str) -> Any:
    from ganhub.errors import GanhubError, PluginError

    def guarded(batch: Any, ctx: Any) -> Any:
        seen = ctx.d_inputs  # D inputs packed so far (`TrainContext.d_input` counts them)
        try:
            return loss(batch, ctx)
        except GanhubError:
            raise
        except Exception as exc:
            if not raised_in_discriminator(exc, system):
                raise
            reason = (str(exc).strip().splitlines() or [""])[0][:200]
            if ctx.d_inputs == seen:  # D ran on an input that never went through the context
                raise PluginError(
                    f"domain '{plugin}': its discriminator failed with {type(exc).__name__}: "
                    f"{reason}; tricks=[pacgan] widened D for hints.pack={pack} samples, but the "
                    "phase ran D itself, so no input was packed: run D through ctx.d_loss / "
                    f"ctx.g_loss or ctx.discriminate(D, x) ({hint})"
                ) from exc
            raise PluginError(
                f"domain '{plugin}': its discriminator failed on a packed input (hints.pack="
                f"{pack}, tricks=[pacgan]) with {type(exc).__name__}: {reason}; the domain "
                "declares supports_pack = True, so its build() must make D take hints.pack "
                f"samples at once (e.g. {pack} times the input features or channels) ({hint}; "
                "GANHUB_DEBUG=1 shows the traceback)"
            ) from exc

    return guarded


def raised_in_discriminator(exc: BaseException, system: GANSystem) -> bool:
    """Whether `exc` was raised inside the forward of a discriminator (or of one of its
    layers) of `system`: a frame on its traceback belongs to one of their modules."""
    modules = {id(m) for d in system.discriminators() for m in d.modules()}
    tb = exc.__traceback__
    while tb is not None:
        if id(tb.tb_frame.f_locals.get("self")) in modules:
            return True
        tb = tb.tb_next
    return False


__all__ = ["BATCH_SOURCE", "Domain", "check_declarations", "guard_packed", "modality_mismatch", "raised_in_discriminator", "reads_data_path"]  # fmt: skip
