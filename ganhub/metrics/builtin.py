"""The built-in metrics and evaluation commands, registered through the hooks like any plugin's.

Distribution metrics (fid, kid, precision_recall, density_coverage, inception_score) compare
generated and real features from each extractor in ``eval.features``; ``ssim_diversity`` and
``digit_modes`` look at the samples themselves. Every result carries its sample counts.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar, Protocol, cast

from ganhub.hookspecs import Register, hookimpl
from ganhub.metrics import Directions, Metric, non_finite_as_nan

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.capabilities import Capabilities
    from ganhub.config.schema import EvalConfig
    from ganhub.engine.system import GANSystem
    from ganhub.errors import UsageError
    from ganhub.metrics.features import Extractor


class ImageMetric(Metric):
    """A metric on images a system samples from noise, compared with its real images."""

    libraries: tuple[str, ...] = ()

    def supports(self, caps: Capabilities) -> bool:
        """Systems that declare image samples from noise and real images to compare with."""
        return caps.modality == "image" and caps.samples and caps.real_samples

    def check(self, system: GANSystem) -> None:
        """Raise now if a library this metric needs is missing."""
        from ganhub.metrics.formulas import require

        for module in self.libraries:
            require(module, self.name)


class FeatureMetric(ImageMetric):
    """A distance between generated and real features, once per extractor in eval.features."""

    reads_features = True

    libraries: tuple[str, ...] = ("torch_fidelity",)
    # the fewest real samples the score needs (a covariance; k-NN balls need k + 1)
    min_real: ClassVar[int] = 2

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Score `n_samples` generated images against up to eval.n_real real ones."""
        from ganhub.metrics.features import (
            extractor_names,
            features_of,
            generate,
            get_extractor,
            real_features,
        )

        cfg = system.config.eval
        images = generate(system, n_samples, seed)
        out: dict[str, float] = {"n_samples": float(len(images))}
        for name in extractor_names(cfg, system.capabilities()):
            extractor = get_extractor(name, cfg, system)
            real = real_features(system, extractor, cfg.n_real)
            self.check_real_count(len(real["features"]), system)
            fake = features_of(extractor, images)
            fake = {**fake, "features": non_finite_as_nan(self.name, images, fake["features"])}
            out.update(self.score(extractor, fake, real, seed))
            # the fewest any extractor's score rests on (the last one's replaced the others')
            out["n_real"] = min(float(len(real["features"])), out.get("n_real", math.inf))
        return out

    def check(self, system: GANSystem) -> None:
        """Libraries, every configured extractor (without loading or training it), and the
        held-out samples `eval.real=validation` compares with."""
        from ganhub.metrics.features import check_available, extractor_names, validation_reference

        super().check(system)
        cfg = system.config.eval
        if cfg.real == "validation":
            self.check_real_count(min(cfg.n_real, len(validation_reference(system))), system)
        else:
            self.check_real_count(min(cfg.n_real, system.real_count()), system)
        for name in extractor_names(system.config.eval, system.capabilities()):
            check_available(name, system.config.eval, system)

    def check_real_count(self, n_real: int, system: GANSystem) -> None:
        """Refuse fewer real samples than the score needs, naming what caps them."""
        from ganhub.errors import ConfigError

        if n_real < self.min_real:
            cfg = system.config.eval
            source = "held-out samples" if cfg.real == "validation" else "training samples"
            raise ConfigError(
                f"metric '{self.name}' needs at least {self.min_real} real samples; this run has "
                f"{n_real} {source} to compare with (eval.n_real={cfg.n_real})"
            )

    @abstractmethod
    def score(
        self, ex: Extractor, fake: dict[str, Tensor], real: dict[str, Tensor], seed: int
    ) -> dict[str, float]:
        """The metric's values on one extractor's features."""


class FID(FeatureMetric):
    """Frechet distance of features: 'fid' on Inception, 'fd_<net>' on a local network."""

    name = "fid"
    # fid, fid_<label> (other Inception weights), fd_<net> (a local feature network)
    better: ClassVar[Directions] = {"fid": "lower", "fid_*": "lower", "fd_*": "lower"}
    min_samples = 2  # a covariance

    def score(
        self, ex: Extractor, fake: dict[str, Tensor], real: dict[str, Tensor], seed: int
    ) -> dict[str, float]:
        """Frechet distance between the generated and the cached real Gaussian."""
        from ganhub.metrics import singular_covariance
        from ganhub.metrics.formulas import GaussianStats, frechet_distance, gaussian_stats

        key = ex.key("fid")
        singular_covariance(
            self.name, key, [
                ("generated samples", len(fake["features"]), "eval.n_samples, ganhub eval --n"),
                ("real samples", len(real["features"]), "eval.n_real, or more data"),
            ], int(fake["features"].shape[1]),
        )  # fmt: skip
        real_stats = GaussianStats(
            real["mu"].double().numpy(), real["sigma"].double().numpy(), len(real["features"])
        )
        return {key: frechet_distance(gaussian_stats(fake["features"]), real_stats)}


class KID(FeatureMetric):
    """Kernel distance (unbiased MMD^2, cubic kernel) over 100 subsets: mean and std."""

    name = "kid"
    better: ClassVar[Directions] = {
        "kid_std*": None,
        "kd_*_std": None,
        "kid": "lower",
        "kid_*": "lower",
        "kd_*": "lower",
    }
    min_samples = 2  # the unbiased MMD^2 divides by m - 1
    subsets: ClassVar[int] = 100
    subset_size: ClassVar[int] = 1000

    def score(
        self, ex: Extractor, fake: dict[str, Tensor], real: dict[str, Tensor], seed: int
    ) -> dict[str, float]:
        """KID mean and std over subsets of up to 1,000 samples; no std when every subset is
        both whole sets (equal counts of at most 1,000), whose spread is 0 by construction."""
        from ganhub.metrics import warn_once
        from ganhub.metrics.formulas import kid

        n_fake, n_real = len(fake["features"]), len(real["features"])
        mean, std = kid(
            fake["features"], real["features"], seed=seed,
            subsets=self.subsets, subset_size=self.subset_size,
        )  # fmt: skip
        if n_fake == n_real <= self.subset_size:
            warn_once(
                f"metric 'kid': {ex.key('kid_std')} left out: {n_fake:,} generated and {n_real:,} "
                f"real samples are at most its subset size ({self.subset_size:,}), so every "
                "subset is the whole of both sets and their spread is 0 by construction; "
                f"score more than {self.subset_size:,} of either for a std over subsets"
            )
            return {ex.key("kid"): mean}
        return {ex.key("kid"): mean, ex.key("kid_std"): std}


class PrecisionRecall(FeatureMetric):
    """Improved precision (fidelity) and recall (coverage of the data), k=3 neighbours."""

    name = "precision_recall"
    better: ClassVar[Directions] = {"precision*": "higher", "recall*": "higher"}
    k: ClassVar[int] = 3
    # precision draws k-NN balls around the real samples, recall around the generated ones
    min_samples = min_real = k + 1

    def score(
        self, ex: Extractor, fake: dict[str, Tensor], real: dict[str, Tensor], seed: int
    ) -> dict[str, float]:
        """Precision and recall with k=3 (Kynkaanniemi et al. 2019)."""
        from ganhub.metrics.formulas import precision_recall

        precision, recall = precision_recall(fake["features"], real["features"].double(), k=self.k)
        return {ex.key("precision"): precision, ex.key("recall"): recall}


class DensityCoverage(FeatureMetric):
    """Density and coverage (Naeem et al. 2020), k=5: robust to outliers, unlike P/R."""

    name = "density_coverage"
    better: ClassVar[Directions] = {"density*": "higher", "coverage*": "higher"}
    libraries = ()
    k: ClassVar[int] = 5
    min_real = k + 1  # k-NN balls around the real samples, each without itself

    def score(
        self, ex: Extractor, fake: dict[str, Tensor], real: dict[str, Tensor], seed: int
    ) -> dict[str, float]:
        """Density and coverage with k=5."""
        from ganhub.metrics.formulas import density_coverage

        density, coverage = density_coverage(fake["features"], real["features"], k=self.k)
        return {ex.key("density"): density, ex.key("coverage"): coverage}


class InceptionScore(ImageMetric):
    """Inception Score over 10 splits (needs class logits: Inception weights or a classifier)."""

    reads_features = True
    # one sample is its own marginal: KL 0 and a score of 1 whatever the generator
    min_samples = 2

    name = "inception_score"
    better: ClassVar[Directions] = {
        "inception_score_std*": None,
        "is_*_std": None,
        "inception_score*": "higher",
        "is_*": "higher",
    }

    def check(self, system: GANSystem) -> None:
        """Every extractor of eval.features can be had, and one gives class logits (checked
        without loading or training any), so a run is refused before training, not at its
        first evaluation, and `ganhub eval` before it scores the other metrics."""
        from ganhub.metrics.features import check_available, extractor_names

        super().check(system)
        cfg = system.config.eval
        names = extractor_names(cfg, system.capabilities())
        for name in names:
            check_available(name, cfg, system)
        if not any(gives_logits(name, cfg) for name in names):
            raise no_logits(names)

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """IS mean and std on every extractor in eval.features that has class logits."""
        from ganhub.metrics.features import extractor_names, features_of, generate, get_extractor
        from ganhub.metrics.formulas import inception_score

        cfg = system.config.eval
        names = extractor_names(cfg, system.capabilities())
        extractors = [e for e in (get_extractor(n, cfg, system) for n in names) if e.has_logits]
        if not extractors:
            raise no_logits(names)
        images = generate(system, n_samples, seed)
        out: dict[str, float] = {"n_samples": float(len(images))}
        for ex in extractors:
            logits = non_finite_as_nan(self.name, images, features_of(ex, images)["logits"])
            mean, std = inception_score(logits, seed=seed)
            out[ex.key("inception_score")] = mean
            out[ex.key("inception_score_std")] = std
        return out


def no_logits(names: list[str]) -> UsageError:
    """The one-line error of inception_score when none of eval.features gives class logits."""
    from ganhub.errors import UsageError

    if "inception" in names:
        how = "(fid-helper's Inception gives pool features only): set eval.inception_weights=PATH"
    else:
        how = (
            "(only classifiers do): add digits, shapes or a network trained with labels "
            "(ganhub features train data=digits), or inception with eval.inception_weights=PATH"
        )
    return UsageError(
        f"metric 'inception_score' needs class logits; eval.features={names} has none {how}"
    )


def gives_logits(name: str, cfg: EvalConfig) -> bool:
    """Whether the extractor `name` of eval.features gives class logits, known without loading
    it: Inception from a weights file or the download (not fid-helper's copy), the built-in
    classifiers, a local network saved as a classifier (rotation networks give none)."""
    import json

    from ganhub.metrics.features import (
        BUILT_IN_NETS,
        ROTNET,
        feature_net_file,
        fidhelper_file,
        inception_file,
    )

    if name == "inception":
        return inception_file(cfg) is not None or cfg.allow_download or fidhelper_file() is None
    if name in BUILT_IN_NETS:
        return True
    if name == ROTNET:
        return False
    try:
        kind = json.loads(feature_net_file(name).with_suffix(".json").read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return True  # loading it says what is wrong with the file
    return kind == "classifier"


class SSIMDiversity(ImageMetric):
    """Mean SSIM and MS-SSIM between pairs of samples: lower is more diverse (real for scale)."""

    name = "ssim_diversity"
    # similar pairs of samples mean little diversity; the real pairs are the data's own level
    better: ClassVar[Directions] = {
        "ssim": "lower",
        "ms_ssim": "lower",
        "ssim_real": None,
        "ms_ssim_real": None,
    }
    min_samples = 2  # pairs of different samples

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Pairs (i, i+1) of n generated samples, and of n real samples for comparison."""
        from ganhub.metrics.features import generate
        from ganhub.metrics.formulas import pairwise_ssim

        fake = generate(system, n_samples, seed)
        real = system.real_samples(n_samples, seed)
        # NaN or inf pixels make the means NaN: the same one warning as the feature metrics
        non_finite_as_nan(self.name, fake, fake[:, :1, 0, 0])
        ssim, ms_ssim = pairwise_ssim(fake, fake.roll(1, 0))
        ssim_real, ms_ssim_real = pairwise_ssim(real, real.roll(1, 0))
        return {
            "ssim": ssim,
            "ms_ssim": ms_ssim,
            "ssim_real": ssim_real,
            "ms_ssim_real": ms_ssim_real,
            "n_samples": float(len(fake)),
        }


# datasets whose images the local digit classifier reads (one digit per channel)
DIGIT_DATASETS = ("digits", "stacked_digits", "mnist")
# the named interface (`Capabilities.provides`) of a system that says which digits it trains on
TRAINED_DIGITS = "trained_digits"


class TrainedDigits(Protocol):
    """'trained_digits': the digits a run trains on (some of them: `data.classes`, biased
    shares), which `digit_modes` compares its samples with instead of all ten equally."""

    def trained_digits(self) -> dict[int, float]:
        """Each digit (0-9) the training data holds and its share of it (the shares sum to 1)."""


class DigitModes(ImageMetric):
    """MNIST classes or Stacked-MNIST modes (a digit per channel) and KL to the digits the run
    trains on (uniform over all ten, or what 'trained_digits' declares)."""

    name = "digit_modes"
    better: ClassVar[Directions] = {
        "digit_classes": "higher",
        "digit_kl": "lower",
        "digit_other": "lower",
        "digit_confidence": "higher",
        "stacked_modes": "higher",
        "stacked_kl": "lower",
    }

    def supports(self, caps: Capabilities) -> bool:
        """Image systems that declare MNIST digits (or Stacked MNIST) as their dataset, or the
        digits they train on ('trained_digits': a conditional run on some of the digits)."""
        digits = caps.dataset in DIGIT_DATASETS or caps.can(TRAINED_DIGITS)
        return super().supports(caps) and digits

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Classify each sample (each channel for Stacked MNIST) with the local digit classifier.

        digits: scored against the digits the run trains on (`digit_scores`); Stacked MNIST: a
        mode counts when any sample lands in it (the VEEGAN/PacGAN protocol).
        """
        import torch

        from ganhub.metrics.featurenet import classify_digits, digits_as_read
        from ganhub.metrics.features import generate
        from ganhub.metrics.formulas import kl_to_uniform

        images = generate(system, n_samples, seed)
        dataset = system.capabilities().dataset
        labels, confidence = classify_digits(digits_as_read(images, dataset))
        out = {
            "digit_confidence": float(confidence.double().mean()),
            "n_samples": float(len(images)),
        }
        if labels.ndim == 1:
            shares = torch.full((10,), 0.1, dtype=torch.float64)
            if system.capabilities().can(TRAINED_DIGITS):
                shares = torch.zeros(10, dtype=torch.float64)
                for digit, share in cast("TrainedDigits", system).trained_digits().items():
                    shares[digit] = share
            return {**out, **digit_scores(torch.bincount(labels, minlength=10), shares)}
        modes = labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]
        counts = torch.bincount(modes, minlength=1000)
        return {
            **out,
            "stacked_modes": float((counts > 0).sum()),
            "stacked_kl": kl_to_uniform(counts),
        }


def digit_scores(counts: Tensor, shares: Tensor) -> dict[str, float]:
    """digit_modes' scores of a histogram of classified samples (10 counts) against the shares
    of the digits the run trains on (10 values summing to 1; 0: a digit it never saw).

    digit_classes  the trained digits covered: those with a tenth of their share of the samples
    digit_kl       KL(histogram of the samples on trained digits || shares) + ln(samples /
                   samples on trained digits): a sample of another digit is an error, which
                   costs what rejecting it would (0.01 for 1% of them, ln 2 for half; none on
                   a trained digit: ln(2 n), as if half of one were); all ten digits trained
                   equally: the KL to uniform, 0 to ln 10
    digit_other    with fewer than ten digits trained: the share of samples of other digits
    """
    n = float(counts.sum())
    trained = shares > 0
    # a tenth of its share (1e-9: 0.1 * n * 0.1 is a hair above n / 100 in floats)
    covered = (counts >= 0.1 * n * shares - 1e-9) & trained
    out = {"digit_classes": float(covered.sum())}
    on = counts[trained].double()
    hit = float(on.sum())
    if hit == 0:
        out["digit_kl"] = math.log(2 * n)
    else:
        r, p = on / hit, shares[trained].double()
        nz = r > 0
        out["digit_kl"] = float((r[nz] * (r[nz] / p[nz]).log()).sum()) + math.log(n / hit)
    if not bool(trained.all()):
        out["digit_other"] = 1 - hit / n
    return out


BUILTIN_METRICS: tuple[Metric, ...] = (
    FID(),
    KID(),
    InceptionScore(),
    PrecisionRecall(),
    DensityCoverage(),
    SSIMDiversity(),
    DigitModes(),
)


@hookimpl
def register_metrics(register: Register) -> None:
    """Register the built-in metrics (and the conditional ones, `ganhub.metrics.conditional`,
    and the fairness one, `ganhub.metrics.fairness`)."""
    from ganhub.metrics.conditional import CONDITIONAL_METRICS
    from ganhub.metrics.fairness import FAIRNESS_METRICS

    for metric in (*BUILTIN_METRICS, *CONDITIONAL_METRICS, *FAIRNESS_METRICS):
        register(metric.name, metric)
