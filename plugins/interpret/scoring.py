"""Which known factor each latent direction moves, and how exclusively: measured, not guessed.

Each direction d is walked from base codes c to c ± α·σ_d·d, where σ_d is the spread of the
sampled codes along d (so a step means the same in z and in w); the factors of both ends'
images are estimated, and a factor's effect is the mean change between the ends over the
base codes, divided by the factor's spread in the real data. Changes and spreads are the
same kind of number: |a − b| for a continuous factor, the circular distance for an angle,
1[a ≠ b] for a category; a factor's spread is their mean over random pairs of real samples
(for a continuous factor 2σ/√π when Gaussian). An effect of 1 is "as different as two
random training images are in this factor".

Per direction: its effects, the factor it moves most, its exclusivity (that factor's share
of the summed effects) and a DCI-style disentanglement (1 − the entropy of the effect shares,
normalised by log of the number of factors: Eastwood & Williams 2018). Per factor: the
direction that moves it most, the share of that direction's effects it takes, and a
completeness (1 − normalised entropy of its effects over the directions).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ganhub_interpret.directions import Factor

    from ganhub.engine.system import GANSystem
    from ganhub.latent import LatentSpace

Estimator = Callable[[Tensor], Mapping[str, Tensor]]
"""images (N, C, H, W) in [-1, 1] -> per-image values (N,) of each factor it measures"""

KINDS = ("categorical", "continuous", "circular")
BATCH = 512  # codes decoded at once: one batch's images are held, not all of them


def difference(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """Elementwise change between factor values: |a − b|, the circular distance in [0, π]
    for an angle, or 1 where two categories differ."""
    if kind == "categorical":
        return (a != b).double()
    d = (a.double() - b.double()).abs()
    if kind == "circular":
        d = torch.remainder(d, 2 * math.pi)
        return torch.minimum(d, 2 * math.pi - d)
    if kind == "continuous":
        return d
    raise ValueError(f"factor kind '{kind}' is not one of {', '.join(KINDS)}")


def spread(values: Tensor, kind: str, seed: int = 0) -> float:
    """The mean `difference` between random pairs of `values` (each against a seeded
    permutation of the others): the yardstick of one factor's effects. Undefined values
    (NaN: the rotation of a round blob) are left out."""
    values = values.detach().cpu()
    if values.is_floating_point():
        values = values[~values.isnan()]
    perm = torch.randperm(len(values), generator=torch.Generator().manual_seed(seed))
    return float(difference(values, values[perm], kind).mean()) if len(values) > 1 else 0.0


def direction_sigma(codes: Tensor, direction: Tensor) -> float:
    """The standard deviation of the sampled codes along a unit direction."""
    return float((codes.double().cpu() @ direction.double().cpu()).std())


def walk(codes: Tensor, direction: Tensor, steps: Sequence[float], sigma: float) -> Tensor:
    """codes + s·σ·d for each step s: (len(steps) * n, dim), step-major."""
    d = direction.to(codes.dtype).to(codes.device)
    return torch.cat([codes + s * sigma * d for s in steps])


def decode_factors(
    space: LatentSpace, codes: Tensor, estimate: Estimator, batch: int = BATCH
) -> dict[str, Tensor]:
    """The factors `estimate` reads from the images of `codes` (each (N,), on the CPU), decoded
    `batch` codes at a time: only one batch's images are held (a boundary fitted on 100,000
    codes decoded them all in one pass)."""
    parts: dict[str, list[Tensor]] = {}
    for chunk in codes.split(batch):
        for key, value in estimate(space.decode(chunk)).items():
            parts.setdefault(key, []).append(value.detach().cpu())
    return {key: torch.cat(chunks) for key, chunks in parts.items()}


def decode_batched(space: LatentSpace, codes: Tensor, batch: int = BATCH) -> Tensor:
    """The images of `codes`, decoded `batch` codes at a time (a space need not split them)."""
    return torch.cat([space.decode(chunk).detach() for chunk in codes.split(batch)])


def _entropy_score(shares: Tensor) -> float:
    """1 − entropy(shares) / log(len(shares)): 1 when one entry holds everything, 0 when even."""
    if len(shares) < 2:
        return 1.0
    p = shares[shares > 0]
    return float(1 + (p * p.log()).sum() / math.log(len(shares)))


@dataclass(frozen=True)
class DirectionScore:
    """What walking one direction does to the factors.

    name              the direction's name ("direction 3", "x" for a boundary)
    sigma             the codes' standard deviation along it (the walk's unit)
    effects           factor -> mean change between the walk's ends / the factor's spread
    top               the factor it moves most (None when it moves none)
    exclusivity       the top factor's share of the summed effects (0 when it moves none)
    disentanglement   1 − normalised entropy of the effect shares (0 when it moves none)
    """

    name: str
    sigma: float
    effects: dict[str, float]
    top: str | None
    exclusivity: float
    disentanglement: float


@dataclass(frozen=True)
class FactorScore:
    """Which direction moves one factor most, and how exclusively.

    factor        the factor's name
    direction     the index of the direction with the largest effect on it (None when no
                  direction moves it: every effect 0)
    effect        that effect
    exclusivity   this factor's share of that direction's summed effects
    completeness  1 − normalised entropy of this factor's effects over all directions
    """

    factor: str
    direction: int | None
    effect: float
    exclusivity: float
    completeness: float


@dataclass(frozen=True)
class ScoreTable:
    """The direction-factor table: effects of every direction on every factor."""

    factors: tuple[str, ...]
    directions: tuple[DirectionScore, ...]
    per_factor: tuple[FactorScore, ...]
    alpha: float
    n_base: int
    spreads: dict[str, float]
    chance: dict[str, float] = field(default_factory=dict)
    n_chance: int = 0

    def at_chance(self) -> list[FactorScore]:
        """The factors whose best direction does not move them beyond their `chance` level
        (what random directions walked the same way do): what the table says of them is the
        estimator's response to any change of the image, not a direction of their own."""
        return [f for f in self.per_factor if f.factor in self.chance
                and f.effect <= self.chance[f.factor]]  # fmt: skip

    def format(self) -> str:
        """A plain-text table (benchmarks print it)."""
        width = max(8, *(len(d.name) for d in self.directions))
        head = f"{'direction':<{width}} {'sigma':>7} " + " ".join(f"{f:>9}" for f in self.factors)
        lines = [head + f" {'top':>9} {'excl':>5} {'disent':>6}"]
        for d in self.directions:
            effects = " ".join(f"{d.effects[f]:9.3f}" for f in self.factors)
            lines.append(
                f"{d.name:<{width}} {d.sigma:7.3f} {effects} {d.top or '-':>9} "
                f"{d.exclusivity:5.2f} {d.disentanglement:6.2f}"
            )
        lines.append("")
        lines.append(f"{'factor':<9} {'best':<{width}} {'effect':>7} {'excl':>5} {'complete':>8}")
        for f in self.per_factor:
            best = self.directions[f.direction].name if f.direction is not None else "-"
            lines.append(
                f"{f.factor:<9} {best:<{width}} {f.effect:7.3f} "
                f"{f.exclusivity:5.2f} {f.completeness:8.2f}"
                + (f" chance {self.chance[f.factor]:.3f}" if f.factor in self.chance else "")
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class KnownFactors:
    """What scoring needs of a run's data: its factors, how to read them from images, and
    their values in real samples (read the same way).

    source     the dataset ("shapes", "digits")
    estimate   images -> factor values
    info       the factors scored, by name
    reference  the factors of real training samples, as `estimate` reads them
    """

    source: str
    estimate: Estimator
    info: Mapping[str, Factor]
    reference: Mapping[str, Tensor]


def _digits(images: Tensor) -> dict[str, Tensor]:
    """The digit classifier's class of each image (its grey level, for colour images)."""
    from ganhub.metrics.featurenet import classify_digits, digits_as_read

    return {"digit": classify_digits(digits_as_read(images, "digits"))[0]}


def _shapes(images: Tensor) -> dict[str, Tensor]:
    """`ganhub.data.shapes.estimate_factors`, its hue (a fraction of the colour wheel in
    [0, 1), red at both ends) as an angle in radians, so that it is compared as one: two reds
    of hue 0.98 and 0.02 differ by 0.04 of a turn, not by 0.96."""
    from ganhub.data.shapes import estimate_factors

    found = dict(estimate_factors(images))
    if "hue" in found:
        found["hue"] = found["hue"] * (2 * math.pi)
    return found


def known_factors(system: GANSystem, n: int = 2000, seed: int = 0) -> KnownFactors | None:
    """The known factors of a run's data, read from `n` of its real samples: data=shapes
    (`ganhub.data.shapes.estimate_factors`: shape, scale, rotation, x, y, and in colour the
    hue, an angle like the rotation) and digits (the digit classifier's class, a categorical
    factor "digit"); None for other data, whose factors nobody knows."""
    from ganhub.data.shapes import FACTOR_INFO, FactorInfo

    capabilities = system.capabilities()
    if capabilities.modality != "image":
        return None
    estimate: Estimator
    if capabilities.dataset == "shapes":
        estimate = _shapes
        # the hue wraps around (red at both ends): circular, as `_shapes` gives it in radians
        info: dict[str, Factor] = {**FACTOR_INFO, "hue": FactorInfo("hue", "circular")}
    elif capabilities.dataset == "digits":
        estimate = _digits
        info = {"digit": FactorInfo("digit", "categorical", tuple("0123456789"))}
    else:
        return None
    reference = {k: v for k, v in estimate(system.real_samples(n, seed=seed)).items() if k in info}
    info = {k: f for k, f in info.items() if k in reference}  # hue: colour data only
    return KnownFactors(str(capabilities.dataset), estimate, info, reference)


# A factor varies when its spread among real samples is at least this share of the spread it
# would have if its values were spread evenly (`even_spread`). Below that, it is one value plus
# the estimator's misreadings: a run on one digit class has a spread of 0.012 (the classifier
# misreading about 0.6 % of its 8s), and effects divided by it read 75 times larger than
# against the 0.9 of ten classes.
# A tenth of 10 classes' 0.9 still counts a class mix with 5 % of a second class as varying.
MIN_SPREAD_SHARE = 0.1


def even_spread(factor: Factor, values: Tensor) -> float:
    """The spread `values` of `factor` would have if spread evenly: 1 − 1/k for k categories
    equally often, π/2 for angles uniform on the circle, and for a continuous factor (the
    shapes' are positive: fractions of the width, scale factors) 2m/3, that of values uniform
    on [0, 2m] around their mean magnitude m."""
    if factor.kind == "categorical":
        k = len(factor.values) or len(values.unique())
        return 1 - 1 / k if k > 1 else 0.0
    if factor.kind == "circular":
        return math.pi / 2
    return 2 / 3 * float(values.double().abs().mean()) if len(values) else 0.0


def spread_floors(
    info: Mapping[str, Factor], reference: Mapping[str, Tensor]
) -> dict[str, tuple[float, float]]:
    """{factor: (its `spread` among the real samples, the least spread that counts as
    varying)} for the factors of `info` that `reference` holds."""
    return {
        key: (
            spread(reference[key], factor.kind),
            MIN_SPREAD_SHARE * even_spread(factor, reference[key]),
        )
        for key, factor in info.items()
        if key in reference
    }


def factor_spreads(info: Mapping[str, Factor], reference: Mapping[str, Tensor]) -> dict[str, float]:
    """{factor: its `spread` among the real samples} for the factors of `info` that
    `reference` holds and that vary there (a spread of at least `MIN_SPREAD_SHARE` of
    `even_spread`; a run on one digit class has none): what scoring can measure a
    direction's effect against."""
    floors = spread_floors(info, reference)
    return {key: s for key, (s, floor) in floors.items() if s > 0 and s >= floor}


# A factor's chance level: the random directions' mean effect on it plus this many standard
# deviations. Were effects normal, a direction that moves the factor no more than a random one
# would pass it with probability 0.00135 against the true mean and s.d.; against those of 8
# random directions, about 1 % (the t prediction bound), and the best of 8 such directions
# about 5-15 % (the best of 8 against the best of 8 random directions: one half).
CHANCE_SDS = 3.0


def random_directions(k: int, dim: int, seed: int) -> Tensor:
    """`k` unit directions (k, dim) drawn uniformly on the sphere from `seed`: the chance
    level of the scores (what walking in no particular direction does)."""
    rows = torch.randn(k, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)).float()


def _walk_effects(
    space: LatentSpace, direction: Tensor, codes: Tensor, base: Tensor, estimate: Estimator,
    info: Mapping[str, Factor], spreads: Mapping[str, float], alpha: float,
) -> tuple[float, dict[str, float]]:  # fmt: skip
    """(σ_d, {factor: effect}) of walking `base` ±`alpha` σ_d along one direction."""
    sigma = direction_sigma(codes, direction)
    measured = decode_factors(space, walk(base, direction, (-alpha, alpha), sigma), estimate)
    effects: dict[str, float] = {}
    for key in spreads:
        values = measured[key].detach().cpu()
        change = difference(values[: len(base)], values[len(base) :], info[key].kind)
        # pairs whose factor is undefined at either end (NaN: the rotation of a round blob)
        # say nothing of how far it moved; none defined: no change measured
        change = change[~change.isnan()]
        effects[key] = float(change.mean()) / spreads[key] if len(change) else 0.0
    return sigma, effects


def score_directions(
    space: LatentSpace,
    directions: Tensor,
    codes: Tensor,
    *,
    estimate: Estimator,
    info: Mapping[str, Factor],
    reference: Mapping[str, Tensor],
    names: Sequence[str] | None = None,
    n_base: int = 64,
    alpha: float = 2.0,
    n_chance: int = 0,
    seed: int = 0,
) -> ScoreTable:
    """Score each row of `directions` (k, dim) by walking `n_base` of the sampled `codes`
    ±`alpha` σ_d along it and estimating the factors of both ends' images.

    `reference` holds the factors of real samples (as `estimate` measures them) for the
    spreads; factors in `info` that `estimate` or `reference` lack, or that do not vary in
    the real data, are left out of the table. With `n_chance`, that many `random_directions`
    (drawn from `seed`, at least 2) are walked the same way, and each factor's chance level
    (`ScoreTable.chance`) is the mean of their effects plus `CHANCE_SDS` standard deviations:
    an estimator that reads noise from the images (the rotation of a round blob) gives every
    direction a large effect, random ones too, and the best of k scored directions beats the
    best of k random ones half the time.
    """
    codes = codes.detach()
    base = codes[:n_base]
    spreads = factor_spreads(info, reference)
    factors = list(spreads)
    if not factors:
        raise ValueError("no factor of `info` varies in the reference data")
    names = list(names) if names is not None else [f"direction {i}" for i in range(len(directions))]
    table: list[DirectionScore] = []
    effect_rows: list[list[float]] = []
    for name, direction in zip(names, directions, strict=True):
        sigma, effects = _walk_effects(
            space, direction, codes, base, estimate, info, spreads, alpha
        )
        row = torch.tensor([effects[f] for f in factors], dtype=torch.float64)
        total = float(row.sum())
        if total > 0:
            shares = row / total
            top: str | None = factors[int(row.argmax())]
            exclusive, disentangled = float(shares.max()), _entropy_score(shares)
        else:
            top, exclusive, disentangled = None, 0.0, 0.0
        table.append(DirectionScore(name, sigma, effects, top, exclusive, disentangled))
        effect_rows.append(row.tolist())
    E = torch.tensor(effect_rows, dtype=torch.float64)  # (directions, factors)
    per_factor: list[FactorScore] = []
    for j, key in enumerate(factors):
        column = E[:, j]
        best = int(column.argmax())
        row_total = float(E[best].sum())
        column_total = float(column.sum())
        per_factor.append(
            FactorScore(
                factor=key,
                # argmax of all zeros is the first direction, which moves it no more than any
                direction=best if column_total > 0 else None,
                effect=float(column[best]),
                exclusivity=float(column[best]) / row_total if row_total > 0 else 0.0,
                completeness=_entropy_score(column / column_total) if column_total > 0 else 0.0,
            )
        )
    if n_chance == 1:
        raise ValueError("n_chance: a chance level needs 0 or at least 2 random directions")
    random_rows = [
        _walk_effects(space, d, codes, base, estimate, info, spreads, alpha)[1]
        for d in random_directions(n_chance, codes.shape[1], seed).to(codes)
    ]
    chance: dict[str, float] = {}
    for key in factors if random_rows else ():
        null = torch.tensor([row[key] for row in random_rows], dtype=torch.float64)
        chance[key] = float(null.mean() + CHANCE_SDS * null.std())
    return ScoreTable(
        factors=tuple(factors),
        directions=tuple(table),
        per_factor=tuple(per_factor),
        alpha=alpha,
        n_base=len(base),
        spreads=spreads,
        chance=chance,
        n_chance=n_chance,
    )


__all__ = [
    "BATCH",
    "CHANCE_SDS",
    "MIN_SPREAD_SHARE",
    "DirectionScore",
    "Estimator",
    "FactorScore",
    "KnownFactors",
    "ScoreTable",
    "decode_batched",
    "decode_factors",
    "difference",
    "direction_sigma",
    "even_spread",
    "factor_spreads",
    "known_factors",
    "random_directions",
    "score_directions",
    "spread",
    "spread_floors",
    "walk",
]
