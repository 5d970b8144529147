"""Adversarial losses: objects with `d_loss` and `g_loss` over discriminator logits.

`d_loss` takes optional per-sample weights of the real samples (`real_weight`): tricks that
correct a biased data set (`real_batch`, e.g. importance weighting toward a reference set) pass
them, and every loss weights its real term with them, normalised to mean 1 over the batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class Targets:
    """Label targets for losses that regress or classify (BCE, least squares).

    `real`/`fake` are the discriminator's targets (label smoothing moves them); `gen` is the
    target the generator pushes fakes toward (LSGAN's c).
    """

    real: float = 1.0
    fake: float = 0.0
    gen: float = 1.0


def real_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    """The mean of per-element real-sample values, each sample weighted by `weight` (B,)
    normalised to mean 1 (None: the plain mean). Values are (B, ...): logit maps included."""
    if weight is None:
        return values.mean()
    w = weight.to(values.dtype)
    # mean-1 weights keep the term's scale (and so the learning rate's meaning) unchanged
    w = (w / w.mean()).reshape(-1, *([1] * (values.ndim - 1)))
    return (values * w).mean()


class AdversarialLoss(ABC):
    """Base class of adversarial objectives.

    `d_loss(real, fake)` is minimised by the discriminator, `g_loss(fake, real)` by the
    generator. Logits are raw discriminator outputs of any shape (PatchGAN maps included);
    every loss averages over all elements. `real_weight` (B,), when given, weights each real
    sample's term (`real_mean`): uniform weights give the unweighted loss, and a zero weight
    removes a sample as if it were not in the batch.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Relativistic losses compare fake logits with real ones in the G step too.
    needs_real_for_g: ClassVar[bool] = False
    # Whether targets (label smoothing) mean anything for this loss.
    uses_targets: ClassVar[bool] = False
    # A critic loss (WGAN's) that is meaningful only for a Lipschitz D: a run warns when no
    # trick bounds D (`Trick.constrains_d`).
    needs_lipschitz_d: ClassVar[bool] = False

    @abstractmethod
    def d_loss(
        self,
        real: Tensor,
        fake: Tensor,
        targets: Targets = Targets(),
        real_weight: Tensor | None = None,
    ) -> Tensor:
        """Discriminator loss on real and fake logits (real samples weighted by `real_weight`)."""

    def decision_threshold(self, targets: Targets = Targets()) -> float | None:
        """The logit above which D calls a sample real; None where that means nothing (WGAN)."""
        return None

    @abstractmethod
    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """Generator loss on fake logits (and real logits for relativistic losses)."""


__all__ = ["AdversarialLoss", "Targets", "real_mean"]
