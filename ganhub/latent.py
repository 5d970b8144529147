"""The latent-space contract: what interpretation tools need from a generator.

A system that declares ``provides={"latent_space"}`` returns a :class:`LatentSpace` from
``latent_space()``. Interpretation commands (`ganhub interpret`) find directions in its codes
(SeFa reads ``projection``, GANSpace ``early_features``, boundaries fit on ``decode``'s
images), show the feature maps of ``feature_layers``, the discriminator's saliency through
``critic`` and the maps of ``attention`` modules, and never look at the system's classes.

Seeded draws (`seeded_generator`, `seeded_normal`) are what a sample of a seed is made of, in
every domain: drawn on a CPU generator and moved to the model's device, so a seed gives the same
codes on a CPU, a GPU or MPS (a device's own generator gives other numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
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


# -- seeded draws -----------------------------------------------------------------------------


def seeded_generator(seed: int) -> torch.Generator:
    """The CPU generator of a seeded draw (a sample of `seed`, in every domain)."""
    return torch.Generator().manual_seed(seed)


def seeded_normal(
    n: int,
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
) -> Tensor:
    """n codes of `shape` from N(0, I), drawn on `generator`'s device (the CPU for
    `seeded_generator`: one host-to-device copy per call) and moved to `device`: the same
    numbers whatever the model's device, and the ones an exported generator is fed
    (`torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))`)."""
    z = torch.randn((n, *shape), generator=generator, device=generator.device)
    return z.to(device)


__all__ = ["AttentionModule", "LatentSpace", "seeded_generator", "seeded_normal"]
