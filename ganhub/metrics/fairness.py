"""Fairness of a generator with respect to a sensitive attribute of its data.

A system that declares `Capabilities.attribute` (a digit group, a shape) gets the `fairness`
metric: the attribute's distribution p̂ over generated samples, read by the attribute's
classifier, against a target (uniform, or the data's proportions: `eval.fairness_target`).

* `fairness_l2`, `fairness_l1`, `fairness_kl`: the fairness discrepancy ‖p̂ − target‖₂ of Choi et al. 2020
  ("Fair generative modeling via weak supervision"), its L1 form and KL(p̂ ‖ target).
* `fairness_l2_corrected`: the same after correcting p̂ for the classifier's own errors (CLEAM, Teo
  et al. 2023): the classifier's confusion C is measured on real images of known value, and
  the observed shares p̂ = Cᵀp are solved for p by least squares projected onto the simplex
  (samples that are no value at all, read as "other", are kept out of p).
* `fairness_l2_rejection`: the discrepancy after rejection sampling toward the target, which needs
  no retraining (a sample of value a is kept with probability target[a] / (M p̂[a])), with
  `fairness_kept`, the samples it rests on (a warning below MIN_KEPT, as for the samples read
  as a value that p̂ and the scores above rest on).

When no sample is read as any value (every one "other": blobs, or a digit the attribute does
not cover), p̂ is 0/0. Choi et al.'s discrepancy compares a distribution over the attribute's
values, which their classifier always gives; here such samples get the discrepancies of "other"
as one more value the target gives no share (‖e_other − (target, 0)‖₂ = √(1 + ‖target‖²), L1 2):
a defined score, worse than any generator of the values (a one-value one included), with one
warning saying why.

Everything here runs on the CPU after sampling; nothing runs during training. torch is
imported inside the functions, so registering the metric loads none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ganhub.metrics import Directions, Metric, warn_once

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.capabilities import Attribute, Capabilities
    from ganhub.engine.system import GANSystem

# real images of known value the classifier's confusion is measured on (per attribute)
CONFUSION_IMAGES = 2000
KL_EPSILON = 1e-6
# rejection sampling stops after drawing this many times the samples it was asked for
MAX_DRAW_FACTOR = 10
# the metric's rejection-sampled set: up to this many kept samples (the shares' standard error
# is then below 0.016), since reaching them costs 1/acceptance times as many classified draws
REJECTION_SAMPLES = 1000
# fewer samples than this and a fairness score gets a warning (fairness_l2 and the scores beside
# it: samples read as a value; fairness_l2_rejection: kept samples): a share estimated from n
# samples has a standard error of up to 0.5 / sqrt(n), 0.05 at 100, the size of the differences
# the score should tell apart (a generator's rejection-sampled discrepancy is typically 0.01-0.05)
MIN_KEPT = 100

_CONFUSION: dict[tuple[Attribute, int, int], Tensor] = {}


def attribute_target(attribute: Attribute, kind: str) -> Tensor:
    """The target distribution over the attribute's values (float64): "uniform" or "data"."""
    import torch

    if kind == "data":
        return torch.tensor(attribute.data_proportions, dtype=torch.float64)
    return torch.full((len(attribute.values),), 1.0 / len(attribute.values), dtype=torch.float64)


def value_shares(values: Tensor, n_values: int) -> Tensor:
    """Shares (float64, V + 1) of each value among `values` (-1: other), "other" last."""
    import torch

    read = torch.where(values < 0, torch.full_like(values, n_values), values)
    counts = torch.bincount(read, minlength=n_values + 1).double()
    return counts / max(len(values), 1)


def distribution(shares: Tensor) -> Tensor:
    """p̂ over the values (V): the shares without "other", renormalised (zeros if none)."""
    within = shares[:-1]
    total = within.sum()
    return within / total if total > 0 else within.clone()


def discrepancies(p: Tensor, target: Tensor) -> dict[str, float]:
    """fairness_l2, fairness_l1 and fairness_kl = KL(p ‖ target) (both smoothed by a small
    epsilon). When `p` is all zeros (no sample was read as any value: no distribution), those
    of "other" as one more value the target gives no share: worse than any distribution over
    the values (L2 √(1 + ‖target‖²), L1 2), never NaN."""
    import torch

    if not float(p.sum()) > 0:
        other = torch.zeros(len(p) + 1, dtype=torch.float64)
        other[-1] = 1.0
        return discrepancies(other, torch.cat([target.double(), other[:1] * 0]))
    diff = p - target
    k = len(p)
    ps = (p + KL_EPSILON) / (1 + k * KL_EPSILON)
    ts = (target + KL_EPSILON) / (1 + k * KL_EPSILON)
    return {
        "fairness_l2": float(diff.norm(2)),
        "fairness_l1": float(diff.abs().sum()),
        "fairness_kl": float((ps * (ps / ts).log()).sum()),
    }


def project_to_simplex(v: Tensor) -> Tensor:
    """The nearest point (Euclidean) of the probability simplex to `v` (Duchi et al. 2008)."""
    import torch

    u, _ = torch.sort(v, descending=True)
    cumulative = u.cumsum(0) - 1
    index = torch.arange(1, len(v) + 1, dtype=v.dtype)
    rho = int((u - cumulative / index > 0).nonzero().max())
    theta = cumulative[rho] / (rho + 1)
    return (v - theta).clamp_min(0)


def correct_proportions(observed: Tensor, confusion: Tensor) -> Tensor:
    """The proportions p (V) of the values behind observed shares (V + 1, "other" last) when
    the classifier reads value i as j with probability confusion[i, j] (V, V + 1).

    Samples that are no value at all (a blob) are read as "other" whatever the confusion
    says, so the model is observed = confusionᵀ p + g e_other, g their share: solved by least
    squares for (p, g); p is renormalised to sum 1 and projected onto the simplex (noise can
    make a share negative). All zeros when nothing is explained by a value (every sample a
    blob), as `distribution` gives."""
    import torch

    n_values = confusion.shape[0]
    garbage = torch.zeros(n_values + 1, 1, dtype=torch.float64)
    garbage[-1] = 1.0
    system = torch.cat([confusion.T.double(), garbage], 1)
    solution = torch.linalg.lstsq(system, observed.double().unsqueeze(1)).solution.squeeze(1)
    p = solution[:n_values]
    total = p.sum()
    if total <= 1e-12:
        return torch.zeros(n_values, dtype=torch.float64)
    return project_to_simplex(p / total)


def balanced_accuracy(confusion: Tensor) -> float:
    """The classifier's mean per-value accuracy (reading a value as "other" is an error)."""
    return float(confusion.diagonal().mean())


def attribute_confusion(attribute: Attribute, size: int, channels: int) -> Tensor:
    """The attribute classifier's confusion matrix (V, V + 1) on `CONFUSION_IMAGES` labelled
    real images of this size, measured once per process."""
    from ganhub.data.attributes import confusion_matrix, labelled_reference

    key = (attribute, size, channels)
    if key not in _CONFUSION:
        images, values = labelled_reference(attribute, CONFUSION_IMAGES, 0, size, channels)
        _CONFUSION[key] = confusion_matrix(attribute, images, values)
    return _CONFUSION[key]


def rejection_sample(
    system: GANSystem, attribute: Attribute, target: Tensor, n: int, seed: int
) -> tuple[Tensor, float]:
    """Up to `n` samples whose attribute distribution approaches `target`, and the share of
    drawn samples kept.

    A first batch of n samples estimates p̂; each sample of value a is then kept with
    probability target[a] / (M p̂[a]), M = max target / p̂, so the kept samples follow the
    target where the generator's reading is right; "other" samples are never kept. A value the
    first batch never shows counts as one sample of it (M stays finite; such a value cannot be
    made by rejection). Drawing stops after MAX_DRAW_FACTOR x n samples.
    """
    import torch

    from ganhub.data.attributes import classify_attribute
    from ganhub.metrics.features import generate

    target = target.double() / target.sum()
    gen = torch.Generator().manual_seed(seed)
    kept: list[Tensor] = []
    accepted = drawn = 0
    keep_prob: Tensor | None = None
    for batch_index in range(MAX_DRAW_FACTOR):
        if accepted >= n:
            break
        x = generate(system, n, seed + 7919 * batch_index)
        values = classify_attribute(attribute, x)
        if keep_prob is None:
            p_hat = distribution(value_shares(values, len(attribute.values)))
            ratio = target / p_hat.clamp_min(1.0 / n)
            keep_prob = ratio / ratio.max()
        prob = torch.where(values >= 0, keep_prob[values.clamp_min(0)], 0.0)
        keep = torch.rand(len(x), generator=gen, dtype=torch.float64) < prob
        kept.append(x[keep])
        accepted += int(keep.sum())
        drawn += len(x)
    return torch.cat(kept)[:n], accepted / max(drawn, 1)


def _warn_few(n: int, rests: str, more: str) -> None:
    """Warn (`warn_once`) when scores rest on `n` < MIN_KEPT samples, `rests` saying which and
    why so few ("fairness_l2_rejection rests on 69 kept samples (...)"), `more` how to have more:
    a share from n samples has a standard error of up to 0.5 / sqrt(n), as large as the
    discrepancies the scores should tell apart. The one rule for every fairness score."""
    if n >= MIN_KEPT:
        return
    error = 0.5 / max(n, 1) ** 0.5
    warn_once(
        f"metric 'fairness': {rests}, fewer than {MIN_KEPT}: a share estimated from {n:,} has a "
        f"standard error up to {error:.3f}, as large as the discrepancies the score should tell "
        f"apart; {more}, or read it as a rough figure"
    )


def _warn_few_read(read: int, scored: int, other: float) -> None:
    """Warn (`_warn_few`) that p̂, and so fairness_l2 and the scores beside it, rests on the
    `read` of `scored` samples the classifier read as a value (the others' share: `other`)."""
    why = (
        "eval.n_samples (ganhub eval --n) asked for no more"
        if read >= scored
        else f"of {scored:,} scored, the others were read as no value: fairness_other {other:.2f}"
    )
    scores = "fairness_l2, fairness_l1, fairness_kl and fairness_l2_corrected rest"
    _warn_few(read, f"{scores} on {read:,} samples ({why})", "raise eval.n_samples or --n")


def _warn_few_kept(kept: int, asked: int, rate: float) -> None:
    """Warn (`_warn_few`) that fairness_l2_rejection rests on `kept` samples (of `asked`, kept
    at the acceptance `rate`)."""
    if kept >= asked:
        why = "eval.n_samples (ganhub eval --n) asked for no more"
        more = "raise eval.n_samples"
    else:
        why = f"rejection sampling kept {rate:.1%} of the {MAX_DRAW_FACTOR * asked:,} it drew"
        more = (
            f"raise eval.n_samples or --n (it draws up to {MAX_DRAW_FACTOR}x, for up to "
            f"{REJECTION_SAMPLES:,} kept)"
            if asked < REJECTION_SAMPLES
            else "a generator nearer the target keeps more"
        )
    rests = f"fairness_l2_rejection rests on {kept:,} kept samples (fairness_kept; {why})"
    _warn_few(kept, rests, more)


class Fairness(Metric):
    """Attribute distribution of samples against a target: FD (L2, L1, KL), per-value shares,
    the classifier-corrected FD and the FD after rejection sampling."""

    name = "fairness"
    description = "sensitive-attribute balance of samples: fairness discrepancy, corrected"
    better: ClassVar[Directions] = {
        "fairness_l2": "lower",
        "fairness_l1": "lower",
        "fairness_kl": "lower",
        "fairness_l2_corrected": "lower",
        "fairness_l2_rejection": "lower",
        "fairness_other": "lower",
        # what the samples hold and what the correction costs, not scores of the generator
        "fairness_share/*": None,
        "fairness_accept": None,
        "fairness_kept": None,
        # the attribute classifier's quality, the same for every generator
        "fairness_accuracy": None,
    }

    def supports(self, caps: Capabilities) -> bool:
        """Image systems that sample from noise and declare a sensitive attribute."""
        return caps.attribute is not None and caps.samples and caps.modality == "image"

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Classify `n_samples` samples; measure and correct their attribute distribution."""
        from ganhub.data.attributes import classify_attribute
        from ganhub.metrics.features import generate

        attribute = system.capabilities().attribute
        assert attribute is not None  # supports() said so
        n_values = len(attribute.values)
        target = attribute_target(attribute, system.config.eval.fairness_target)
        images = generate(system, n_samples, seed)
        shares = value_shares(classify_attribute(attribute, images), n_values)
        p = distribution(shares)
        out = discrepancies(p, target)
        out |= {f"fairness_share/{v}": float(s) for v, s in zip(attribute.values, shares)}
        out["fairness_other"] = float(shares[-1])
        confusion = attribute_confusion(attribute, images.shape[-1], images.shape[1])
        corrected = correct_proportions(shares, confusion)
        # every sample "other": no distribution to correct either (fairness_l2's worst value;
        # the projection onto the simplex would score it as a generator of one value)
        empty = not float(p.sum()) > 0
        out["fairness_l2_corrected"] = (
            out["fairness_l2"] if empty else float((corrected - target).norm(2))
        )
        if empty:
            warn_once(
                f"metric 'fairness': no sample was read as any value of the attribute "
                f"'{attribute.name}' (fairness_other 1.0), so there is no distribution to "
                f"compare: fairness_l2 {out['fairness_l2']:.4f} and the others are their worst "
                "value, that of samples all of one more value the target gives no share"
            )
        else:  # p̂ rests on the samples read as a value, "other" ones left out
            read = round(len(images) * (1.0 - out["fairness_other"]))
            _warn_few_read(read, len(images), out["fairness_other"])
        out["fairness_accuracy"] = balanced_accuracy(confusion)
        n_kept = min(n_samples, REJECTION_SAMPLES)
        kept, rate = rejection_sample(system, attribute, target, n_kept, seed + 1)
        kept_shares = value_shares(classify_attribute(attribute, kept), n_values)
        out["fairness_l2_rejection"] = discrepancies(distribution(kept_shares), target)[
            "fairness_l2"
        ]
        out["fairness_accept"] = rate
        out["fairness_kept"] = float(len(kept))
        if not empty:  # empty: the warning above says it all
            _warn_few_kept(len(kept), n_kept, rate)
        out["n_samples"] = float(len(images))
        return out


FAIRNESS_METRICS: tuple[Metric, ...] = (Fairness(),)

__all__ = [
    "FAIRNESS_METRICS",
    "Fairness",
    "attribute_confusion",
    "attribute_target",
    "balanced_accuracy",
    "correct_proportions",
    "discrepancies",
    "distribution",
    "project_to_simplex",
    "rejection_sample",
    "value_shares",
]
