"""Tricks on what the discriminator sees: label smoothing, instance noise, PacGAN. The two
augmentation tricks, DiffAugment and ADA, are in `ganhub.tricks.augmenters`."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ganhub.anneal import Anchor, anneal_progress, resumed_anchor, saved_anchor
from ganhub.config.schema import RunConfig, Section
from ganhub.losses import Targets
from ganhub.plural import agreeing
from ganhub.tricks import Trick, bounded, longer_than_run

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.domain import Domain
    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import BuildHints, GANSystem, Phase

__all__ = ["InstanceNoise", "LabelSmoothing", "PacGAN", "unreached"]


class LabelSmoothingConfig(Section):
    """Options of the `label_smoothing` trick."""

    mode: Literal["one_sided", "two_sided"] = Field(
        "one_sided", description="one_sided: only the real target moves (Salimans et al. 2016)"
    )
    real: float = Field(
        0.9, description="D's target for reals, above 0, at most 1 (below 1 one_sided)"
    )
    fake: float = Field(0.1, description="target for fakes, 0 to below 1 (two_sided only, above 0)")

    @field_validator("real")
    @classmethod
    def _real_label(cls, real: float) -> float:
        why = "is past the hard real label (1)" if real > 1 else "would teach D that reals are fake"
        return bounded(real, 0 < real <= 1, why, "a target above 0, at most 1 (Salimans: 0.9)")

    @field_validator("fake")
    @classmethod
    def _fake_label(cls, fake: float) -> float:
        why = "is past the hard fake label (0)" if fake < 0 else "would teach D that fakes are real"
        return bounded(fake, 0 <= fake < 1, why, "a target from 0 to below 1 (e.g. 0.1)")

    @model_validator(mode="after")
    def _fake_moves_only_two_sided(self) -> LabelSmoothingConfig:
        default = type(self).model_fields["fake"].default
        if self.mode == "one_sided" and self.fake != default:
            raise ValueError(
                f"trick.label_smoothing.fake={self.fake} applies only with mode=two_sided "
                "(one_sided keeps the fake target); add trick.label_smoothing.mode=two_sided"
            )
        return self

    @model_validator(mode="after")
    def _moves_a_target(self) -> LabelSmoothingConfig:
        # a target left at its hard label (Targets: real 1, fake 0) smooths nothing: one_sided
        # with real=1 is a run without the trick, two_sided with fake=0 is one_sided
        hard = Targets()
        key = "trick.label_smoothing"
        if self.mode == "one_sided" and self.real == hard.real:
            raise ValueError(
                f"{key}.real={self.real:g}: the hard real label, so one_sided smoothing would "
                "change nothing: give a target below 1 (Salimans et al.: 0.9), or drop "
                "label_smoothing from tricks"
            )
        if self.mode == "two_sided" and self.fake == hard.fake:
            if self.real == hard.real:
                raise ValueError(
                    f"{key}.real={self.real:g} and fake={self.fake:g}: the hard labels, so "
                    "two_sided smoothing would change nothing: give real below 1 and fake "
                    "above 0 (e.g. real=0.9 fake=0.1), or drop label_smoothing from tricks"
                )
            raise ValueError(
                f"{key}.fake={self.fake:g}: the hard fake label, so two_sided smoothing would "
                "not move it: give a target above 0 (e.g. 0.1), or mode=one_sided, which "
                "moves the real target only"
            )
        if self.mode == "two_sided" and self.real <= self.fake:
            raise ValueError(
                f"{key}.real={self.real:g} with fake={self.fake:g}: D would be taught to score "
                "fakes at least as real as real samples: give a real target above the fake "
                "one (e.g. real=0.9 fake=0.1)"
            )
        return self


class LabelSmoothing(Trick):
    """Label smoothing: D's real target 0.9 (one-sided) and optionally fake target 0.1."""

    name = "label_smoothing"
    Config = LabelSmoothingConfig  # refused for losses without targets (uses_targets)

    def targets(self, targets: Targets) -> Targets:
        """Move the discriminator's targets; the generator's target is unchanged."""
        fake = self.options.fake if self.options.mode == "two_sided" else targets.fake
        return Targets(real=self.options.real, fake=fake, gen=targets.gen)


class InstanceNoiseConfig(Section):
    """Options of the `instance_noise` trick."""

    std: float = Field(0.1, description="noise standard deviation at step 0, above 0")
    anneal_steps: int | None = Field(
        None, description="linear decay to 0 over this many steps, above 0 (default: the whole run)"
    )

    @field_validator("anneal_steps")
    @classmethod
    def _anneals(cls, steps: int | None) -> int | None:
        why = "would anneal the noise to 0 before the first step, so D's inputs stay as they are"
        give = "steps above 0, or leave it unset (the whole run)"
        return bounded(steps, steps is None or steps > 0, why, give)

    @field_validator("std")
    @classmethod
    def _adds_noise(cls, std: float) -> float:
        why = "adds no noise, so D's inputs stay as they are" if std == 0 else "is no std"
        return bounded(std, std > 0, why, "a std above 0 (default 0.1), or drop the trick")


class InstanceNoise(Trick):
    """Instance noise (Sønderby et al. 2016): Gaussian noise on every D input, annealed to zero.

    The std a step uses is a device tensor that `after_step` fills in place for the next step,
    so a step replayed as a CUDA graph reads the annealed value, not the one it was captured
    with."""

    name = "instance_noise"
    graph_safe = True
    Config = InstanceNoiseConfig
    d_input_order = 20
    # none held yet: the first D input fills the std for its step (a start or a resume)
    std: Tensor | None = None
    held_step: int | None = None
    held_value = 0.0
    # annealing over the whole run: a resume with another trainer.steps decays on from the
    # std reached (anchor = resumed step, progress) instead of bringing the noise back
    anchor: Anchor | None = None
    last_step = 0

    def warnings(self) -> list[str]:
        """An anneal longer than the run leaves noise on D's inputs at its end."""
        end = self.std_at(self.config.trainer.steps)
        return longer_than_run(
            "trick.instance_noise.anneal_steps",
            self.options.anneal_steps,
            self.config,
            f"the noise never anneals to 0 (its std ends near {end:.3g})",
        )

    def follows_run_length(self) -> str | None:
        """Annealed over the whole run unless anneal_steps fixes its length."""
        if self.options.anneal_steps is not None:
            return None
        return "anneals on from the std it reached to 0 at the new end"

    def std_at(self, step: int) -> float:
        """Noise std after `step` steps: linear decay from `std` to 0."""
        if self.options.anneal_steps:
            return self.options.std * max(0.0, 1.0 - step / self.options.anneal_steps)
        progress = anneal_progress(step, 0, self.config.trainer.steps, self.anchor)
        return self.options.std * (1.0 - progress)

    def state_dict(self) -> dict[str, Any]:
        """The plan of the anneal: the run length, its anchor and the last step taken."""
        return {"total": self.config.trainer.steps, "anchor": self.anchor, "step": self.last_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A resumed run of another length goes on from the std it had reached."""
        step, total = int(state.get("step", 0)), int(state.get("total", self.config.trainer.steps))
        self.last_step, saved = step, saved_anchor(state.get("anchor"))
        self.anchor = resumed_anchor(step, 0, total, self.config.trainer.steps, saved)

    def _hold(self, step: int) -> None:
        """Fill the device std with step's value (in place: a captured step reads it)."""
        assert self.std is not None
        self.held_step, self.held_value = step, self.std_at(step)
        self.std.fill_(self.held_value)

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """x + sigma(step) * N(0, 1); nothing once sigma has reached 0 (it stays there). The
        noise of a batch split by trainer.grad_accum is the whole batch's (drawn once)."""
        import torch

        from ganhub.engine.draws import noise_like

        if self.std is None:
            self.std = torch.zeros((), device=x.device)
        if self.held_step != ctx.step:  # eager only: after_step keeps it current otherwise
            self._hold(ctx.step)
        if self.held_value <= 0:
            return x
        return x + self.std.to(x.dtype) * noise_like(ctx, self.name, x)

    def graph_variant(self, step: int) -> Hashable:
        """Whether the step draws noise: once the std reaches 0 the step skips it (and its
        random numbers), so a captured step with noise must not be replayed."""
        return self.std_at(step) > 0

    def after_step(self, step: int, system: GANSystem) -> None:
        """The next step's std, before it runs (replayed or not)."""
        self.last_step = step
        if self.std is not None:
            self._hold(step)


class PacGANConfig(Section):
    """Options of the `pacgan` trick."""

    pack: int = Field(2, description="samples packed into one discriminator input, at least 2")

    @field_validator("pack")
    @classmethod
    def _packs(cls, pack: int) -> int:
        why = (
            "is one sample per D input, what a run without the trick does"
            if pack == 1
            else "would pack no sample into a D input"
        )
        return bounded(
            pack, pack >= 2, why, "2 or more (PacGAN: 2 to 4), or drop pacgan from tricks"
        )


class PacGAN(Trick):
    """PacGAN (Lin et al. 2018): D judges m samples at once, which penalises mode collapse."""

    name = "pacgan"
    graph_safe = True
    packs_inputs = True  # so a class-conditional run refuses it before anything is built
    Config = PacGANConfig
    modalities = frozenset({"vector", "image", "volume"})
    d_input_order = 90  # after augmentation and noise, which act per sample

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: the domain must build packed Ds; micro-batches must divide."""
        out = super().problems(options, config, domain)
        if not domain.supports_pack:
            out.append(
                f"trick 'pacgan': domain '{config.plugin}' does not build packed discriminators"
            )
        micro = config.trainer.batch_size // config.trainer.grad_accum
        if micro % options.pack:
            out.append(
                f"trick.pacgan.pack={options.pack} must divide the micro-batch "
                f"(trainer.batch_size / trainer.grad_accum = {micro})"
            )
        return out

    def adjust_build(self, hints: BuildHints) -> None:
        """Ask the domain for a D with `pack` times the input channels."""
        hints.pack = self.options.pack

    def d_input(self, x: Tensor, ctx: TrainContext) -> Tensor:
        """(B, C, ...) -> (B / m, m * C, ...): consecutive samples stacked along channels."""
        m = self.options.pack
        return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


def unreached(
    tricks: Sequence[Trick],
    ctx: TrainContext,
    plan: Sequence[tuple[Phase, int]],
    config: RunConfig,
    warn: Callable[[str], None],
) -> None:
    """After the first step that ran a D phase (`plan`: the step's phases), `warn` once about
    what a domain bypasses when its phases call D, or compute D's loss, themselves rather than
    through the context (`ctx.d_loss`, `ctx.g_loss`, `ctx.discriminate`): the tricks on D's
    inputs (PacGAN, instance noise, DiffAugment, ADA) if no D input reached `ctx.d_input`; a
    loss other than the default, and the tricks that move the targets (label smoothing), if no
    D loss went through the run's loss (`ctx.adversarial_d_loss`, or `ctx.loss.d_loss`
    called by the phase); the targets tricks alone if no such D loss was given `ctx.targets`.
    Reads three counters the context keeps (an int increment per call); a run with nothing to
    bypass stops asking after its first step, the others after their first D phase."""
    inputs = sorted(t.name for t in tricks if t.implements("d_input"))
    targets = sorted(t.name for t in tricks if t.implements("targets"))
    losses = list(targets)
    if config.loss != type(config).model_fields["loss"].default:
        losses.insert(0, f"loss={config.loss}")
    if not (inputs or losses):  # nothing a domain could bypass: never asked again
        ctx.unchecked = False
    if not (ctx.unchecked and any(phase.group == "D" for phase, _ in plan)):
        return
    ctx.unchecked = False
    how = "route them through ctx.d_loss / ctx.g_loss, or ctx.discriminate(D, x) (docs/plugins.md)"
    where = f"domain '{config.plugin}' runs its discriminator itself"
    if inputs and not ctx.d_inputs:
        warn(
            f"ganhub: warning: {agreeing(len(inputs), 'tricks')} {', '.join(inputs)} saw no "
            f"discriminator input in the first D phase: {where}, so {_change(inputs)} nothing; "
            f"{how}"
        )
    if losses and not ctx.d_losses:
        warn(
            f"ganhub: warning: {', '.join(losses)} computed no D loss in the first D phase: "
            f"{where} and its loss, so {_change(losses)} nothing; compute it with ctx.d_loss, "
            "ctx.adversarial_d_loss or ctx.loss.d_loss(real_logits, fake_logits, ctx.targets) "
            "(docs/plugins.md)"
        )
    elif targets and not ctx.d_targets:
        warn(
            f"ganhub: warning: {agreeing(len(targets), 'tricks')} {', '.join(targets)} moved no "
            f"D target in the first D phase: domain '{config.plugin}' computes its D loss with "
            f"targets other than ctx.targets, so {_change(targets)} nothing; pass ctx.targets "
            "to ctx.loss.d_loss, or use ctx.d_loss (docs/plugins.md)"
        )


def _change(names: list[str]) -> str:
    """What the named tricks (or loss) do once a domain bypasses them: "it changes" for one,
    "they change" for several."""
    return "it changes" if len(names) == 1 else "they change"
