"""The named interfaces the cyclegan domain's systems declare in `Capabilities.provides`.

Metrics and commands written against these names work for any system that declares them (a
third-party translator included); they read the declaration, never a system's class. Each
name promises the methods below. This module imports no torch.

translate    `translate(images, direction="AtoB", use_ema=True, *, seed=0) -> Tensor`: images
             (N, C, H, W) in [-1, 1] translated without gradients, float, on the system's
             device, each image independently of the others in the call and the same on every
             call with the same seed (ganhub's systems: in eval mode, or as pix2pix's paper
             with dropout drawn from `seed`, per `model.inference`; metrics pass their seed);
             `directions` lists the directions it learned ("AtoB" is the input -> target
             direction; a CycleGAN also has "BtoA").
             Any other direction is a ValueError. `data_direction(direction)` names the
             halves of the data a direction maps, which metrics put in their keys: a
             task=paired run with data.direction=BtoA learns B -> A as its "AtoB".
cycle        both "AtoB" and "BtoA", trained as each other's inverse (cycle consistency), so
             a round trip A -> B -> A should give A back.
paired_eval  `heldout_pairs() -> (inputs, targets)`: true pairs never trained on, (N, C, H, W)
             each in [-1, 1] on the CPU, in the "AtoB" direction (the embedded data's digits;
             a paired folder's test/ or val/ pairs).
domain_eval  `eval_images(n) -> (A images, B images)`: up to `n` images of each domain, not
             paired, (N, C, H, W) in [-1, 1] on the CPU, for distribution metrics (a
             translation's FD against the target domain): held-out ones where the data has
             them (held-out pairs; testA/ and testB/), else training images, in listed order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    import torch
    from torch import Tensor

TRANSLATE = "translate"
CYCLE = "cycle"
PAIRED_EVAL = "paired_eval"
DOMAIN_EVAL = "domain_eval"

DIRECTIONS = ("AtoB", "BtoA")


class Translating(Protocol):
    """What `translate` promises (see the module doc)."""

    directions: ClassVar[tuple[str, ...]]

    @property
    def device(self) -> torch.device:
        """Where the system's weights are."""
        ...

    def translate(
        self, images: Tensor, direction: str = "AtoB", use_ema: bool = True, *, seed: int = 0
    ) -> Tensor:
        """Translate images in one of `directions` (`seed`: the dropout draws of
        model.inference=paper)."""
        ...

    def data_direction(self, direction: str) -> str:
        """The data's halves `direction` maps ("AtoB": A -> B), as metric keys name it."""
        ...


class PairedEval(Translating, Protocol):
    """What `translate` and `paired_eval` promise together (see the module doc)."""

    def heldout_pairs(self) -> tuple[Tensor, Tensor] | None:
        """True (input, target) pairs never trained on."""
        ...


class DomainEval(Translating, Protocol):
    """What `translate` and `domain_eval` promise together (see the module doc)."""

    def eval_images(self, n: int) -> tuple[Tensor, Tensor]:
        """Up to `n` images of domain A and of domain B."""
        ...


__all__ = [
    "CYCLE",
    "DIRECTIONS",
    "DOMAIN_EVAL",
    "PAIRED_EVAL",
    "TRANSLATE",
    "DomainEval",
    "PairedEval",
    "Translating",
]
