"""Latent directions of a generator: SeFa, GANSpace and InterFaceGAN-style boundaries.

  sefa        closed form from the weights that read the codes (Shen & Zhou, CVPR 2021)
  ganspace    PCA of early activations regressed back to the codes, or PCA of the codes
              themselves in an intermediate space such as StyleGAN's w (Härkönen et al. 2020)
  boundaries  one linear SVM per factor of the decoded images (Shen et al., CVPR 2020)

Every direction is a unit vector in the codes' space, one per row, with a deterministic sign
(its largest-magnitude entry is positive), so a page and a benchmark find the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ganhub.latent import LatentSpace

EXTREMES = 0.3  # InterFaceGAN keeps the most confident 30 % at each end of a continuous factor
BATCH = 512  # codes whose early activations are computed at once
RANK_TOLERANCE = 1e-5  # singular values below this share of the largest are null components


class Factor(Protocol):
    """A known generative factor (`ganhub.data.shapes.FactorInfo` is one)."""

    @property
    def name(self) -> str:
        """The factor's name ("x", "rotation")."""
        ...

    @property
    def kind(self) -> str:
        """ "categorical", "continuous" or "circular" (an angle in radians)."""
        ...

    @property
    def values(self) -> Any:
        """Its values; a categorical factor's names, in index order."""
        ...


def _fix_signs(rows: Tensor) -> Tensor:
    """Flip each row so that its largest-magnitude entry is positive (eigen- and singular
    vectors have no sign of their own; this makes runs on other machines agree)."""
    pivot = rows.gather(1, rows.abs().argmax(1, keepdim=True))
    return rows * torch.where(pivot < 0, -1.0, 1.0).to(rows.dtype)


def sefa(projection: Tensor, k: int, *, normalize_rows: bool = True) -> tuple[Tensor, Tensor]:
    """The k unit directions n maximising |A n| for A = `projection` (out, dim): the
    eigenvectors of AᵀA by descending eigenvalue; returns (directions (k, dim), eigenvalues (k,)).

    SeFa's closed form (paper eq. 5) uses A as is. The reference implementation (genforce/sefa,
    `factorize_weight`) first scales every output row of A to unit length, so that the rows
    stacked from several layers (StyleGAN's style affines) count equally whatever each layer's
    weight scale; `normalize_rows=True` (the default) follows it, False gives the paper's
    form, whose eigenvalues are A's squared singular values.

    Which layers A stacks is the latent space's choice (`LatentSpace.projection`). For
    StyleGAN2 the reference stacks the style affines of every modulated synthesis conv and of
    the last toRGB only (its layers "all": the skip architecture's lower-resolution toRGBs are
    not read). Deliberate differences: no choice of a layer subset (the reference's
    `layer_idx`, e.g. the coarse layers alone), and a symmetric eigensolver in float64 with a
    fixed sign per direction where the reference runs a general one in float32.
    """
    if projection.ndim != 2:
        raise ValueError(
            f"projection must be a matrix (out, dim), not shape {tuple(projection.shape)}"
        )
    A = projection.detach().double().cpu()
    if normalize_rows:
        A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
    k = min(k, A.shape[1])
    values, vectors = torch.linalg.eigh(A.T @ A)  # ascending, orthonormal columns
    order = values.argsort(descending=True)[:k]
    directions = _fix_signs(vectors[:, order].T.contiguous())
    return directions.float(), values[order].clamp_min(0).float()


def ganspace(space: LatentSpace, k: int, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """GANSpace directions of `space` from n sampled codes: (unit directions (k, dim),
    explained variance ratios (k,)) of the principal components; fewer than k when the
    samples span fewer dimensions (at most n − 1, and at most the space's dim).

    With `early_features` (a z space), PCA of those activations, then each component's latent
    direction by least squares from the (standardised) PCA coordinates back to the codes, as
    the paper does for BigGAN; without (a w space), PCA of the codes themselves, as it does
    for StyleGAN's w. The ratios are of the activations' (or codes') total variance.
    """
    codes = space.sample(n, seed).detach().double().cpu()
    early = space.early_features
    if early is None:
        X = codes - codes.mean(0)  # `codes` is read again below: not centred in place
    else:
        # the activations of `BATCH` codes at a time (a space need not split them itself),
        # each batch made doubles at once: no float copy of them all is held beside X
        X = torch.cat(
            [early(c.float()).detach().double().cpu().flatten(1) for c in codes.split(BATCH)]
        )
        X -= X.mean(0)
    # X = U S Vᵀ: V's columns are the principal axes, U S the coordinates
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    # n centred samples span at most n − 1 dimensions: a component past them (or past the
    # activations' own rank) has a singular value at float32 round-off, and its "direction" is
    # noise; RANK_TOLERANCE of the largest is far above round-off and far below any real one
    rank = int((S[0] * RANK_TOLERANCE < S).sum()) if len(S) else 0
    k = min(k, space.dim, len(X) - 1, rank)
    ratios = S.square() / S.square().sum().clamp_min(1e-24)
    if space.early_features is None:
        return _fix_signs(Vh[:k].contiguous()).float(), ratios[:k].float()
    # coordinates scaled to unit variance: the i-th row of the solution is the change of code
    # that moves the i-th coordinate by one standard deviation
    coords = U[:, :k] * (len(X) - 1) ** 0.5
    Z = codes - codes.mean(0)
    M = torch.linalg.lstsq(coords, Z).solution  # (k, dim)
    directions = M / M.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return _fix_signs(directions).float(), ratios[:k].float()


def _split_labels(values: Tensor) -> tuple[Tensor, Tensor] | None:
    """(indices, 0/1 labels) of the lowest and highest `EXTREMES` of a continuous factor;
    None when the two ends do not differ (the factor does not vary among the samples)."""
    m = int(len(values) * EXTREMES)
    if m < 2:
        return None
    order = values.argsort()
    low, high = order[:m], order[-m:]
    if values[low].max() >= values[high].min():
        return None
    labels = torch.cat([torch.zeros(m), torch.ones(m)]).long()
    return torch.cat([low, high]), labels


def _fit_normal(codes: Tensor, labels: Tensor) -> Tensor:
    """The unit normal of a linear SVM separating labels 1 from 0 (pointing towards 1)."""
    from sklearn.svm import LinearSVC

    # balanced: one-vs-rest splits are lopsided; random_state: liblinear's dual solver
    # shuffles, and a page and a benchmark must find the same boundary
    svm = LinearSVC(C=1.0, class_weight="balanced", random_state=0, max_iter=20_000)
    svm.fit(codes.double().numpy(), labels.numpy())
    normal = torch.as_tensor(svm.coef_[0], dtype=torch.float64)
    return (normal / normal.norm().clamp_min(1e-12)).float()


def boundaries(
    codes: Tensor, factors: Mapping[str, Tensor], info: Mapping[str, Factor]
) -> list[tuple[str, Tensor]]:
    """One linear boundary per factor on `codes` labelled by their images' factors: the unit
    normals (dim,) pointing towards larger values (towards the class, one-vs-rest), named
    "x", "rotation·cos", "shape=square".

    Continuous factors compare the top and bottom 30 % (InterFaceGAN keeps the confident
    extremes), circular ones their cosine and sine separately; a factor whose labels do not
    vary among the samples (or a class with fewer than 2 samples on either side) is left out.
    """
    codes = codes.detach().double().cpu()
    found: list[tuple[str, Tensor]] = []
    for key, factor in info.items():
        if key not in factors:
            continue
        values = factors[key].detach().cpu()
        if factor.kind == "categorical":
            names = list(factor.values)
            classes = values.unique().tolist()
            # two classes: one boundary (the other is its mirror image)
            for c in classes[1:] if len(classes) == 2 else classes:
                labels = (values == c).long()
                if min(int(labels.sum()), int((1 - labels).sum())) < 2:
                    continue
                name = names[c] if 0 <= c < len(names) else str(c)
                found.append((f"{key}={name}", _fit_normal(codes, labels)))
            continue
        defined = ~values.double().isnan()  # left out: undefined (a round blob's rotation)
        values = values[defined]
        parts = (
            [("·cos", values.double().cos()), ("·sin", values.double().sin())]
            if factor.kind == "circular"
            else [("", values.double())]
        )
        for suffix, part in parts:
            split = _split_labels(part)
            if split is not None:
                index, labels = split
                found.append((key + suffix, _fit_normal(codes[defined][index], labels)))
    return found


__all__ = ["BATCH", "EXTREMES", "RANK_TOLERANCE", "Factor", "boundaries", "ganspace", "sefa"]
