"""Metrics of class-conditional generation: does a sample of class k look like class k, and
how close is each class's distribution to the real one?

class_accuracy  samples are drawn for every class in turn and classified: by the digit
                classifier on digit data (each channel for Stacked MNIST), else by a
                classifier trained once (and cached) on the run's own labelled real images.
                Reports the accuracy over samples (`class_acc`), its worst class
                (`class_acc_min`), the share of classes whose samples are mostly right
                (`class_coverage`), the KL of the predicted class histogram to the asked one
                (`class_kl`, over every class, by digit_kl's rule: 0 when no class is drawn
                toward another, plus what rejecting samples of classes never asked would cost),
                per-class accuracies for up to 20 classes, and the classifier's own held-out
                accuracy.
intra_fid       the mean over classes of the Frechet distance between one class's samples
                and that class's real images (Miyato & Koyama 2018), on each feature network
                of `eval.features` (`intra_fd_digits` on digits).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, ClassVar

from ganhub.errors import ConfigError
from ganhub.metrics import (
    Directions,
    Metric,
    non_finite_as_nan,
    singular_covariance,
    warn_once,
)

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from ganhub.capabilities import Capabilities
    from ganhub.conditioning import LabelSpec
    from ganhub.engine.system import GANSystem

# datasets whose images the local digit classifier reads (one digit per channel)
DIGIT_DATASETS = ("digits", "stacked_digits", "mnist")
# the classifier trained on a run's labelled real images when no known one reads them
CLASSIFIER_RECIPE = {"version": 1, "n": 5000, "epochs": 20, "width": 16, "seed": 0, "held_out": 0.2}
CLASSIFIER_BATCH = 64
# the fewest labelled images the classifier trains on: (1 - held_out) * n >= one batch
CLASSIFIER_MIN_IMAGES = math.ceil(CLASSIFIER_BATCH / (1 - CLASSIFIER_RECIPE["held_out"]))
PER_CLASS_KEYS = 20  # per-class accuracies are reported for at most this many classes
INTRA_MAX_CLASSES = 100  # intra-class FD needs enough samples per class
INTRA_MIN_PER_CLASS = 2  # a class's covariance needs two samples (of each: generated, real)


def balanced_labels(spec: LabelSpec, n: int, seed: int, classes: list[int] | None = None) -> Tensor:
    """n labels: every class (of `classes`, where given) equally often for one factor of up to
    100 classes, else uniform."""
    import torch

    if spec.factors == 1 and spec.sizes[0] <= INTRA_MAX_CLASSES:
        drawn = torch.tensor(classes) if classes else torch.arange(spec.sizes[0])
        return drawn.repeat_interleave(math.ceil(n / len(drawn)))
    from ganhub.conditioning.nets import random_labels

    gen = torch.Generator().manual_seed(seed)
    return random_labels(spec, n, torch.device("cpu"), gen)


def generate_for(system: GANSystem, labels: Tensor, seed: int, chunk: int = 500) -> Tensor:
    """Samples of the given labels, in seeded chunks, on the CPU."""
    import torch

    parts = []
    for i, start in enumerate(range(0, len(labels), chunk)):
        y = labels[start : start + chunk]
        parts.append(system.sample(len(y), seed=seed + 1_000_003 * i, labels=y).float().cpu())
    return torch.cat(parts)


def flat_labels(labels: Tensor, spec: LabelSpec) -> Tensor:
    """(B,) class ids over all factor combinations (factor 0 most significant)."""
    import torch

    if labels.ndim == 1:
        return labels
    out = torch.zeros(len(labels), dtype=torch.int64)
    for k, size in enumerate(spec.sizes):
        out = out * size + labels[:, k].cpu()
    return out


class ClassAccuracy(Metric):
    """Share of conditional samples a classifier assigns to the class they were drawn for."""

    name = "class_accuracy"
    description = (
        "accuracy of conditional samples' classes (digit classifier or one trained on the data)"
    )
    better: ClassVar[Directions] = {
        "classifier_acc": None,  # the judge's own accuracy, not the generator's
        "class_classes": None,  # how many classes were drawn: those the run trains on
        "class_kl": "lower",
        "class_coverage": "higher",
        "class_acc*": "higher",  # class_acc, _min, _factor and per class
    }

    def supports(self, caps: Capabilities) -> bool:
        """Conditional image systems with real images (to train a classifier on, if needed)."""
        return caps.modality == "image" and caps.samples and caps.labels is not None

    def check(self, system: GANSystem) -> None:
        """Data other than digits gets a classifier trained on the run's labelled images: too
        few of them, or several label factors, are refused before training, not at its end."""
        from ganhub.errors import UsageError

        caps = system.capabilities()
        if caps.dataset in DIGIT_DATASETS or caps.labels is None:
            return
        if caps.labels.factors != 1:
            raise UsageError(_MANY_FACTORS)
        n = system.real_count()
        if n < CLASSIFIER_MIN_IMAGES:
            raise ConfigError(
                f"metric 'class_accuracy' judges samples with a classifier trained on the run's "
                f"labelled images: {n} are too few (it needs {CLASSIFIER_MIN_IMAGES}); use more "
                "data or leave it out of eval.metrics"
            )

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Classify balanced conditional samples of the classes the run trains on
        (`trained_classes`, `class_classes`); per-class and overall figures."""
        import torch

        caps = system.capabilities()
        spec = caps.labels
        assert spec is not None
        trained = trained_classes(system, spec)
        asked = balanced_labels(spec, n_samples, seed, trained)
        images = generate_for(system, asked, seed)
        predicted, classifier_acc = classify(system, images, spec)
        right = (predicted == asked).all(1) if asked.ndim == 2 else predicted == asked
        out = {
            "class_acc": float(right.double().mean()),
            "classifier_acc": classifier_acc,
            "n_samples": float(len(images)),
            "class_classes": float(len(trained) if trained else spec.combinations),
        }
        if asked.ndim == 2:
            out["class_acc_factor"] = float((predicted == asked).double().mean())
        flat_asked, flat_pred = flat_labels(asked, spec), flat_labels(predicted, spec)
        k = spec.combinations
        counts = torch.bincount(flat_asked, minlength=k).double()
        hits = torch.bincount(flat_asked[right], minlength=k).double()
        drawn = counts > 0
        per_class = hits[drawn] / counts[drawn]
        out["class_acc_min"] = float(per_class.min())
        out["class_coverage"] = float((per_class >= 0.5).double().mean())
        out["class_kl"] = class_kl(torch.bincount(flat_pred, minlength=k), counts)
        if spec.factors == 1 and k <= PER_CLASS_KEYS:
            for i, name in enumerate(spec.class_names()):
                if drawn[i]:
                    out[f"class_acc_{_key(name)}"] = float(hits[i] / counts[i])
        return out


_MANY_FACTORS = "class_accuracy on data with several label factors needs digit data"


def class_kl(predicted: Tensor, asked: Tensor) -> float:
    """KL(predicted || asked) of two class histograms (counts over the same classes), by
    digit_kl's rule: the KL of the samples predicted as asked classes to the asked shares
    (a class asked for and never predicted, one the generator ignores, adds its share to the
    others'), plus ln(samples / samples predicted as asked classes), what rejecting the rest
    would cost: a sample of a class never asked for (one the run does not train on) is an
    error, 0.01 for 1% of them, ln 2 for half; none on an asked class: ln(2 n), as if half of
    one sample were (the smoothing that keeps it finite)."""
    import torch

    p, q = predicted.double(), asked.double()
    n, on = float(p.sum()), q > 0
    hit = float(p[on].sum())
    if hit == 0:
        return math.log(2 * n)
    r, shares = p[on] / hit, q[on] / q.sum()
    nz = r > 0
    kl = (r[nz] * (r[nz] / shares[nz]).log()).sum()
    return float(torch.clamp_min(kl, 0)) + math.log(n / hit)


def trained_classes(system: GANSystem, spec: LabelSpec) -> list[int] | None:
    """The classes of one label factor that the run's training data holds, where it holds
    fewer than the spec's (a run adapted to the eights keeps all ten labels): samples are
    drawn for these alone, as a class the run does not train on has nothing to be judged
    against. None: all of them (or several factors, drawn uniformly)."""
    import torch

    if spec.factors != 1 or spec.sizes[0] > INTRA_MAX_CLASSES:
        return None
    labels = system.real_labels(system.real_count())
    present = torch.bincount(labels.flatten().long(), minlength=spec.sizes[0]) > 0
    found = present.nonzero().flatten().tolist()
    return found if 0 < len(found) < spec.sizes[0] else None


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:40]


def classify(system: GANSystem, images: Tensor, spec: LabelSpec) -> tuple[Tensor, float]:
    """Predicted labels shaped like the spec's labels, and the classifier's held-out accuracy."""
    import torch

    caps = system.capabilities()
    if caps.dataset in DIGIT_DATASETS:
        from ganhub.metrics.featurenet import classify_digits, digit_classifier, digits_as_read

        digits, _ = classify_digits(digits_as_read(images, caps.dataset))
        accuracy = digit_classifier()[1].accuracy
        if digits.ndim == 2 and spec.factors == 1:  # Stacked MNIST triples: 100a + 10b + c
            digits = (digits * torch.tensor([100, 10, 1])).sum(1)
        return digits, accuracy
    if spec.factors != 1:
        from ganhub.errors import UsageError

        raise UsageError(_MANY_FACTORS)
    net, accuracy = label_classifier(system)
    preds = torch.cat([net(x).argmax(1) for x in images.split(500)])
    return preds, accuracy


def label_classifier(system: GANSystem) -> tuple[torch.nn.Module, float]:
    """A classifier of the run's real labelled images, trained once per dataset and cached on
    disk, and kept in memory while its files are unchanged (`loaded_feature_net`): read and
    hashed once per process, not at every evaluation during training. One near chance (its
    held-out accuracy) is used with a warning: the accuracy it judges measures nothing."""
    from ganhub.metrics import store
    from ganhub.metrics.featurenet import loaded_feature_net, save_feature_net, train_feature_net
    from ganhub.metrics.featurenet_trust import warn_near_chance
    from ganhub.metrics.features import data_fingerprint

    fp = data_fingerprint(system)
    key = store.digest({"data": fp, "recipe": CLASSIFIER_RECIPE, "kind": "labels"})
    folder = store.cache_dir("features")
    path = folder / f"labels-{key}.safetensors"
    with store.building(path):  # processes that need it at once train it once
        if not path.with_suffix(".json").is_file():
            r = CLASSIFIER_RECIPE
            images, labels = system.real_labelled(int(r["n"]), seed=int(r["seed"]))
            net, spec = train_feature_net(
                images, labels.long(), name="labels", dataset=fp, epochs=int(r["epochs"]),
                width=int(r["width"]), seed=int(r["seed"]), held_out=float(r["held_out"]),
                batch_size=CLASSIFIER_BATCH,
            )  # fmt: skip
            spec.recipe = dict(r)
            save_feature_net(net, spec, folder, stem=path.stem)
    net, spec = loaded_feature_net(path)
    warn_near_chance(spec, str(path.with_suffix(".json")), "the class accuracies judged by it")
    return net, spec.accuracy


class IntraFID(Metric):
    """Mean over classes of the Frechet distance between a class's samples and its real images."""

    reads_features = True

    name = "intra_fid"
    description = "intra-class Frechet distance: mean over classes (up to 100 classes)"
    better: ClassVar[Directions] = {
        "intra_classes": None,
        "intra_fid": "lower",
        "intra_fid_*": "lower",
        "intra_fd_*": "lower",
    }

    def supports(self, caps: Capabilities) -> bool:
        """Conditional image systems with up to 100 label combinations."""
        labels = caps.labels
        return (
            caps.modality == "image"
            and caps.samples
            and caps.real_samples
            and labels is not None
            and labels.combinations <= INTRA_MAX_CLASSES
        )

    def fewest_samples(self, caps: Capabilities) -> tuple[int, str]:
        """Two generated samples per class (a covariance): the samples are split evenly over
        the classes, so fewer than twice the classes leave one (or none) to a class."""
        k = caps.labels.combinations if caps.labels is not None else 1
        return INTRA_MIN_PER_CLASS * k, f"{INTRA_MIN_PER_CLASS} per class for its {k} classes"

    def check(self, system: GANSystem) -> None:
        """Every configured feature network exists (without loading or training it), and with
        eval.real=validation the held-out images have their labels."""
        from ganhub.metrics.features import check_available, extractor_names

        for name in extractor_names(system.config.eval, system.capabilities()):
            check_available(name, system.config.eval, system)
        if system.config.eval.real == "validation":
            _real_labels(system, 1)

    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Per class: FD of n_samples / classes samples against that class's real features.
        The classes are those scored (two real images or more among those compared: a few-shot
        run's held-out images hold its adapted classes only), so no sample is drawn for a
        class that is left out."""
        import torch

        from ganhub.metrics.features import (
            extractor_names,
            features_of,
            get_extractor,
            real_features,
        )
        from ganhub.metrics.formulas import frechet_distance, gaussian_stats

        caps = system.capabilities()
        spec = caps.labels
        assert spec is not None
        cfg = system.config.eval
        k = spec.combinations
        reals = []  # per extractor: its key, real features and their classes, classes scored
        for name in extractor_names(cfg, caps):
            ex = get_extractor(name, cfg, system)
            real = real_features(system, ex, cfg.n_real)["features"]
            real_flat = flat_labels(_real_labels(system, len(real)), spec)
            real_counts = torch.bincount(real_flat, minlength=k)
            key = ex.key("intra_fid")
            scored = _check_real_classes(key, real_counts, len(real), cfg.n_real)
            reals.append((ex, key, real, real_flat, scored, int(real_counts[scored].min())))
        drawn = sorted({c for *_, scored, _ in reals for c in scored}) or list(range(k))
        per_class = math.ceil(n_samples / len(drawn))
        if per_class < INTRA_MIN_PER_CLASS:  # `evaluate` refuses it first, naming the key
            fewest, why = self.fewest_samples(caps)
            raise ConfigError(
                f"n_samples={n_samples} is too few samples to score: intra_fid needs {fewest:,} "
                f"({why})"
            )
        flat = torch.tensor(drawn).repeat_interleave(per_class)
        asked = flat
        if spec.factors > 1:  # combinations in factor order
            asked = torch.stack(
                [(flat // math.prod(spec.sizes[i + 1 :])) % s for i, s in enumerate(spec.sizes)], 1
            )
        images = generate_for(system, asked, seed)
        out: dict[str, float] = {"n_samples": float(len(images))}
        classes = f"{len(drawn)} class" + ("es" if len(drawn) > 1 else "")
        for ex, key, real, real_flat, scored, smallest in reals:
            fake = non_finite_as_nan(self.name, images, features_of(ex, images)["features"])
            singular_covariance(
                self.name, key, [
                    ("generated samples per class", per_class,
                     f"n_samples {len(drawn) * (fake.shape[1] + 1):,} for {classes}"),
                    ("real images in its smallest class", smallest, "eval.n_real, or more data"),
                ], int(fake.shape[1]),
            )  # fmt: skip
            distances = [
                frechet_distance(
                    gaussian_stats(fake[flat == c]), gaussian_stats(real[real_flat == c])
                )
                for c in scored
            ]
            out[key] = float(sum(distances) / len(distances))
            out["intra_classes"] = float(len(distances))
        return out


def _check_real_classes(key: str, real_counts: Tensor, n_real: int, asked: int) -> list[int]:
    """The classes with real images enough for a covariance (2), which the mean is over. A
    class with none is not in the compared data (a few-shot run's held-out images hold only
    its kept classes): left out, as `intra_classes` says. One with a single image is too few:
    left out with a warning. None left is refused: the mean of nothing is no distance (0
    would read as a perfect one)."""
    scored = [c for c, n in enumerate(real_counts.tolist()) if n >= INTRA_MIN_PER_CLASS]
    if not scored:
        raise ConfigError(
            f"metric 'intra_fid': no class has {INTRA_MIN_PER_CLASS} real images among the "
            f"{n_real:,} compared (eval.n_real={asked:,}) to estimate its covariance; raise "
            "eval.n_real or use more data"
        )
    single = int((real_counts == 1).sum())
    if single:
        warn_once(
            f"metric 'intra_fid': {single} of {len(real_counts)} classes have 1 real image "
            f"among the {n_real:,} compared, too few for a covariance, and are left out of "
            f"{key} (intra_classes={len(scored)}); raise eval.n_real or use more data"
        )
    return scored


def _real_labels(system: GANSystem, n: int) -> Tensor:
    """The labels of the n real images the features were computed on: the training data's
    (`real_samples(n)`'s pick) or, with eval.real=validation, the held-out images' (in order)."""
    if system.config.eval.real != "validation":
        return system.real_labels(n)
    labels = system.validation_labels()
    if labels is None:
        raise ConfigError(
            f"metric 'intra_fid' with eval.real=validation: this '{system.config.plugin}' run's "
            "held-out images carry no labels (GANSystem.validation_labels); use eval.real=train"
        )
    return labels[:n]


CONDITIONAL_METRICS: tuple[Metric, ...] = (ClassAccuracy(), IntraFID())
