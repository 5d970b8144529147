"""AC-GAN's auxiliary classifier (Odena et al. 2017) as a trick usable with any adversarial loss.

The discriminator of a conditional run gets a class head on its features (the wrapper
builds it because this trick asks for it in `adjust_build`). D learns to classify real samples
(and, with `fake_in_d`, fakes, as in the paper); G learns to make fakes D classifies as the
class they were drawn for. The head's outputs come from the same D forward as the adversarial
logits (`PhaseOutput.aux`), so the trick costs one linear layer, not another D pass.

With `twin` (TAC-GAN, Gong et al. 2019) D gets a second class head that learns to classify
the fakes by the class they were drawn for, and G's class loss subtracts that head's
cross-entropy. AC-GAN alone maximises the class head's confidence, which pulls each class's
samples toward the ones easiest to classify (the paper shows it minimises an entropy term
along with the divergence); the twin's term cancels that pull, so G matches the data's
class-conditional distribution and keeps its variety. It costs one more linear layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ganhub.config.schema import RunConfig, Section
from ganhub.errors import ConfigError
from ganhub.tricks import Trick, bounded

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.conditioning import LabelSpec
    from ganhub.domain import Domain
    from ganhub.engine.context import TrainContext
    from ganhub.engine.system import BuildHints, Phase, PhaseOutput


class ACGANConfig(Section):
    """Options of the `acgan` trick."""

    weight_d: float = Field(1.0, description="weight of D's classification loss, 0 or more")
    weight_g: float = Field(1.0, description="weight of G's classification loss, 0 or more")
    fake_in_d: bool = Field(
        False,
        description="D also classifies fakes by their drawn class (the paper); off by default, "
        "as in later work, because it rewards D for easy-to-classify fakes",
    )
    twin: bool = Field(
        False,
        description="TAC-GAN: a twin class head trained on fakes, whose cross-entropy G's class "
        "loss subtracts (keeps each class's samples varied)",
    )

    @field_validator("weight_d", "weight_g")
    @classmethod
    def _weighs(cls, weight: float, info: ValidationInfo) -> float:
        side = "D" if info.field_name == "weight_d" else "G"
        why = f"would reward {side}'s class errors, not penalise them"
        return bounded(weight, weight >= 0, why, "a weight of 0 or more (default 1)")

    @model_validator(mode="after")
    def _weighs_something(self) -> ACGANConfig:
        # both terms at 0: the class head would be built and trained by nothing
        if self.weight_d == 0 and self.weight_g == 0:
            raise ValueError(
                "trick.acgan.weight_d=0 and trick.acgan.weight_g=0 weigh both class losses at 0, "
                "so the trick does nothing: give either a weight above 0 or drop the trick"
            )
        return self


class ACGAN(Trick):
    """Auxiliary classifier on D (AC-GAN): class cross-entropy for D on reals, for G on fakes."""

    name = "acgan"
    graph_safe = True
    auxiliary_task = True  # its term is a task's loss, which task_relations relates
    description = "AC-GAN: a class head on D; D classifies reals, G makes fakes of their class"
    Config = ACGANConfig
    modalities = frozenset({"image", "volume"})  # the modalities with conditional domains

    def __init__(self, options: Section, config: RunConfig) -> None:
        super().__init__(options, config)
        self.labels: LabelSpec | None = None

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: the run must be conditional."""
        out = super().problems(options, config, domain)
        if domain.conditioning(config) is None:
            out.append(
                "trick 'acgan' needs a class-conditional run (model.conditional=true on "
                "labelled data)"
            )
        return out

    def adjust_build(self, hints: BuildHints) -> None:
        """Ask the conditional discriminator for a class head (one output per class)."""
        if hints.condition is None:
            raise ConfigError("trick 'acgan' needs a class-conditional run")
        self.labels = hints.condition.labels
        hints.condition.heads["class"] = sum(self.labels.sizes)
        hints.condition.class_heads.append("class")  # with condition=none: D's only class signal
        if self.options.twin:
            hints.condition.heads["twin"] = sum(self.labels.sizes)
            hints.condition.class_heads.append("twin")

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: TrainContext) -> Tensor | None:
        """D phases: cross-entropy on reals (and fakes; the twin head's on fakes); G phases: on
        fakes (minus the twin head's)."""
        from ganhub.conditioning.nets import label_cross_entropy

        labels = out.aux.get("labels")
        if labels is None or self.labels is None:
            return None
        o = self.options
        if phase.group == "D" and "class_real" in out.aux:
            loss = label_cross_entropy(out.aux["class_real"], labels, self.labels)
            if o.fake_in_d:
                loss = loss + label_cross_entropy(out.aux["class_fake"], labels, self.labels)
            out.stats["acgan_D"] = loss.detach()
            if o.twin:
                twin = label_cross_entropy(out.aux["twin_fake"], labels, self.labels)
                out.stats["acgan_twin_D"] = twin.detach()
                loss = loss + twin
            return loss * o.weight_d
        if phase.group == "G" and "class_fake" in out.aux:
            loss = label_cross_entropy(out.aux["class_fake"], labels, self.labels)
            out.stats["acgan_G"] = loss.detach()
            if o.twin:
                loss = loss - label_cross_entropy(out.aux["twin_fake"], labels, self.labels)
            return loss * o.weight_g
        return None
