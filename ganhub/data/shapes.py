"""Shapes with known factors (dSprites-like): rendered, not downloaded, with their own estimators.

Each image is one white (or, with colour, fully saturated) shape on black: a square, a 2:1
ellipse or an equilateral triangle, of a scale in [0.6, 1], a rotation, a centre (x, y) and,
with colour, a hue. The factors are drawn independently (shape shares can be biased on
purpose: `proportions`), so interpretation tools can ask which factor a latent direction moves
and fairness tools can compare a generator's shape shares with the data's.

Geometry: every unit shape fits in the unit circle (its circumradius is 1), and at scale 1 that
circle has radius `RADIUS` = 0.35 of the image width (a square's side is then half the width, a
size a 32 px DCGAN can draw with its corners); centres are drawn in [RADIUS, 1 - RADIUS], which
keeps every shape inside the image whatever its scale and rotation. Pixel (row i, column j) has
its centre at ((j + 0.5) / size, (i + 0.5) / size); rotations turn the shape by theta from the
image's x axis towards its y axis (rows grow downwards). A shape with k-fold symmetry
(`SYMMETRY`) looks the same at theta and theta + 2 pi / k, so rotations are drawn in
[0, 2 pi / k) and reported as the phase k theta.

`estimate_factors` reads the factors back from pixels (centroid, area, the phase of the k-fold
circular harmonic, a small classifier, the mean colour), so the data's own estimators score
generated samples and real ones alike.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ganhub.capabilities import Attribute
from ganhub.errors import TrainingError, UsageError

if TYPE_CHECKING:
    from ganhub.data.inspect import DataReport
    from ganhub.metrics.featurenet import FeatureNet, FeatureNetSpec

SHAPES = ("square", "ellipse", "triangle")
SYMMETRY = {"square": 4, "ellipse": 2, "triangle": 3}  # rotational symmetry order k
FACTORS = ("shape", "scale", "rotation", "x", "y")  # "hue" follows when colour is on


@dataclass(frozen=True)
class FactorInfo:
    """One factor of variation: its name, its kind and (categorical) its values."""

    name: str
    kind: Literal["categorical", "continuous", "circular"]
    values: tuple[str, ...] = ()


FACTOR_INFO: dict[str, FactorInfo] = {
    "shape": FactorInfo("shape", "categorical", SHAPES),
    "scale": FactorInfo("scale", "continuous"),
    "rotation": FactorInfo("rotation", "circular"),  # the phase k theta, in [0, 2 pi)
    "x": FactorInfo("x", "continuous"),
    "y": FactorInfo("y", "continuous"),
    "hue": FactorInfo("hue", "continuous"),  # in [0, 1); red at both ends
}

RADIUS = 0.35  # circumradius of a scale-1 shape, as a fraction of the image width
SCALES = (0.6, 1.0)
SUPERSAMPLE = 4  # anti-aliasing: 4 x 4 sub-pixels per pixel, averaged
SQUARE_HALF = 1 / math.sqrt(2)  # the unit square's half side (its corners on the unit circle)
ELLIPSE_AXES = (1.0, 0.5)  # semi-axes along u and v
# normals of the unit triangle's sides (vertices at 0, 120 and 240 degrees; sides at distance 1/2)
TRIANGLE_NORMALS = tuple((math.cos(a), math.sin(a)) for a in (math.pi / 3, math.pi, -math.pi / 3))
UNIT_AREA = {"square": 4 * SQUARE_HALF**2, "ellipse": math.pi / 2, "triangle": 3 * math.sqrt(3) / 4}
# phase of the k-fold harmonic sum w r^k e^{ik phi} of each unit shape at theta = 0: a square's
# corners (phi = 45 deg) make it negative, the ellipse's major axis and the triangle's vertex at
# phi = 0 make theirs positive
PHASE0 = {"square": math.pi, "ellipse": 0.0, "triangle": 0.0}
MASS_FLOOR = 0.1  # estimators ignore the faintest 10 %: background noise of generated samples
REFERENCE_SHARE = 0.1  # reference set size, as a share of the training set's
# a rotation is reported where the sample's k-fold harmonic is at least this share of its shape's
# (`_harmonic_strength`): drawn shapes measure 0.91 or more at 32 px, round blobs under 0.1
MIN_ROTATION_CONFIDENCE = 0.5
HARMONIC_SIZE = 128  # the exact shapes' harmonics are measured at this size
RENDER_CHUNK = 1 << 22  # sub-pixels per rendering chunk (16 MB per float tensor)

# Bump when the classifier's recipe changes, so cached networks of older code are retrained;
# the geometry is part of it, so a classifier of shapes drawn otherwise is never reused
SHAPES_RECIPE: dict[str, Any] = {
    "version": 2, "n": 6000, "size": 32, "width": 16, "epochs": 12, "seed": 0, "held_out": 1000,
    "radius": RADIUS, "scales": list(SCALES),
}  # fmt: skip
MIN_SHAPE_ACCURACY = 0.97


def _stream(name: str, seed: int) -> int:
    """A seed of its own for each use (training set, reference set, classifier), so they never
    draw the same images whatever seeds the user picks."""
    return int.from_bytes(hashlib.sha256(f"{name}:{seed}".encode()).digest()[:7], "big")


def _shape_indices(shapes: Sequence[str], key: str = "shapes") -> list[int]:
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown or not shapes or len(set(shapes)) != len(shapes):
        raise UsageError(
            f"{key}={list(shapes)}: give distinct names among {', '.join(SHAPES)}"
            + (f" ('{unknown[0]}' is not one)" if unknown else "")
        )
    return [SHAPES.index(s) for s in shapes]


def wrap_phase(angle: Tensor) -> Tensor:
    """Angles wrapped to [0, 2 pi) (float rounding can make x % 2 pi equal 2 pi)."""
    out = angle % (2 * math.pi)
    return torch.where(out >= 2 * math.pi, torch.zeros_like(out), out)


def _quotas(n: int, proportions: Sequence[float]) -> list[int]:
    """n split by proportions, largest remainders first, so the counts sum to n exactly."""
    raw = [n * p for p in proportions]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def sample_factors(
    n: int,
    *,
    seed: int,
    shapes: Sequence[str] = SHAPES,
    proportions: Sequence[float] | None = None,
    colour: bool = False,
) -> Tensor:
    """(n, 5 or 6) float32 factors in FACTORS order (+ hue), drawn from a seeded generator.

    Shapes take exactly their `proportions` of the n rows (largest remainders; default equal
    shares) in a shuffled order; column 0 is the index into SHAPES.
    """
    idx = _shape_indices(shapes)
    shares = list(proportions) if proportions is not None else [1 / len(idx)] * len(idx)
    if len(shares) != len(idx) or any(p <= 0 for p in shares) or abs(sum(shares) - 1) > 1e-6:
        raise UsageError(
            f"proportions={shares}: give {len(idx)} positive shares (one per shape) summing to 1"
        )
    gen = torch.Generator().manual_seed(seed)
    counts = _quotas(n, shares)
    kinds = torch.cat([torch.full((c,), i, dtype=torch.long) for i, c in zip(idx, counts)])
    kinds = kinds[torch.randperm(n, generator=gen)]
    k = torch.tensor([SYMMETRY[s] for s in SHAPES], dtype=torch.float32)[kinds]
    low, high = SCALES
    scale = low + (high - low) * torch.rand(n, generator=gen)
    rotation = torch.rand(n, generator=gen) * (2 * math.pi) / k
    centre = RADIUS + (1 - 2 * RADIUS) * torch.rand(n, 2, generator=gen)
    columns = [kinds.float(), scale, rotation, centre[:, 0], centre[:, 1]]
    if colour:
        columns.append(torch.rand(n, generator=gen))
    return torch.stack(columns, 1)


def hue_to_rgb(hue: Tensor) -> Tensor:
    """(n,) hues in [0, 1) -> (n, 3) fully saturated, full-value RGB in [0, 1]."""
    h = hue[:, None] * 6
    offsets = torch.tensor([3.0, 2.0, 4.0])
    rgb = (h - offsets).abs()
    rgb = torch.cat([rgb[:, :1] - 1, 2 - rgb[:, 1:]], 1)
    return rgb.clamp(0, 1)


def rgb_to_hue(rgb: Tensor) -> Tensor:
    """(n, 3) RGB (any positive scale) -> (n,) hue in [0, 1) (0 for grey)."""
    r, g, b = rgb.unbind(1)
    top, low = rgb.amax(1), rgb.amin(1)
    d = (top - low).clamp_min(1e-12)
    hue = torch.where(
        top == r, ((g - b) / d) % 6, torch.where(top == g, (b - r) / d + 2, (r - g) / d + 4)
    )
    return (hue / 6) % 1.0


def _coverage(factors: Tensor, size: int) -> Tensor:
    """(m, size, size) share of each pixel the shape covers (4 x 4 sub-pixel samples)."""
    m, s = len(factors), size * SUPERSAMPLE
    grid = (torch.arange(s, dtype=torch.float32) + 0.5) / s
    kinds, scale, theta, x, y = factors[:, :5].unbind(1)
    r = (RADIUS * scale)[:, None]
    dx, dy = (grid - x[:, None]) / r, (grid - y[:, None]) / r  # (m, s): columns, rows
    cos, sin = theta.cos()[:, None], theta.sin()[:, None]
    # the shape's own coordinates are separable: u = cos dx + sin dy, v = -sin dx + cos dy,
    # so each is a column term plus a row term, one addition per sub-pixel
    u_col, u_row, v_col, v_row = cos * dx, sin * dy, -sin * dx, cos * dy
    inside = torch.zeros(m, s, s, dtype=torch.bool)
    for i, name in enumerate(SHAPES):
        sel = (kinds == i).nonzero().flatten()
        if len(sel) == 0:
            continue
        uc, ur, vc, vr = u_col[sel], u_row[sel], v_col[sel], v_row[sel]
        if name == "square":
            hit = ((uc[:, None, :] + ur[:, :, None]).abs() <= SQUARE_HALF) & (
                (vc[:, None, :] + vr[:, :, None]).abs() <= SQUARE_HALF
            )
        elif name == "ellipse":
            a, b = ELLIPSE_AXES
            u = (uc[:, None, :] + ur[:, :, None]).square_()
            v = (vc[:, None, :] + vr[:, :, None]).square_()
            hit = u.div_(a * a).add_(v.div_(b * b)) <= 1
        else:
            hit = torch.ones(len(sel), s, s, dtype=torch.bool)
            for nu, nv in TRIANGLE_NORMALS:
                hit &= (nu * uc + nv * vc)[:, None, :] + (nu * ur + nv * vr)[:, :, None] <= 0.5
        inside[sel] = hit
    return F.avg_pool2d(inside.float()[:, None], SUPERSAMPLE)[:, 0]


def render(factors: Tensor, size: int, colour: bool = False) -> Tensor:
    """Images (n, 1 or 3, size, size) in [-1, 1] of factor rows (`sample_factors`): background
    -1, the shape +1 (colour: its hue's saturated RGB), edges anti-aliased."""
    if size < 4:
        raise UsageError(f"size={size}: shapes are rendered at 4 px or more")
    if colour and factors.shape[1] < 6:
        raise UsageError("render(colour=True) needs a hue column (sample_factors(colour=True))")
    f = factors.detach().float().cpu()
    chunk = max(1, RENDER_CHUNK // (size * SUPERSAMPLE) ** 2)
    parts = []
    for part in f.split(chunk):
        cover = _coverage(part, size)[:, None]
        if colour:
            parts.append(cover * (2 * hue_to_rgb(part[:, 5]))[:, :, None, None] - 1)
        else:
            parts.append(cover * 2 - 1)
    return torch.cat(parts) if parts else torch.empty(0, 3 if colour else 1, size, size)


@lru_cache(maxsize=2)
def _dataset(
    size: int, n: int, seed: int, shapes: tuple[str, ...], proportions: tuple[float, ...] | None,
    colour: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    factors = sample_factors(n, seed=seed, shapes=shapes, proportions=proportions, colour=colour)
    return render(factors, size, colour), factors


def shapes_dataset(
    size: int,
    *,
    n: int = 20000,
    seed: int = 0,
    shapes: Sequence[str] = SHAPES,
    proportions: Sequence[float] | None = None,
    colour: bool = False,
) -> tuple[Tensor, Tensor]:
    """(images, factors) of a training set, rendered once per argument set (remembered)."""
    shares = tuple(float(p) for p in proportions) if proportions is not None else None
    return _dataset(size, n, seed, tuple(shapes), shares, colour)


def reference_set(
    size: int, *, n: int, seed: int = 0, shapes: Sequence[str] = SHAPES, colour: bool = False
) -> tuple[Tensor, Tensor]:
    """(images, factors) of a small unbiased reference set: equal shares of `shapes`, drawn
    from a seed stream of its own (never the training images; Choi et al. 2020)."""
    factors = sample_factors(n, seed=_stream("reference", seed), shapes=shapes, colour=colour)
    return render(factors, size, colour), factors


def reference_size(n_train: int, shapes: Sequence[str] = SHAPES) -> int:
    """The reference set's size for a training set of `n_train`: a tenth, one per shape at least."""
    return max(len(shapes), round(REFERENCE_SHARE * n_train))


def shape_labels(factors: Tensor, shapes: Sequence[str]) -> Tensor:
    """Each row's class in a conditional run: the index of its shape within `shapes`."""
    lookup = torch.full((len(SHAPES),), -1, dtype=torch.long)
    lookup[_shape_indices(shapes)] = torch.arange(len(shapes))
    return lookup[factors[:, 0].long()]


def shape_attribute(shapes: Sequence[str], proportions: Sequence[float] | None) -> Attribute | None:
    """The shape as a sensitive attribute (fairness tools read it with the shapes classifier);
    None for a single shape, which has nothing to be fair between."""
    if len(shapes) < 2:
        return None
    shares = tuple(proportions) if proportions is not None else (1 / len(shapes),) * len(shapes)
    groups = tuple((i,) for i in _shape_indices(shapes))
    return Attribute("shape", tuple(shapes), shares, "shapes", groups)


def shapes_report(source: str, images: Tensor, factors: Tensor) -> DataReport:
    """`ganhub data check` on rendered shapes: class balance, factor ranges and the pixel
    range. Duplicates are not searched: near-identical images are close draws of continuous
    factors, not copies, and the hash search grows quadratically on images this alike."""
    from ganhub.data.inspect import DataReport, class_balance

    report = DataReport(source, "rendered images (factors known; duplicates not searched)")
    report.items.extend(f"sample {i}" for i in range(len(images)))
    class_balance(report, [SHAPES[int(i)] for i in factors[:, 0]])
    names = FACTORS[1:] + (("hue",) if factors.shape[1] > 5 else ())
    report.summary["factors"] = {
        name: [round(float(col.min()), 3), round(float(col.max()), 3)]
        for name, col in zip(names, factors[:, 1:].unbind(1))
    }
    report.summary["pixels"] = [float(images.min()), float(images.max())] if len(images) else []
    return report


def true_factor_values(factors: Tensor) -> dict[str, Tensor]:
    """The stored factors in the units `estimate_factors` returns: shape as a long index,
    rotation as the phase k theta in [0, 2 pi), the others as stored."""
    kinds = factors[:, 0].long()
    k = torch.tensor([SYMMETRY[s] for s in SHAPES], dtype=factors.dtype)[kinds.cpu()]
    out = {
        "shape": kinds,
        "scale": factors[:, 1],
        "rotation": wrap_phase(k.to(factors.device) * factors[:, 2]),
        "x": factors[:, 3],
        "y": factors[:, 4],
    }
    if factors.shape[1] > 5:
        out["hue"] = factors[:, 5]
    return out


@torch.no_grad()
def estimate_factors(images: Tensor, batch: int = 2048) -> dict[str, Tensor]:
    """Read the factors back from images (N, C, H, W) in [-1, 1], on the CPU.

    The mass of a pixel is its brightness (colour: the brightest channel) above a floor that
    ignores faint background noise. "x", "y": the mass centroid (fractions of the width);
    "scale": from the area, divided by the estimated shape's unit area (so it is comparable
    across shapes); "rotation": the phase of the k-fold circular harmonic sum w r^k e^{ik phi}
    around the centroid (k of the estimated shape), as k theta in [0, 2 pi), NaN where the
    image has no such harmonic to speak of (a round blob, an empty image: no angle to read);
    "rotation_confidence": that harmonic's strength as a share of the estimated shape's own,
    in [0, 1] (drawn shapes about 1; under `MIN_ROTATION_CONFIDENCE` the rotation is NaN);
    "shape": the
    classifier's index into SHAPES; "hue" (3 channels): from the mean colour of the shape;
    "mass": the covered share of the image (near 0: an empty image, whose estimates mean
    nothing).
    """
    x = images.detach().float().cpu()
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise UsageError(f"estimate_factors takes images (N, 1 or 3, H, W); got {list(x.shape)}")
    shape, _ = classify_shapes(x)
    if len(x) == 0:
        keys: tuple[str, ...] = ("x", "y", "scale", "rotation", "rotation_confidence", "mass")
        keys += ("hue",) if x.shape[1] == 3 else ()
        return {"shape": shape, **{key: torch.empty(0) for key in keys}}
    parts = [_moments(chunk, kinds) for chunk, kinds in zip(x.split(batch), shape.split(batch))]
    return {"shape": shape, **{key: torch.cat([p[key] for p in parts]) for key in parts[0]}}


def _moments(x: Tensor, kinds: Tensor) -> dict[str, Tensor]:
    c, h, w = x.shape[1:]
    bright = (x.amax(1) + 1) / 2
    mass = ((bright - MASS_FLOOR) / (1 - 2 * MASS_FLOOR)).clamp_(0, 1)  # (n, h, w)
    total = mass.sum((1, 2))
    safe = total.clamp_min(1e-6)
    gx = (torch.arange(w, dtype=torch.float32) + 0.5) / w
    gy = (torch.arange(h, dtype=torch.float32) + 0.5) / w  # fractions of the width
    cx = (mass.sum(1) * gx).sum(1) / safe
    cy = (mass.sum(2) * gy).sum(1) / safe
    area = total / (h * w) * (h / w)  # in units of width^2
    unit = torch.tensor([UNIT_AREA[s] for s in SHAPES])[kinds]
    z = torch.complex(gx[None, None, :] - cx[:, None, None], gy[None, :, None] - cy[:, None, None])
    # the k-fold harmonic of each sample's own shape (k = 2, 3, 4: one column each, picked by
    # gather) and its most possible magnitude sum w r^k, reached when all mass sits at one phase
    zk, rk, r = z.square(), z.abs().square(), z.abs()
    harmonics, radial = [], []
    for k in (2, 3, 4):
        if k > 2:
            zk, rk = zk * z, rk * r
        harmonics.append((zk * mass).sum((1, 2)))
        radial.append((rk * mass).sum((1, 2)))
    pick = (torch.tensor([SYMMETRY[s] for s in SHAPES])[kinds] - 2)[:, None]
    moment = torch.stack(harmonics, 1).gather(1, pick)[:, 0]
    strength = moment.abs() / torch.stack(radial, 1).gather(1, pick)[:, 0].clamp_min(1e-12)
    confidence = (strength / _harmonic_strength()[kinds]).clamp_(0, 1)
    phase0 = torch.tensor([PHASE0[s] for s in SHAPES])[kinds]
    rotation = wrap_phase(moment.angle() - phase0)
    out = {
        "x": cx,
        "y": cy,
        "scale": (area / (unit * RADIUS**2)).sqrt(),
        # a round blob (or an empty image) has no k-fold harmonic to take the phase of: its
        # rotation is undefined, not whatever angle the pixel noise points to
        "rotation": rotation.masked_fill(confidence < MIN_ROTATION_CONFIDENCE, math.nan),
        "rotation_confidence": confidence,
        "mass": area,
    }
    if c == 3:
        colour = ((x + 1) / 2 * mass[:, None]).sum((2, 3))
        out["hue"] = rgb_to_hue(colour)
    return out


@lru_cache(maxsize=1)
def _harmonic_strength() -> Tensor:
    """(3,) |sum w r^k e^{ik phi}| / sum w r^k of each exact shape (k its own symmetry): what
    a drawn shape's harmonic is measured against (rendered once, large, so pixels barely
    round it)."""
    exact = torch.tensor([[i, SCALES[1], 0.0, 0.5, 0.5] for i in range(len(SHAPES))])
    mass = (render(exact, HARMONIC_SIZE)[:, 0] + 1) / 2
    grid = (torch.arange(HARMONIC_SIZE, dtype=torch.float32) + 0.5) / HARMONIC_SIZE - 0.5
    z = torch.complex(grid[None, None, :], grid[None, :, None])
    k = torch.tensor([SYMMETRY[s] for s in SHAPES], dtype=torch.float32)[:, None, None]
    return (z.pow(k) * mass).sum((1, 2)).abs() / (z.abs().pow(k) * mass).sum((1, 2))


# -- the shape classifier ------------------------------------------------------------------


def shapes_classifier() -> tuple[FeatureNet, FeatureNetSpec]:
    """The shape classifier: loaded from the cache, else trained (seconds) with a fixed recipe.

    Trained on equal shares of rendered grey 32 px shapes (every factor varied) and checked on
    held-out ones; training stops with an error below 97 % held-out accuracy. A cached network
    of another recipe is retrained. Its 128-d features give `fd_shapes`.
    """
    from ganhub.metrics.featurenet import cached_classifier

    return cached_classifier("shapes", SHAPES_RECIPE, train_shapes_classifier)


def train_shapes_classifier() -> tuple[FeatureNet, FeatureNetSpec]:
    """Train the shape classifier with the fixed recipe; error if below 97 % held out."""
    from ganhub.metrics.featurenet import train_feature_net

    r = SHAPES_RECIPE
    n, size = int(r["n"]), int(r["size"])
    factors = sample_factors(n, seed=_stream("classifier", int(r["seed"])))
    net, spec = train_feature_net(
        render(factors, size),
        factors[:, 0].long(),
        name="shapes",
        dataset={"source": "shapes", "n": n, "size": size},
        epochs=int(r["epochs"]),
        width=int(r["width"]),
        seed=int(r["seed"]),
        held_out=int(r["held_out"]),
    )
    spec.recipe = dict(SHAPES_RECIPE)
    if spec.accuracy < MIN_SHAPE_ACCURACY:
        raise TrainingError(
            f"the shapes classifier reached {spec.accuracy:.1%} held-out accuracy, below "
            f"{MIN_SHAPE_ACCURACY:.0%}; its shape shares would not be trustworthy"
        )
    return net, spec


@torch.no_grad()
def classify_shapes(images: Tensor, batch: int = 1000) -> tuple[Tensor, Tensor]:
    """(index into SHAPES, confidence) of images (N, 1 or 3, H, W) in [-1, 1]; colour images
    are read by their brightest channel."""
    net, _ = shapes_classifier()
    x = images.detach().float().cpu()
    if x.shape[1] != 1:
        x = x.amax(1, keepdim=True)
    if len(x) == 0:
        return torch.empty(0, dtype=torch.long), torch.empty(0)
    probs = torch.cat([net(part).softmax(1) for part in x.split(batch)])
    conf, index = probs.max(1)
    return index, conf


__all__ = [
    "FACTORS",
    "FACTOR_INFO",
    "SHAPES",
    "SYMMETRY",
    "FactorInfo",
    "classify_shapes",
    "estimate_factors",
    "hue_to_rgb",
    "reference_set",
    "reference_size",
    "render",
    "rgb_to_hue",
    "sample_factors",
    "shape_attribute",
    "shape_labels",
    "shapes_classifier",
    "shapes_dataset",
    "shapes_report",
    "true_factor_values",
    "wrap_phase",
]
