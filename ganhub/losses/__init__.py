"""Adversarial losses: objects with `d_loss` and `g_loss` over discriminator logits."""

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


class AdversarialLoss(ABC):
    """Base class of adversarial objectives.

    `d_loss(real, fake)` is minimised by the discriminator, `g_loss(fake, real)` by the
    generator. Logits are raw discriminator outputs of any shape (PatchGAN maps included);
    every loss averages over all elements.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Relativistic losses compare fake logits with real ones in the G step too.
    needs_real_for_g: ClassVar[bool] = False
    # Whether targets (label smoothing) mean anything for this loss.
    uses_targets: ClassVar[bool] = False

    @abstractmethod
    def d_loss(self, real: Tensor, fake: Tensor, targets: Targets = Targets()) -> Tensor:
        """Discriminator loss on real and fake logits."""

    def decision_threshold(self, targets: Targets = Targets()) -> float | None:
        """The logit above which D calls a sample real; None where that means nothing (WGAN)."""
        return None

    @abstractmethod
    def g_loss(
        self, fake: Tensor, real: Tensor | None = None, targets: Targets = Targets()
    ) -> Tensor:
        """Generator loss on fake logits (and real logits for relativistic losses)."""


__all__ = ["AdversarialLoss", "Targets"]
