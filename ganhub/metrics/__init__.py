"""The metric interface: registered objects that score a trained system.

A metric decides what it can score from the system's declared `Capabilities` alone
(`supports(caps)`), so it never needs to know a domain's classes; `compute` then samples from
the system through the interfaces those capabilities promise.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ganhub.closed_output import say
from ganhub.errors import ConfigError, PluginError, plugin_code

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.capabilities import Capabilities
    from ganhub.config.schema import EvalConfig
    from ganhub.engine.system import GANSystem


Better = Literal["lower", "higher"]
# A metric's declaration: reported key (or key pattern) -> which way it improves (None: no score)
Directions = Mapping[str, Better | None]

# Keys any evaluation may report that are counts, not scores (`evaluate` adds n_samples itself).
COUNT_KEYS: Directions = {"n_samples": None, "n_real": None, "n_pairs": None}


class Metric(ABC):
    """A named evaluation returning floats; `compute` samples from the system itself."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Which way each reported key improves: "lower" or "higher" is better, or None for what is
    # not a score (a count, a spread over subsets, the real data's own level). Keys may be
    # shell-style patterns (`fd_*`) for names that depend on the feature network; an exact key
    # wins over patterns, then the first matching pattern. trainer.keep_best and tuning read it.
    better: ClassVar[Directions] = {}
    # The fewest generated samples `compute` can score: a covariance needs 2, k-NN balls k + 1.
    # Evaluation refuses fewer in one line (before training, for a run's eval.n_samples).
    min_samples: ClassVar[int] = 1
    # Whether it scores on the feature networks of eval.features (FID, IS, intra-FID): what
    # eval.features and Inception's keys (eval.inception_weights) change.
    reads_features: ClassVar[bool] = False

    def direction(self, key: str) -> Better | None:
        """Which way reported `key` improves (None: not a score); KeyError if undeclared."""
        if key in self.better:
            return self.better[key]
        for pattern, way in self.better.items():
            if fnmatchcase(key, pattern):
                return way
        if key in COUNT_KEYS:
            return COUNT_KEYS[key]
        raise KeyError(key)

    def fewest_samples(self, caps: Capabilities) -> tuple[int, str]:
        """The fewest generated samples `compute` can score on a system declaring `caps`, and
        why when that depends on the system (intra_fid: "2 per class for its 10 classes");
        default: `min_samples`. Evaluation refuses fewer, as it refuses fewer than min_samples."""
        return self.min_samples, ""

    def scores(self) -> list[str]:
        """The keys and key patterns this metric declares as scores (a direction, not None)."""
        return [key for key, way in self.better.items() if way is not None]

    def supports(self, caps: Capabilities) -> bool:
        """Whether this metric can score a system that declares `caps` (default: any)."""
        return True

    def check(self, system: GANSystem) -> None:  # noqa: B027 (optional, not abstract)
        """Raise a one-line error now if something this metric needs is missing (a library, a
        feature network), so a run fails before training rather than at its end."""

    @abstractmethod
    def compute(self, system: GANSystem, *, n_samples: int, seed: int) -> dict[str, float]:
        """Score `n_samples` generated samples; keys are reported as-is (e.g. 'modes')."""


# The rotation-prediction feature network every image or volume domain can use (`rotnet`):
# trained once per dataset on the run's real samples, batches of 64 with a fifth held out.
# Bump `version` when the recipe changes, so cached networks trained by older code are retrained.
# Images larger than `max_side` pixels are downsampled to it (antialiased) for training and
# scoring: at 256 px training took many minutes on a CPU, at 64 px 1/16 of that; structure
# finer than a 64 px image shows is not measured (Inception FID, eval.features=[inception],
# works at 299 px). Volumes keep their size.
ROTNET_RECIPE = {"version": 2, "n": 4000, "epochs": 30, "width": 16, "seed": 0, "held_out": 0.2,
                 "max_side": 64}  # fmt: skip
ROTNET_BATCH = 64
# the fewest real samples it trains on: (1 - held_out) * n >= one batch
ROTNET_MIN_IMAGES = math.ceil(ROTNET_BATCH / (1 - ROTNET_RECIPE["held_out"]))


def direction_of(key: str, metrics: Sequence[Metric]) -> Better | None:
    """Which way `key` improves among these metrics, or None when none of them declares it a
    score (when several declare it, the last one's declaration counts)."""
    for metric in reversed(metrics):
        try:
            return metric.direction(key)
        except KeyError:
            continue
    return None


def declared_directions(keys: Iterable[str], metrics: Sequence[Metric]) -> dict[str, Better | None]:
    """{key: which way it improves} for the keys these metrics declare (counts: None), as a
    run records it with its scores; undeclared keys are left out."""
    return {k: direction_of(k, metrics) for k in keys if not undeclared([k], metrics)}


def reported_by(key: str, metrics: Iterable[tuple[str, Metric]]) -> str | None:
    """The name of the metric whose declared keys (or key patterns) include `key` (`fd_digits`:
    fid's), if one does; the counts every metric may report are no one's."""
    if key in COUNT_KEYS:
        return None
    for name, metric in metrics:
        try:
            metric.direction(key)
        except KeyError:
            continue
        return name
    return None


def undeclared(keys: Iterable[str], metrics: Sequence[Metric]) -> list[str]:
    """The keys none of these metrics declares in `better` (the metric contract asks for all)."""

    def declared(key: str) -> bool:
        for metric in metrics:
            try:
                metric.direction(key)
            except KeyError:
                continue
            return True
        return False

    return [key for key in keys if not declared(key)]


@dataclass
class Evaluation:
    """What `evaluate` computed, which of the asked metrics do not apply to the system, the
    warnings its metrics gave (`warn_once`: a score resting on too few samples) and which way
    each reported key improves, as the metric that reported it declares (None: no score).

    `values` holds each count (`n_samples`, `n_real`, `n_pairs`) once, the fewest any metric
    reported (what every score rests on at least); `counts` holds each metric's own, by its
    name: `{"fid": {"n_samples": 500, "n_real": 5000}, "text_bleu": {...}}`."""

    values: dict[str, float] = field(default_factory=dict)
    better: dict[str, Better | None] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, float]] = field(default_factory=dict)


_WARNED: set[str] = set()  # the warnings this process has printed (a run evaluates many times)
_COLLECTED: ContextVar[list[str] | None] = ContextVar("ganhub_metric_warnings", default=None)


def warn_once(line: str) -> None:
    """A metric's one-line warning ("ganhub: warning: " is added): on stderr the first time
    this process meets it, and kept in the result of the `evaluate` running (`ganhub eval`
    writes them to eval.json), so a doubtful score is never silent nor repeated every time."""
    line = f"ganhub: warning: {line}"
    if line not in _WARNED:
        _WARNED.add(line)
        say(line)
    collected = _COLLECTED.get()
    if collected is not None and line not in collected:
        collected.append(line)


def singular_covariance(
    metric: str, key: str, counts: Sequence[tuple[str, int, str]], dims: int
) -> None:
    """Warn (`warn_once`) when a Frechet distance `key` rests on covariances estimated from no
    more samples than feature dimensions: `counts` holds (what, how many, where more come
    from), e.g. ("generated samples per class", 2, "n_samples 1,290 for 10 classes"). Such a
    covariance is singular (rank n - 1 at most), which inflates the distance."""
    short = [(what, n, more) for what, n, more in counts if n <= dims]
    if not short:
        return
    rests = " and ".join(f"{n:,} {what}" for what, n, _ in short)
    rank = min(n for _, n, _ in short) - 1
    warn_once(
        f"metric '{metric}': {key} rests on {rests} in {dims:,} feature dimensions, a singular "
        f"covariance (rank {rank:,} at most) that inflates the distance; {dims + 1:,} or more "
        f"give a full-rank one ({'; '.join(more for _, _, more in short)})"
    )


def check_sample_count(
    metrics: Sequence[Metric], n_samples: int, key: str, caps: Capabilities | None = None
) -> None:
    """Refuse `n_samples` (given as `key`) when a metric needs more, naming each and its need
    (with `caps`, what the system's declaration adds: intra_fid's samples per class)."""
    needs = []
    for metric in metrics:
        fewest, why = metric.fewest_samples(caps) if caps is not None else (metric.min_samples, "")
        if n_samples < fewest:
            needs.append(f"{metric.name} needs {fewest:,}" + (f" ({why})" if why else ""))
    if needs:
        typed = f"{key} {n_samples}" if key.startswith("--") else f"{key}={n_samples}"
        raise ConfigError(f"{typed} is too few samples to score: {', '.join(needs)}")


def checked_values(name: str, values: Any) -> dict[str, float]:
    """A metric's result as {key: float}, or a one-line PluginError saying what it returned
    (a broken metric must not end a finished run in a traceback)."""
    import numbers

    import torch

    if not isinstance(values, Mapping):
        raise PluginError(
            f"metric '{name}' returned {type(values).__name__}; compute() must return a dict "
            "of name -> number"
        )
    out: dict[str, float] = {}
    for key, value in values.items():
        if (isinstance(value, torch.Tensor) and value.numel() == 1) or (
            hasattr(value, "item") and getattr(value, "size", None) == 1
        ):
            value = value.item()
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, numbers.Real)
        ):
            raise PluginError(
                f"metric '{name}' returned {key!r}: {type(value).__name__}; compute() must "
                "return a dict of name -> number"
            )
        out[key] = float(value)
    return out


def applies_to(metric: Metric) -> str:
    """What a metric applies to: the first sentence of its `supports` docstring (which may
    run over several lines)."""
    doc = " ".join((type(metric).supports.__doc__ or "").strip().split("\n\n")[0].split())
    sentence = doc.split(". ")[0].rstrip(".")
    return sentence or "systems its supports() accepts"


def supported(metrics: Iterable[Metric], caps: Capabilities) -> list[Metric]:
    """The metrics whose `supports(caps)` says they apply; a plugin's exception in it is one
    line naming the metric (as in `compute`), not one blamed on the caller."""
    applicable = []
    for metric in metrics:
        with plugin_code(f"metric '{metric.name}': its supports()", _plugin_hint(metric)):
            if metric.supports(caps):
                applicable.append(metric)
    return applicable


def _computed(metric: Metric, system: GANSystem, n_samples: int, seed: int) -> Any:
    """`metric.compute`, a plugin's exception as one line naming the metric."""
    with plugin_code(f"metric '{metric.name}'", _plugin_hint(metric)):
        return metric.compute(system, n_samples=n_samples, seed=seed)


def _plugin_hint(metric: Metric) -> str:
    """Where a metric's code comes from, for its errors: `ganhub list metrics` lists it with
    its plugin, named here too where a registry holds it (as a trick's errors name theirs)."""
    from ganhub.plugin_guard import registered_hint

    found = registered_hint(metric)
    if not found:
        return "see `ganhub list metrics` for its plugin"
    return f"see `ganhub list metrics`: {found}"


def evaluate(
    system: GANSystem, metrics: Sequence[Metric], *, n_samples: int, seed: int
) -> Evaluation:
    """Run the metrics the system supports (in eval mode, without gradients); list the rest.

    Each metric is reported as an activity of the run's console, if one is showing (its time
    and values), so a long evaluation is never silent.
    """
    import torch

    from ganhub.console import activity, brief

    result = Evaluation()
    caps = system.capabilities()
    applicable = supported(metrics, caps)
    check_sample_count(applicable, n_samples, "n_samples", caps)
    was_training = system.training
    system.eval()
    collecting = _COLLECTED.set(result.warnings)
    try:
        with torch.no_grad():
            reported: dict[str, str] = {}  # key -> the metric that reported it
            lowest: dict[str, float] = {}  # count key -> the fewest any metric reported
            for metric in metrics:
                if metric in applicable:
                    with activity(metric.name) as shown:
                        values = checked_values(
                            metric.name, _computed(metric, system, n_samples, seed)
                        )
                        shown.note = brief(values)
                    for key in values.keys() - COUNT_KEYS.keys():
                        if reported.setdefault(key, metric.name) != metric.name:
                            raise PluginError(
                                f"metrics '{reported[key]}' and '{metric.name}' both report "
                                f"'{key}', and one value would replace the other; evaluate "
                                "them in separate runs (eval.metrics=[...])"
                            )
                    warn_undeclared(metric, values)
                    counts = {k: v for k, v in values.items() if k in COUNT_KEYS}
                    counts.setdefault("n_samples", float(n_samples))  # it scored what it got
                    result.counts[metric.name] = counts  # its own, beside the fewest of all
                    result.better.update(declared_directions([*values, *counts], [metric]))
                    result.values.update(values)
                    for key, count in counts.items():  # the fewest: what every score rests on
                        least = min(count, lowest.get(key, count))
                        lowest[key] = result.values[key] = least
                else:
                    result.skipped.append(metric.name)
    finally:
        _COLLECTED.reset(collecting)
        system.train(was_training)
    return result


def warn_undeclared(metric: Metric, values: Mapping[str, float]) -> None:
    """A reported key that the metric's `better` does not declare (nor a count of COUNT_KEYS)
    has no direction, so trainer.keep_best and tuning cannot use it: one warning naming the
    metric, its plugin when a registry knows it, the keys and the declared ones (a warning,
    not an error, so a run of an older plugin keeps its scores; `ganhub.testing.check_metric`
    refuses it, where a plugin's author meets it)."""
    missing = undeclared(values, [metric])
    if not missing:
        return
    from ganhub.plugin_guard import registered_hint

    plugin = registered_hint(metric)
    declared = ", ".join(metric.better) or "none"
    listed = ", ".join(repr(k) for k in missing[:5]) + (
        f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    )
    warn_once(
        f"metric '{metric.name}'{f' ({plugin})' if plugin else ''} returned {listed}, "
        f"which its `better` does not declare (declared: {declared}), so trainer.keep_best and "
        "tuning cannot use it; its plugin should declare each key (or pattern) there as "
        "'lower', 'higher' or None (not a score)"
    )


def check_metrics(
    system: GANSystem, metrics: Sequence[Metric], n_samples: int | None = None, key: str = ""
) -> None:
    """Missing libraries and feature networks of the applicable metrics (none at all:
    eval.features=[] with a feature metric), and too few samples (`n_samples`, typed as `key`;
    default: the run's eval.n_samples), raise here."""
    caps = system.capabilities()
    applicable = supported(metrics, caps)
    if n_samples is None:
        n_samples, key = system.config.eval.n_samples, "eval.n_samples"
    check_sample_count(applicable, n_samples, key or "n_samples", caps)
    refuse_shared_keys(applicable)
    readers = [m.name for m in applicable if m.reads_features]
    if readers and not extractor_names(system.config.eval, caps):  # eval.features=[]
        default = ", ".join(caps.features or ("inception",))
        raise ConfigError(
            f"eval.features=[] names no feature network, and {', '.join(readers)} "
            f"{'needs' if len(readers) == 1 else 'need'} one to report anything: name one (the "
            f"domain's default: eval.features=[{default}]; others: ganhub features list) or "
            "leave eval.features out"
        )
    for metric in applicable:
        metric.check(system)


def refuse_inapplicable(system: GANSystem, metrics: Sequence[Metric]) -> None:
    """Metrics the user named (eval.metrics) that do not apply to the run, refused before
    training: they were left out with a warning at the run's first evaluation."""
    caps = system.capabilities()
    usable = supported(metrics, caps)
    left = [m for m in metrics if m not in usable]
    if not left:
        return
    needs = "; ".join(f"{m.name}: {applies_to(m)}" for m in left)
    defaults = ", ".join(system.default_metrics()) or "none"
    raise ConfigError(
        f"eval.metrics: {', '.join(m.name for m in left)} cannot score this run "
        f"({caps.summary()}); they apply to: {needs}. Leave them out of eval.metrics (the "
        f"domain's defaults: {defaults}; ganhub list metrics)"
    )


def extractor_names(cfg: EvalConfig, caps: Capabilities) -> list[str]:
    """eval.features, else the system's declared default features, else ['inception']."""
    if cfg.features is not None:
        return list(cfg.features)
    return list(caps.features) or ["inception"]


INCEPTION_KEYS = ("inception_weights", "inception_sha256", "allow_download")


def unused_inception_note(given: list[str], extractors: list[str]) -> str | None:
    """A note when eval.inception_weights / inception_sha256 / allow_download are `given`
    (`key=value` items) and no scored metric reads Inception features: they change nothing."""
    if not given or "inception" in extractors:
        return None
    used = ", ".join(extractors) if extractors else "none: no feature metric is scored"
    return (
        f"{' '.join(given)}: unused, as no metric here uses Inception features "
        f"(eval.features: {used}); add eval.features=[inception] to use it"
    )


def unused_inception_settings(system: GANSystem, metrics: Sequence[Metric]) -> list[str]:
    """The run's note (as a warning) when its config sets Inception's keys that none of its
    applicable metrics reads (a training run, where they were ignored without a word)."""
    cfg = system.config.eval
    defaults = type(cfg)()  # the sha256 has the published weights' as its default
    given = [
        f"eval.{k}={str(getattr(cfg, k)).lower() if k == 'allow_download' else getattr(cfg, k)}"
        for k in INCEPTION_KEYS
        if getattr(cfg, k) and getattr(cfg, k) != getattr(defaults, k)
    ]
    caps = system.capabilities()
    applicable = supported(metrics, caps)
    scored = any(m.reads_features for m in applicable)
    note = unused_inception_note(given, extractor_names(cfg, caps) if scored else [])
    return [f"ganhub: warning: {note}"] if note else []


def refuse_shared_keys(metrics: Sequence[Metric]) -> None:
    """Two metrics declaring the same exact key (`ssim` of ssim_diversity and med_fidelity)
    would report it twice, one value replacing the other: refused before training, as
    `evaluate` refuses keys that meet undeclared. Patterns (`fd_*`) are left to `evaluate`."""
    declared: dict[str, str] = {}
    for metric in metrics:
        for key in metric.better:
            if key in COUNT_KEYS or any(c in key for c in "*?["):
                continue
            if declared.setdefault(key, metric.name) != metric.name:
                raise ConfigError(
                    f"eval.metrics: '{declared[key]}' and '{metric.name}' both report '{key}', "
                    "and one value would replace the other; evaluate them in separate runs"
                )


def non_finite_as_nan(metric: str, images: Tensor, values: Tensor) -> Tensor:
    """`values` (N, D) of the generated `images`, the rows of non-finite samples (NaN or inf
    pixels, which 8-bit quantisation would turn into black, or features) all NaN, so that the
    scores on them are NaN, with one warning naming how many: a k-NN ball, a subset or a
    quantised image would leave them out or count them as ordinary samples."""
    import torch

    # the images may sit on the GPU and their features on the CPU: compared where values are
    bad = ~(images.flatten(1).isfinite().all(1).to(values.device) & values.isfinite().all(1))
    if not bool(bad.any()):
        return values
    warn_once(
        f"metric '{metric}': {int(bad.sum()):,} of {len(bad):,} generated samples are not "
        "finite (NaN or inf pixels or features: a diverged generator), so its scores are NaN"
    )
    return torch.where(bad[:, None], torch.full_like(values, torch.nan), values)


__all__ = [
    "COUNT_KEYS",
    "ROTNET_MIN_IMAGES",
    "ROTNET_RECIPE",
    "Better",
    "Directions",
    "Evaluation",
    "Metric",
    "check_metrics",
    "check_sample_count",
    "declared_directions",
    "direction_of",
    "evaluate",
    "non_finite_as_nan",
    "refuse_inapplicable",
    "refuse_shared_keys",
    "reported_by",
    "singular_covariance",
    "supported",
    "undeclared",
    "warn_once",
    "warn_undeclared",
]
