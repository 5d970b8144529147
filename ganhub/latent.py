"""The latent-space contract: what interpretation tools need from a generator.

A system that declares ``provides={"latent_space"}`` returns a :class:`LatentSpace` from
``latent_space()``. Interpretation commands (`ganhub interpret`) find directions in its codes
(SeFa reads ``projection``, GANSpace ``early_features``, boundaries fit on ``decode``'s
images), show the feature maps of ``feature_layers``, the discriminator's saliency through
``critic`` and the maps of ``attention`` modules, and never look at the system's classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from torch import Tensor, nn


@runtime_checkable
class AttentionModule(Protocol):
    """A module whose attention weights can be read for its input."""

    def attention_map(self, x: Tensor) -> Tensor:
        """The attention weights for input `x`: (B, queries, keys), each row sums to 1."""
        ...


@dataclass
class LatentSpace:
    """A generator's code space and the parts of G and D that interpretation looks at.

    name            "z" (the noise itself) or "w" (an intermediate space, StyleGAN's)
    dim             the codes' dimension
    sample          (n, seed) -> n codes (n, dim) distributed as the generator sees them
    decode          codes (n, dim) -> images in [-1, 1], without gradients
    projection      the weight matrix (out, dim) of the first layer(s) that read the codes,
                    for SeFa (Shen & Zhou 2021); None when the codes are not read linearly
    early_features  codes -> (n, F) activations of an early layer, for GANSpace on a z space
                    (Härkönen et al. 2020 take PCA there and regress back to z); None: PCA of
                    the codes themselves (a w space)
    feature_layers  (name, module) pairs of G whose outputs are feature maps (B, C, H, W),
                    in forward order
    critic          images -> one discriminator score per image (differentiable, for saliency)
    attention       (name, module) pairs of G and D with attention weights to show
    """

    name: str
    dim: int
    sample: Callable[[int, int], Tensor]
    decode: Callable[[Tensor], Tensor]
    projection: Tensor | None = None
    early_features: Callable[[Tensor], Tensor] | None = None
    feature_layers: list[tuple[str, nn.Module]] = field(default_factory=list)
    critic: Callable[[Tensor], Tensor] | None = None
    attention: list[tuple[str, AttentionModule]] = field(default_factory=list)


__all__ = ["AttentionModule", "LatentSpace"]
