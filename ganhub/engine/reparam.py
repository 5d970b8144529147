"""Weights across a spectral-norm parametrisation, for `init_from`.

`tricks=[spectral_norm]` stores a layer's weight as `X.parametrizations.weight.original` with
the power-iteration vectors `X.parametrizations.weight.0._u` / `._v`; a run without it stores
`X.weight`. Fine-tuning often adds or drops spectral normalisation on D, so `init_from` converts
between the two layouts instead of leaving those layers at their random init:

- plain -> spectral norm: the source weight becomes `original` and u, v are recomputed from it
  by power iteration, so the first forward divides by the loaded weight's spectral norm, not a
  random matrix's. It runs 200 iterations where torch's registration runs 15: a trained layer's
  top singular values lie close together, 15 leave sigma several per cent low, and the one
  matrix-vector pair per iteration costs nothing once per run. The layer then
  computes W / sigma(W): the same direction, a different scale, which adding the constraint
  implies.
- spectral norm -> plain: the weight the source layer computed, `original / sigma` with sigma
  from its saved u, v exactly as torch's forward in eval mode, so the layer's function is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

ORIGINAL = ".parametrizations.weight.original"
VECTORS = (".parametrizations.weight.0._u", ".parametrizations.weight.0._v")
_POWER_ITERATIONS = 200  # torch registers with 15; see above


class Converted:
    """Source tensors renamed into this model's spectral-norm layout."""

    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}  # this model's name -> the converted tensor
        self.used: set[str] = set()  # the source names the conversion read
        self.refresh: list[str] = []  # layers whose u, v must follow the loaded weight


def spectral_layout(saved: Mapping[str, Tensor], own: Iterable[str], model: nn.Module) -> Converted:
    """The tensors of `saved` that fit the names in `own` once spectral norm is added or
    removed (names `saved` has already are left to the caller)."""
    converted = Converted()
    for name in own:
        if name in saved:
            continue
        if name.endswith(ORIGINAL):  # this layer is normalised, the source's is not
            prefix = name.removesuffix(ORIGINAL)
            plain = f"{prefix}.weight"
            if plain in saved:
                converted.tensors[name] = saved[plain]
                converted.used.add(plain)
                converted.refresh.append(prefix)
        elif name.endswith(".weight"):  # the source's layer is normalised, this one is not
            prefix = name.removesuffix(".weight")
            parts = [f"{prefix}{ORIGINAL}", *(prefix + v for v in VECTORS)]
            if all(p in saved for p in parts):
                weight, u, v = (saved[p] for p in parts)
                dim = _normalised_dim(model.get_submodule(prefix))
                converted.tensors[name] = _divided_by_sigma(weight, u, v, dim)
                converted.used.update(parts)
    return converted


def refresh_vectors(model: nn.Module, prefixes: Iterable[str]) -> None:
    """Recompute u, v of each named layer's spectral norm from its current weight."""
    for prefix in prefixes:
        norm: Any = model.get_submodule(f"{prefix}.parametrizations.weight.0")  # _SpectralNorm
        matrix = _as_matrix(model.get_parameter(prefix + ORIGINAL).detach(), norm.dim)
        u, v = (model.get_buffer(prefix + vector) for vector in VECTORS)
        with torch.no_grad():
            for _ in range(_POWER_ITERATIONS):  # torch's order: v from u, then u from v
                v.copy_(F.normalize(matrix.t() @ u, dim=0, eps=norm.eps))
                u.copy_(F.normalize(matrix @ v, dim=0, eps=norm.eps))


def _normalised_dim(layer: nn.Module) -> int:
    """The dimension torch's spectral_norm treats as output: 1 for transposed convs."""
    transposed = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    return 1 if isinstance(layer, transposed) else 0


def _as_matrix(weight: Tensor, dim: int) -> Tensor:
    return weight.movedim(dim, 0).flatten(1)


def _divided_by_sigma(weight: Tensor, u: Tensor, v: Tensor, dim: int) -> Tensor:
    """`weight / sigma`, sigma = u . (W v): the weight a spectral-norm layer computes in eval."""
    sigma = torch.vdot(u, torch.mv(_as_matrix(weight, dim), v))
    return weight / sigma
