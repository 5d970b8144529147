"""Multi-task discriminators: one shared trunk, the adversarial output and auxiliary heads.

A head is a linear layer on D's flattened features, asked for by a trick before the models
exist (`BuildHints.add_head` in `adjust_build`) and trained by the same trick's `extra_loss`.
An unconditional domain wraps its discriminator once the hints are final:

    D = with_heads(D, hints.heads)   # D offers features(x), head(h) and feature_dim

A conditional run's heads live on its conditional discriminator (`hints.condition.heads`,
`ganhub.conditioning.nets`), which `add_head` routes to, so a head trick works on both.

Every forward computes the trunk once and keeps the heads' outputs (`aux`), so the phase's
own D passes hand them to the tricks (`PhaseOutput.aux`: `<head>_real`, `<head>_fake`)
without another D pass; a trick that needs a head on other inputs (SSGAN's rotated images)
calls `head_logits`. The heads' weights are D's: the D optimizer, spectral norm, weight
init, checkpoints and distributed averaging treat them as any other D layer.

Wrapping renames the trunk's tensors: `D.0.weight` of a run without heads is `D.net.0.weight`
of one with them (`trunk_prefix`), which `init_from` maps in both directions, so adding or
dropping a head trick between a source run and its fine-tuning keeps the trained trunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from torch import Tensor, nn

from ganhub.conditioning.nets import (
    ConditionalDiscriminator,
    FeatureDiscriminator,
    LabelledDiscriminator,
    flat,
)
from ganhub.errors import ConfigError


class HeadedDiscriminator(nn.Module):
    """An unconditional D with auxiliary heads: `D(x)` is the adversarial logits, and `aux`
    the heads' outputs ({name: (B, outputs)}) of the last forward."""

    def __init__(self, net: nn.Module, heads: dict[str, int]) -> None:
        super().__init__()
        self.net = net
        dim = cast(FeatureDiscriminator, net).feature_dim
        self.heads = nn.ModuleDict({k: nn.Linear(dim, n) for k, n in heads.items()})
        self.aux: dict[str, Tensor] = {}

    @property
    def feature_dim(self) -> int:
        """The size of the flattened features the heads read."""
        return cast(FeatureDiscriminator, self.net).feature_dim

    def features(self, x: Tensor) -> Tensor:
        """The trunk's features of `x` (the wrapped network's)."""
        out: Tensor = cast(FeatureDiscriminator, self.net).features(x)
        return out

    def head(self, h: Tensor) -> Tensor:
        """The adversarial logit from the features."""
        out: Tensor = cast(FeatureDiscriminator, self.net).head(h)
        return out

    def outputs(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The adversarial logits and every head's outputs, from one trunk pass."""
        h = self.features(x)
        return self.head(h), {name: head(flat(h)) for name, head in self.heads.items()}

    def forward(self, x: Tensor) -> Tensor:
        """One logit per sample; the heads' outputs go to `aux`."""
        logits, self.aux = self.outputs(x)
        return logits


def with_heads(discriminator: nn.Module, heads: dict[str, int]) -> nn.Module:
    """`discriminator` with the asked-for heads (itself when none were asked for, so a run
    without head tricks builds exactly the modules it did before heads existed)."""
    return HeadedDiscriminator(discriminator, heads) if heads else discriminator


# where a HeadedDiscriminator keeps its trunk (`net`) and its heads in its state dict
TRUNK, HEADS = "net.", "heads."


def trunk_prefix(discriminator: nn.Module) -> str | None:
    """Where the trunk's tensors sit in `discriminator`'s state dict: `net.` when `with_heads`
    wrapped it, '' when it returned it as built; None for a conditional discriminator, whose
    names do not depend on its heads (they are its own from the start)."""
    if isinstance(discriminator, HeadedDiscriminator):
        return TRUNK
    if isinstance(unbound(discriminator), ConditionalDiscriminator):
        return None
    return ""


def saved_trunk_prefix(names: Iterable[str]) -> str | None:
    """`trunk_prefix` of the unconditional discriminator a checkpoint's tensor `names` (relative
    to it: `0.weight`) were saved from: `net.` when they are a HeadedDiscriminator's (each under
    its trunk or its heads, one at least under the heads), '' when none is under either (a
    discriminator as built); None otherwise (a conditional one, whose trunk is `net.` too)."""
    names = list(names)
    under = [n.startswith((TRUNK, HEADS)) for n in names]
    if names and all(under) and any(n.startswith(HEADS) for n in names):
        return TRUNK
    return "" if not any(under) else None


def unbound(discriminator: nn.Module) -> nn.Module:
    """The discriminator itself, without the labels a conditional one is bound to (`given`)."""
    return (
        discriminator.inner if isinstance(discriminator, LabelledDiscriminator) else discriminator
    )


def bound_labels(discriminator: nn.Module) -> Tensor | None:
    """The labels a conditional discriminator is bound to; None for an unconditional one."""
    return discriminator.labels if isinstance(discriminator, LabelledDiscriminator) else None


def heads_of(discriminator: nn.Module) -> nn.ModuleDict | None:
    """The auxiliary heads of a (bound) discriminator, or None when it has none."""
    discriminator = unbound(discriminator)
    if isinstance(discriminator, HeadedDiscriminator | ConditionalDiscriminator):
        return discriminator.heads
    return None


def headed_discriminator(
    discriminators: list[nn.Module], name: str, trick: str, domain: str = ""
) -> nn.Module:
    """The one discriminator that carries head `name` (what a head trick trains), or a
    one-line config error naming the `domain` when it built none (it does not read
    `BuildHints.heads`: of the built-in domains, cyclegan and medgan)."""
    found = [d for d in discriminators if name in (heads_of(d) or {})]
    if len(found) != 1:
        run = f"this '{domain}' run" if domain else "this run"
        raise ConfigError(
            f"trick '{trick}' needs one discriminator with a '{name}' head, and {run} built "
            f"{len(found)}: of the built-in domains dcgan and stylegan build heads (a domain "
            f"builds those BuildHints.heads asks for); train one of them or drop the trick"
        )
    return found[0]


def head_logits(
    discriminator: nn.Module, name: str, x: Tensor, labels: Tensor | None = None
) -> Tensor:
    """Head `name`'s outputs on `x` from one trunk pass, without the adversarial output and
    without the D-input tricks; a conditional discriminator needs the samples' `labels`."""
    discriminator = unbound(discriminator)
    if isinstance(discriminator, ConditionalDiscriminator):
        if labels is None:
            raise ValueError(f"head '{name}' of a conditional discriminator needs labels")
        h = discriminator.features(x, labels)
    elif isinstance(discriminator, HeadedDiscriminator):
        h = discriminator.features(x)
    else:
        raise ValueError(f"{type(discriminator).__name__} has no auxiliary heads")
    out: Tensor = discriminator.heads[name](flat(h))
    return out


__all__ = [
    "HeadedDiscriminator",
    "bound_labels",
    "head_logits",
    "headed_discriminator",
    "heads_of",
    "saved_trunk_prefix",
    "trunk_prefix",
    "unbound",
    "with_heads",
]
