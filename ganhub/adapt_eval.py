"""How `ganhub adapt` evaluates the adapted run: which real images it compares with, which
metrics it scores on how many samples, and which distance it keeps the best checkpoint of.

A Frechet distance fits a Gaussian to the real features: against the 5 images of a folder its
covariance has rank 4 in Inception's 2,048 dimensions, and the score says more about the count
than about the generator (Binkowski et al. 2018; Chong and Forsyth 2020). With fewer than
`FEW_REFERENCES` real images to compare with, the adapted run scores the kernel distance
instead (`kid`, `kd_<net>`: an unbiased estimate at any count, as Karras et al. 2020 score
their small datasets) on samples sized to the references, and keeps the best of it. A key the
user gives (eval.metrics, eval.n_samples, trainer.keep_best) is theirs and kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhub.errors import one_line

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.plugins import Hub

PATIENCE = 4
# below this many real images to compare with, the adapted run scores kid instead of fid
FEW_REFERENCES = 100
# generated samples per real reference for kid: each of its 100 subsets pairs the m references
# with m of them, so 20 x m gives the subsets fresh draws (100 for 5 images, at most 1,000)
SAMPLES_PER_REFERENCE = 20
MAX_SAMPLES = 1000
# what a distance is called on a local feature network N (fd_N ...), as the metrics name it
_ON_LOCAL = {"fid": "fd_", "intra_fid": "intra_fd_", "kid": "kd_"}


def eval_defaults(
    first: RunConfig,
    system: Any,
    hub: Hub,
    given: set[str],
    defaults: dict[str, Any],
    run_dir: Path,
    notes: list[str] | None = None,
) -> None:
    """Set in `defaults` the adapted run's eval.real, eval.metrics, eval.n_samples,
    trainer.keep_best and trainer.patience, for `first` (the config the user's keys resolve
    to, before these defaults) and the system it builds; `notes` receives why one was left
    out or chosen."""
    held_out = system.validation_samples()
    if held_out is not None and len(held_out) >= 2:
        defaults["eval.real"] = "validation"
    elif "eval.real" not in given and (held_out is not None or first.eval.real == "validation"):
        # every image a shot, or data.n_shots=null on RUN's (an adapted run's) validation:
        # eval.real=validation would refuse the run at its first evaluation
        defaults["eval.real"] = "train"
        if notes is not None:
            notes.append(_nothing_held_out(held_out))
    switched_off = "eval.metrics" in given and not first.eval.metrics  # eval.metrics=[] here
    scored = hub.metrics.get("fid").supports(system.capabilities())  # images
    metrics = first.eval.metrics
    if metrics is None or (not metrics and "eval.metrics" not in given):
        # none chosen, or the source run switched evaluation off while it trained (the
        # tiny presets do): the domain's defaults, as `ganhub eval` scores such a run
        metrics = system.default_metrics()
    if "eval.metrics" not in given:  # RUN's metrics that cannot score this run: left out
        applies = [m for m in metrics if hub.metrics.get(m).supports(system.capabilities())]
        if applies != list(metrics):
            if notes is not None:
                left = ", ".join(m for m in metrics if m not in applies)
                notes.append(f"{one_line(run_dir, 200)}'s eval.metrics {left} cannot score "
                             "this run: left out")  # fmt: skip
            metrics = defaults["eval.metrics"] = applies
    chosen = given & {"eval.metrics", "eval.features"}  # the user's evaluation: theirs to fix
    unscored = _features_problem(first, system) if scored and not chosen else None
    if unscored is not None:
        # no feature network for this data (rotnet on a few images): no feature metric, no best
        defaults["eval.metrics"] = [m for m in metrics if not hub.metrics.get(m).reads_features]
        defaults["trainer.keep_best"] = defaults["trainer.patience"] = None
        if notes is not None:
            notes.append(
                f"no feature distance to keep the best of: {unscored}; the adapted run keeps "
                "its last checkpoint (give eval.features=[...] with eval.metrics=[fid] to score it)"
            )
    elif switched_off and "trainer.keep_best" not in given:
        # nothing evaluated: RUN's best (an adapted run's) has nothing to be judged by
        defaults["trainer.keep_best"] = defaults["trainer.patience"] = None
    elif scored and not switched_off:
        # images: keep the best feature distance (a run that evaluates nothing keeps its last)
        # a conditional run samples every class, and the shots are of a few: its distance
        # compares each class with its own images (intra-class), or the kept checkpoint
        # would be judged against classes it was not adapted to
        conditional = hub.metrics.get("intra_fid").supports(system.capabilities())
        distance = "intra_fid" if conditional else "fid"
        references = _references(first, system, defaults, given)
        if distance == "fid" and "eval.metrics" not in given and 2 <= references < FEW_REFERENCES:
            # a few images (fewer than 2: the run refuses its eval.real in its own words):
            # fid's covariance is singular, kid is unbiased
            distance = "kid"
            metrics = [m for m in metrics if m != "fid"]
            n_samples = min(MAX_SAMPLES, SAMPLES_PER_REFERENCE * references)
            if "eval.n_samples" not in given:
                defaults["eval.n_samples"] = n_samples
            if notes is not None:
                notes.append(_few_note(first, system, references, defaults, given))
        defaults["eval.metrics"] = [*metrics, *([] if distance in metrics else [distance])]
        if "trainer.keep_best" not in given:
            defaults["trainer.keep_best"] = feature_distance(first, system, distance)
        watched = first.trainer.keep_best is not None or "trainer.keep_best" not in given
        defaults["trainer.patience"] = PATIENCE if first.trainer.eval_every and watched else None


def _real(first: RunConfig, defaults: dict[str, Any], given: set[str]) -> str:
    """The adapted run's eval.real: the user's, else adapt's default, else RUN's."""
    return first.eval.real if "eval.real" in given else defaults.get("eval.real", first.eval.real)


def _references(first: RunConfig, system: Any, defaults: dict[str, Any], given: set[str]) -> int:
    """How many real images the adapted run's feature metrics compare with: its held-out
    images with eval.real=validation, else its training images, at most eval.n_real
    (`FEW_REFERENCES` when the data cannot be built here: the run itself then says why)."""
    try:
        if _real(first, defaults, given) == "validation":
            held_out = system.validation_samples()
            count = 0 if held_out is None else len(held_out)
        else:
            count = system.real_count()
    except Exception:  # a missing folder...: refused by the run, in its own words
        return FEW_REFERENCES
    return min(count, first.eval.n_real)


def _few_note(
    first: RunConfig, system: Any, references: int, defaults: dict[str, Any], given: set[str]
) -> str:
    """One line: what the adapted run of a few images scores, on how many samples, and why."""
    from ganhub.plural import counted

    against = "held-out" if _real(first, defaults, given) == "validation" else "training"
    n = first.eval.n_samples if "eval.n_samples" in given else defaults["eval.n_samples"]
    return (
        f"eval.metrics=[kid]: the adapted run keeps the best {feature_distance(first, system, 'kid')}"
        f" on {counted(n, 'samples', ',')} against the {counted(references, against + ' images', ',')}"
        f"; fid against fewer than {FEW_REFERENCES} images rests on a singular covariance (rank "
        f"{references - 1} at most), kid is unbiased at any count (give eval.metrics=[fid] for fid)"
    )


def feature_distance(config: RunConfig, system: Any, metric: str = "fid") -> str:
    """The name `metric` (fid, intra_fid or kid) reports on the run's first feature network:
    fd_digits (intra_fd_digits, kd_digits) on the digits classifier, fid (kid) on the
    published Inception."""
    from ganhub.metrics.features import extractor_names, get_extractor

    name = extractor_names(config.eval, system.capabilities())[0]
    if name != "inception" and "/" not in name and not name.endswith((".json", ".safetensors")):
        return _ON_LOCAL[metric] + name  # a local network
    return get_extractor(name, config.eval, system).key(metric)  # which Inception decides


def _features_problem(config: RunConfig, system: Any) -> str | None:
    """Why a feature network of the run's eval.features (the domain's default ones when it
    gives none) cannot be had for this data (rotnet trains on 80 images at least), or None."""
    from ganhub.errors import UsageError
    from ganhub.metrics import extractor_names
    from ganhub.metrics.features import check_available

    for name in extractor_names(config.eval, system.capabilities()):
        try:
            check_available(name, config.eval, system)
        except UsageError as exc:
            return str(exc)
    return None


def _nothing_held_out(held_out: Any) -> str:
    """Why the adapted run is scored against its training images, and how to hold some out
    (`held_out`: what its shots left of the kept classes, None when it picked none)."""
    n = 0 if held_out is None else len(held_out)
    how = (
        "data.n_shots=N, where the data takes it, holds the rest out"
        if held_out is None
        else "a smaller data.n_shots holds more out"
    )
    return (
        f"eval.real=train: the adapted run holds {n} image(s) out of training, too few for "
        f"eval.real=validation (2 or more), so its distances compare with the images it "
        f"trains on ({how})"
    )
