"""Linear probes: which factor of the image each layer of G holds in a form a linear model reads.

Explaining a network by a simpler model fitted to its internals: a linear probe (Alain & Bengio
2016, "Understanding intermediate layers using linear classifier probes") is a logistic
regression (a categorical factor) or a ridge regression (a continuous one; an angle through its
cosine and sine) trained on one layer's activations to predict a factor of the image the code
becomes. Its score on held-out codes says how much of the factor that layer carries linearly:
where along G a factor appears, and where it is still entangled with the rest.

Rows: the codes themselves ("code"), then each feature layer of the latent space, its maps
average-pooled to a 2x2 grid (C x 4 numbers: a global mean would discard where things are, so
position could not be read from any layer). Columns, one per known factor of the run's data,
each read from the decoded images by the data's estimator:

  categorical   held-out accuracy (chance: the most frequent class's share, printed beside it)
  continuous    held-out R^2
  circular      held-out R^2 of (cos, sin) together: 1 - squared error / variance, both summed

Each probe is fitted on 75 % of the codes and scored on the other 25 %, with the features
standardised on the training part; ridge picks its penalty by leave-one-out over 1e-3..1e3.

Chance level (a permutation baseline: Ojala & Garriga 2010, for classifiers' scores): the
same probe, fitted and scored the same way on `SHUFFLES` shuffles of the factor's values over
the codes, which keeps their distribution and breaks their tie to the codes. Its mean and
standard deviation stand beside each score; a score at most the mean plus `CHANCE_SDS`
standard deviations (the directions' rule), or for a class at most its chance, is marked "*":
not clearly above what a probe fits on values unrelated to the layer. The shuffles are solved
with the probe itself (one SVD or one L-BFGS run for all: `ganhub_interpret.linear_probes`).

A factor that barely varies among the real samples (the rule of the directions scores,
`ganhub_interpret.scoring.spread_floors`: a run on one digit class), or among the generated
samples (the same floor: a 50-step generator draws one blob at one place and size), or that
the generated samples it would be fitted on hold one value of (every sample read as one class)
is not probed: a probe of one class is right by construction ("accuracy 1.000, chance 1.000") and
measures nothing. Its column reads "-", and the reason is printed and saved (`skipped`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from ganhub_interpret.features import _feature_map, _hooks
from ganhub_interpret.linear_probes import logistic, ridge_loo
from ganhub_interpret.scoring import CHANCE_SDS
from torch import Tensor, nn

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ganhub_interpret.directions import Factor
    from ganhub_interpret.scoring import KnownFactors

    from ganhub.api import TrainedGAN
    from ganhub.latent import LatentSpace

TRAIN_SHARE = 0.75
POOLED_GRID = 2  # each feature map averaged to 2x2 cells
# real samples whose factors say whether a factor varies: as many as the directions page
# reads (`directions_page.REFERENCE`), so both judge a factor alike
FACTOR_REFERENCE = 2000
BATCH = 512  # codes decoded at once: one batch's images and activations are held, not all
# shuffles of each factor's values that the permutation baseline fits: 20 estimate its mean
# and s.d. to about a sixth of the s.d., for about a tenth of the probes' time (measured in
# docs/interpret.md)
SHUFFLES = 20
# a factor undefined for more than half of the generated samples (the rotation of a 50-step
# dcgan's round blobs) is not probed; below that, it is probed on the samples that define it
MIN_DEFINED = 0.5


@dataclass
class ProbeTable:
    """Probe scores: `scores[layer][factor]`, layers in forward order (the codes first).

    widths   the number of features each layer's probe reads
    kinds    each factor's kind, which says what its score is (accuracy or R^2)
    chance   a categorical factor's majority-class share on the held-out codes
    skipped  factor -> why it is not probed (its scores are NaN, null in probes.json)
    baseline `baseline[layer][factor]`: (mean, s.d.) of the scores of the same probe on
             `shuffles` shuffles of the factor's values (the permutation baseline)
    """

    layers: list[str]
    widths: dict[str, int]
    kinds: dict[str, str]
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    shuffles: int = 0
    baseline: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)

    def clear(self, layer: str, factor: str) -> bool:
        """Whether a score is clearly above its baseline: over its mean + CHANCE_SDS s.d.
        and, for a class, over the most frequent class's share (a probe on shuffled classes
        can score under it: 0.39 where 54 % of the codes are one class). True where there
        is no baseline to be under."""
        if factor not in self.baseline.get(layer, {}):
            return True
        mean, sd = self.baseline[layer][factor]
        score = self.scores[layer][factor]
        return score > mean + CHANCE_SDS * sd and score > self.chance.get(factor, -math.inf)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (probes.json)."""
        return {
            "layers": [{"name": n, "features": self.widths[n],
                        "scores": {f: None if math.isnan(v) else v  # a constant factor
                                   for f, v in self.scores[n].items()},
                        "baseline": {f: {"mean": m, "sd": sd, "clear": self.clear(n, f)}
                                     for f, (m, sd) in self.baseline.get(n, {}).items()}}
                       for n in self.layers],
            "factors": self.kinds,
            "chance": self.chance,
            "shuffles": self.shuffles,
            "clear_above": f"baseline mean + {CHANCE_SDS:g} s.d.",
            "skipped": self.skipped,
            "n_train": self.n_train,
            "n_test": self.n_test,
        }  # fmt: skip

    def text(self) -> str:
        """The table as aligned text: a row per layer, a column per factor."""
        factors = list(self.kinds)
        head = [f"{'layer':<14}{'features':>9}"] + [f"{f:>10}" for f in factors]
        rows = ["".join(head)]
        for layer in self.layers:
            cells = [f"{'-' if f in self.skipped else self._cell(layer, f):>10}" for f in factors]
            rows.append(f"{layer:<14}{self.widths[layer]:>9}" + "".join(cells))
        probed = [
            f"{f} {_measure(k)}" + (f" (chance {self.chance[f]:.3f})" if f in self.chance else "")
            for f, k in self.kinds.items()
            if f not in self.skipped
        ]
        rows.append(
            "scores: "
            + "; ".join(
                [*probed, f"fitted on {self.n_train} codes, scored on {self.n_test} others"]
            )
        )
        rows += self._baseline_rows(factors)
        rows += [f"not probed (-): {f}: {why}" for f, why in self.skipped.items()]
        return "\n".join(rows)

    def _cell(self, layer: str, factor: str) -> str:
        return f"{self.scores[layer][factor]:.3f}" + ("" if self.clear(layer, factor) else "*")

    def _baseline_rows(self, factors: list[str]) -> list[str]:
        """The permutation baseline, a row per layer as in the table, and what "*" means."""
        if not any(self.baseline.values()):
            return []
        rows = [f"permutation baseline: each probe fitted and scored on {self.shuffles} "
                "shuffles of its factor's values, mean ± s.d."]  # fmt: skip
        rows.append(f"{'layer':<14}{'':>9}" + "".join(f"{f:>13}" for f in factors))
        for layer in self.layers:
            found = self.baseline.get(layer, {})
            cells = [f"{'-' if f not in found else '{:.3f}±{:.3f}'.format(*found[f]):>13}"
                     for f in factors]  # fmt: skip
            rows.append(f"{layer:<14}{'':>9}" + "".join(cells))
        if not all(self.clear(n, f) for n in self.layers for f in self.baseline.get(n, {})):
            rows.append(
                f"* not clearly above its baseline (at most its mean + {CHANCE_SDS:g} s.d., or "
                "a class's chance): no more than a probe reads from values unrelated to the layer"
            )
        return rows


def _measure(kind: str) -> str:
    return {"categorical": "accuracy", "continuous": "R^2", "circular": "R^2 of (cos, sin)"}[kind]


@torch.no_grad()
def layer_features(space: LatentSpace, codes: Tensor) -> tuple[dict[str, Tensor], Tensor]:
    """({"code": codes, layer: pooled maps (N, C x 4)...}, the decoded images) in one pass."""
    names = [name for name, _ in space.feature_layers]
    parts: list[list[Tensor]] = [[] for _ in names]

    def keep(i: int, _module: nn.Module, _args: Any, out: Any) -> None:
        maps = _feature_map(names[i], out)
        parts[i].append(F.adaptive_avg_pool2d(maps, POOLED_GRID).flatten(1).cpu())

    with _hooks(list(enumerate(m for _, m in space.feature_layers)), keep, pre=False):
        images = space.decode(codes)
    features = {"code": codes.detach().float().cpu().flatten(1)}
    for name, chunks in zip(names, parts, strict=True):
        joined = torch.cat(chunks)
        if len(joined) != len(codes):  # a layer used twice per pass, or not at all
            raise ValueError(
                f"feature layer '{name}' ran for {len(joined)} samples, not {len(codes)}"
            )
        features[name] = joined
    return features, images.detach()


def batched_features(
    space: LatentSpace, codes: Tensor, known: KnownFactors, batch: int = BATCH
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """`layer_features` of `codes` and the known factors of their images, `batch` codes at a
    time: only one batch's images and activations are held at once (100,000 codes decoded in
    one pass held gigabytes); the pooled features and the factors are joined in code order."""
    features: dict[str, Tensor] = {}  # filled in place: no second copy to join
    values: dict[str, list[Tensor]] = {}
    for start in range(0, len(codes), batch):
        chunk = codes[start : start + batch]
        found, images = layer_features(space, chunk)
        for key, part in found.items():
            if key not in features:
                features[key] = part.new_empty((len(codes), *part.shape[1:]))
            features[key][start : start + len(chunk)] = part
        for key, value in known.estimate(images).items():
            if key in known.info:
                values.setdefault(key, []).append(value.cpu())
        del images  # before the next batch is decoded
    return features, {key: torch.cat(parts) for key, parts in values.items()}


def probe_scores(
    features: Mapping[str, Tensor],
    values: Mapping[str, Tensor],
    info: Mapping[str, Factor],
    seed: int = 0,
    skip: Mapping[str, str] | None = None,
    shuffles: int = SHUFFLES,
) -> ProbeTable:
    """Fit a linear probe per (layer, factor) on 75 % of the rows, score it on the rest, and
    the same probe on `shuffles` shuffles of the factor's values (the baseline; 0: none, else
    at least 2). Factors of `skip` (factor -> why) and factors whose values on the training
    rows are one value (nothing to separate) are not probed: NaN scores, the reason in
    `skipped`. The split and the shuffles are drawn from `seed`."""
    if shuffles == 1 or shuffles < 0:
        raise ValueError(f"shuffles: a baseline needs 0 or at least 2 shuffles, not {shuffles}")
    n = len(next(iter(values.values())))
    draw = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=draw)
    cut = round(n * TRAIN_SHARE)
    train, test = order[:cut], order[cut:]
    table = ProbeTable(
        layers=list(features),
        widths={k: int(v.shape[1]) for k, v in features.items()},
        kinds={f: info[f].kind for f in values if f in info},
        n_train=len(train),
        n_test=len(test),
        shuffles=shuffles,
    )
    for f in table.kinds:
        defined = _defined(values[f])
        why = (
            (skip or {}).get(f)
            or _undefined(defined)
            or _one_value(values[f][train][defined[train]], info[f])
        )
        if why:
            table.skipped[f] = why
    for f, kind in table.kinds.items():
        if kind == "categorical" and f not in table.skipped:
            held_out = values[f][test]
            table.chance[f] = float(torch.bincount(held_out.long()).max()) / len(held_out)
    # per factor, the codes whose value is defined (NaN: the rotation of a round blob has
    # none) and, row 0, their values, rows 1.. shuffles of them (drawn at once): one set per
    # factor, shared by every layer
    targets: dict[str, tuple[Tensor, Tensor]] = {}
    for f in table.kinds:
        if f in table.skipped:
            continue
        keep = _defined(values[f]).nonzero().flatten()
        rows = torch.cat(
            [
                torch.arange(len(keep))[None],
                torch.rand(shuffles, len(keep), generator=draw).argsort(1),
            ]
        )
        targets[f] = keep, values[f][keep][rows]
    for layer, x in features.items():
        x = x.double()
        mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-8)
        standardised = (x - mean) / std
        table.scores[layer] = {f: math.nan for f in table.kinds}
        table.baseline[layer] = {}
        for f, (keep, y) in targets.items():
            where = torch.full((n,), -1)  # each code's row among the defined ones
            where[keep] = torch.arange(len(keep))
            fit, held = where[train], where[test]
            scores = _probe(standardised[keep], y, table.kinds[f], fit[fit >= 0], held[held >= 0])
            table.scores[layer][f] = float(scores[0])
            if shuffles:
                null = scores[1:]
                table.baseline[layer][f] = (float(null.mean()), float(null.std()))
    return table


def _defined(values: Tensor) -> Tensor:
    """Which values are defined: all but NaN (the rotation of a round blob, which has none)."""
    return (
        ~values.isnan() if values.is_floating_point() else torch.ones_like(values, dtype=torch.bool)
    )


def _undefined(defined: Tensor) -> str:
    """Why a factor undefined for most codes is not probed ('' when it is defined for at
    least `MIN_DEFINED` of them): a probe of the few left would read chance."""
    if float(defined.float().mean()) >= MIN_DEFINED:
        return ""
    return (
        f"undefined for {int((~defined).sum())} of the {len(defined)} generated samples (a "
        "round blob has no rotation to read): too few left to probe"
    )


def _one_value(fitted: Tensor, factor: Factor) -> str:
    """Why a probe fitted on these values would measure nothing ('' when it would not): they
    are all one class (or one value), so the probe is right by construction."""
    distinct = fitted.unique()
    if len(distinct) > 1:
        return ""
    if factor.kind != "categorical":
        return f"the {len(fitted)} codes it would be fitted on all give one value"
    value = int(distinct[0]) if len(distinct) else -1
    named = factor.values[value] if 0 <= value < len(factor.values) else str(value)
    return (
        f"the {len(fitted)} codes it would be fitted on are all read as one class ({named}): "
        "a probe of one class measures nothing"
    )


def _probe(x: Tensor, y: Tensor, kind: str, train: Tensor, test: Tensor) -> Tensor:
    """The held-out scores (S,) of one probe fitted on each row of `y` (S, n): a factor's
    values and shuffles of them (see the module docstring)."""
    if kind == "categorical":
        classes, labels = y.long().unique(return_inverse=True)
        predicted = logistic(x[train], labels[:, train], x[test], len(classes))
        return (predicted == labels[:, test]).double().mean(1)
    target = y.double()[..., None]  # (S, n, 1)
    if kind == "circular":
        target = torch.cat([target.cos(), target.sin()], 2)
    predicted = ridge_loo(x[train], target[:, train], x[test])
    error = (predicted - target[:, test]).square().sum((1, 2))
    spread = (target[:, test] - target[:, train].mean(1, keepdim=True)).square().sum((1, 2))
    return torch.where(spread > 0, 1.0 - error / spread.clamp_min(1e-300), math.nan)


def probe_layers(
    space: LatentSpace, known: KnownFactors, n_samples: int, seed: int = 0
) -> ProbeTable:
    """Sample `n_samples` codes, decode them, read their factors and probe every layer."""
    from ganhub_interpret.scoring import spread, spread_floors

    codes = space.sample(n_samples, seed).detach()
    features, values = batched_features(space, codes, known)
    floors = spread_floors(known.info, known.reference)
    # the directions' rule: a factor that does not vary among the real samples is one value
    # plus the estimator's misreadings (a run on one digit class), nothing a probe can learn
    flat = {
        key: f"barely varying among the real samples (spread {s:.3f}, under the {floor:.3f} "
        "that counts as varying): a probe of one value measures nothing"
        for key, (s, floor) in floors.items()
        if not (s > 0 and s >= floor)
    }
    # the same rule on the generated samples: a 50-step dcgan on shapes draws one blob, whose
    # "scale" (its area: its brightness) wobbles by 0.5 %, and the last layer's probe predicted
    # that wobble to R^2 0.997, read as "the layer holds the scale". All one value (spread 0)
    # is `probe_scores`'s one-class case, with its own reason.
    for key, (_, floor) in floors.items():
        drawn = spread(values[key], known.info[key].kind) if key in values else 0.0
        if key not in flat and 0 < drawn < floor:
            flat[key] = (
                f"barely varying among the {len(codes)} generated samples (spread {drawn:.3f}, "
                f"under the {floor:.3f} that counts as varying among real ones): a probe would "
                "score the generator's small wobbles, not the factor"
            )
    return probe_scores(features, values, known.info, seed=seed, skip=flat)


def probe_run(
    trained: TrainedGAN, run_dir: Path, *, n_samples: int, seed: int, out: Path | None = None
) -> tuple[ProbeTable, Path]:
    """Probe every layer of a run's generator for every known factor of its data; the table
    and where its JSON is written: `out`, or RUN_DIR/interpret/probes.json (beside an export:
    `ganhub_interpret.page.default_folder`)."""
    from ganhub_interpret.page import latent_space_of, output_dir
    from ganhub_interpret.scoring import known_factors

    from ganhub.errors import UsageError
    from ganhub.metrics import store

    space = latent_space_of(trained, run_dir)
    if out is None:
        output_dir(run_dir, create=False)  # a planted link is refused before any work
    trained.system.eval()
    known = known_factors(trained.system, n=FACTOR_REFERENCE, seed=seed)
    if known is None:
        source = trained.system.capabilities().dataset or "your own images"
        raise UsageError(
            f"probes predict known factors of the images, and this run's data ({source}) has "
            "no factor estimator; train on data=shapes or digits"
        )
    table = probe_layers(space, known, n_samples, seed)
    # the folder is made only now: a refusal above leaves no empty folder behind
    if out is None:
        out = output_dir(run_dir) / "probes.json"
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    return table, store.write_json(out, table.as_dict())


def written_probes(path: Path) -> bool:
    """Whether `path` holds probes ganhub wrote (a JSON object with probes.json's keys): the
    only file `--out` replaces."""
    import json

    try:  # probes.json is a few KB: a larger file is someone else's, and is not read
        if path.stat().st_size > 1_000_000:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and {"layers", "factors", "n_train", "n_test"} <= set(data)


__all__ = [
    "BATCH",
    "FACTOR_REFERENCE",
    "POOLED_GRID",
    "TRAIN_SHARE",
    "batched_features",
    "layer_features",
    "probe_layers",
    "probe_run",
    "probe_scores",
    "written_probes",
]
