"""The built-in conditioning mechanisms, registered through `register_conditioners`."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ganhub.conditioning import Condition, Conditioner, LabelSpec, Side
from ganhub.errors import ConfigError
from ganhub.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from torch import nn


class ConcatConditioner(Conditioner):
    """cGAN (Mirza & Osindero 2014): a label embedding concatenated to z."""

    name = "concat"
    side: ClassVar[Side] = "generator"

    def inputs(self, labels: LabelSpec, embed_dim: int) -> int:
        """As many dimensions as a one-hot code (classes summed over factors), at most
        embed_dim: a wider embedding outweighs z, and G learns to ignore the noise (on the
        digits, 64 dimensions gave one image per class; benchmarks/conditional.py)."""
        return min(sum(labels.sizes), embed_dim)

    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """G(cat(z, embed(y)))."""
        from ganhub.conditioning.nets import ConcatLabels

        dim = self.inputs(condition.labels, condition.embed_dim)
        return ConcatLabels(net, condition.labels, dim)


class MappingConditioner(ConcatConditioner):
    """StyleGAN2-ADA: normalised z and normalised label embedding into the mapping network."""

    name = "mapping"
    needs = "mapping"
    needs_text = "a mapping network (StyleGAN's: z and the label are normalised into it)"

    def inputs(self, labels: LabelSpec, embed_dim: int) -> int:
        """The embedding's full size (`condition.embed_dim`): both parts are normalised to unit
        second moment, so each counts by its width; NVIDIA's is w_dim wide (half the input)."""
        return embed_dim

    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """net(cat(norm(z), norm(embed(y))))."""
        from ganhub.conditioning.nets import MappingLabels

        return MappingLabels(net, condition.labels, condition.embed_dim)


class CBNConditioner(Conditioner):
    """BigGAN-style conditional BatchNorm from one shared label embedding."""

    name = "cbn"
    side: ClassVar[Side] = "generator"
    needs = "batchnorm"
    needs_text = "BatchNorm layers"

    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """Every BatchNorm2d of G conditioned on the label."""
        from ganhub.conditioning.nets import CBNLabels

        try:
            return CBNLabels(net, condition.labels, condition.embed_dim)
        except ValueError:
            raise ConfigError(
                "condition.generator=cbn: this generator has no BatchNorm layers to condition "
                "(use condition.generator=concat, or mapping)"
            ) from None


class ProjectionConditioner(Conditioner):
    """Projection discriminator (Miyato & Koyama 2018): <embed(y), features> added to the logit."""

    name = "projection"
    side: ClassVar[Side] = "discriminator"

    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """head(h) + <embed(y), h> (h: the features D's last linear layer reads)."""
        from ganhub.conditioning.nets import ProjectionD

        return ProjectionD(net, condition)


class InputConcatConditioner(Conditioner):
    """cGAN's discriminator: learned label maps concatenated to the image channels."""

    name = "input_concat"
    side: ClassVar[Side] = "discriminator"
    labelled_features = True

    def inputs(self, labels: LabelSpec, embed_dim: int) -> int:
        """As many channels as classes (summed over factors), at most embed_dim."""
        return min(sum(labels.sizes), embed_dim)

    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """D(cat(x, maps(y)))."""
        from ganhub.conditioning.nets import InputConcatD

        channels = self.inputs(condition.labels, condition.embed_dim)
        return InputConcatD(net, condition, channels)


class NoConditioner(Conditioner):
    """An unconditioned discriminator (AC-GAN: its class head, tricks=[acgan], conditions it)."""

    name = "none"
    side: ClassVar[Side] = "discriminator"
    shows_label = False

    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """The network with any auxiliary heads."""
        from ganhub.conditioning.nets import PlainD

        return PlainD(net, condition)


BUILTIN_CONDITIONERS: tuple[Conditioner, ...] = (
    ConcatConditioner(),
    CBNConditioner(),
    MappingConditioner(),
    ProjectionConditioner(),
    InputConcatConditioner(),
    NoConditioner(),
)


@hookimpl
def register_conditioners(register: Register) -> None:
    """Register the built-in conditioning mechanisms."""
    for conditioner in BUILTIN_CONDITIONERS:
        register(conditioner.name, conditioner)
