"""The labels of conditional dcgan runs: which classes each data source has.

digits, mnist, fashion_mnist and cifar10 have 10 classes (biased digits, `data.proportions`,
keep their digit labels); shapes have one class per shape of `data.shapes`, in that order;
stacked_digits has each channel's digit (3 x 10, `data.stacked_labels=channels`) or the digit
triple (1,000 classes); folder data has one class per sub-folder, or the labels of a CSV file
(`data.labels`), whose names are saved in the run's config (`condition.classes`) so a trained
run reloads without its data.

A conditional run on some of the digits (`data.classes=[3,5]`) conditions on those digits only:
`DCGANDomain.defaults_for` saves them as `condition.classes` (["3", "5"]), so the run's labels
are their positions in that list (the system maps each digit to its position) and its grids,
samples and class metrics cover exactly the digits it trains on. Bound to the weights like a
folder's class names, they stay when a resume or `ganhub adapt` changes `data.classes`
(`ganhub.config.rederive.BOUND_TO_WEIGHTS`); a run that conditions on all ten keeps
`condition.classes` unset, its labels the digits themselves.
"""

from __future__ import annotations

from ganhub_dcgan.config import DCGANConfig

from ganhub.conditioning import LabelSpec, too_few_classes
from ganhub.errors import ConfigError

DIGIT_NAMES = tuple(str(i) for i in range(10))
FASHION_NAMES = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
]
CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
CLASS_NAMES = {
    "digits": DIGIT_NAMES,
    "mnist": DIGIT_NAMES,
    "fashion_mnist": tuple(FASHION_NAMES),
    "cifar10": tuple(CIFAR10_NAMES),
}


def digit_subset(config: DCGANConfig) -> tuple[str, ...] | None:
    """The digits a conditional digits run conditions on, in label order, when they are not
    the ten digits in order (`condition.classes`, saved from `data.classes`); None otherwise:
    the labels are the digits themselves (no condition.classes, other data, or names that are
    not distinct digits, which `conditional_problems` refuses)."""
    names = config.condition.classes
    if config.data.source != "digits" or names is None or list(names) == list(DIGIT_NAMES):
        return None
    if not set(names) <= set(DIGIT_NAMES) or len(set(names)) != len(names):
        return None
    return tuple(names)


def kept_digits(config: DCGANConfig) -> list[int]:
    """The digits a digits run trains on: data.classes, the digits of data.digit_groups
    (biased digits), or all ten."""
    data = config.data
    if data.classes is not None:
        return sorted(data.classes)
    if data.proportions is not None:
        return sorted({int(d) for group in data.digit_groups for d in group})
    return list(range(10))


def label_spec(config: DCGANConfig) -> LabelSpec:
    """The labels a conditional run of this config trains on."""
    source = config.data.source
    subset = digit_subset(config)
    if subset is not None and len(subset) < 2:
        kept = config.data.classes
        derived = kept is not None and [str(c) for c in sorted(kept)] == list(subset)
        given = f"data.classes=[{subset[0]}]" if derived else f"condition.classes=[{subset[0]}]"
        raise ConfigError(
            f"model.conditional=true with {given}: a conditional run needs two or more classes "
            "to condition on; give more data.classes, or condition.classes naming more digits "
            """(as text: condition.classes='["7","8"]')"""
        )
    if subset is not None:
        return LabelSpec((len(subset),), (subset,))
    if source == "stacked_digits":
        if config.data.stacked_labels == "triples":
            return LabelSpec((1000,))
        return LabelSpec((10, 10, 10), (DIGIT_NAMES,) * 3)
    if source in CLASS_NAMES:
        return LabelSpec((10,), (CLASS_NAMES[source],))
    if source == "shapes":
        shapes = tuple(config.data.shapes)
        if len(shapes) < 2:
            raise ConfigError(
                f"model.conditional=true on data=shapes needs two or more classes; "
                f"data.shapes={list(shapes)} has one"
            )
        return LabelSpec((len(shapes),), (shapes,))
    classes = config.condition.classes
    if not classes or len(classes) < 2:
        from ganhub.data.labels import classless_path_problems

        problems = classless_path_problems(config.data.path)  # why it has no classes
        if problems:
            raise ConfigError(problems[0])
        if few := too_few_classes(classes):  # the user's (or a saved run's) list
            raise ConfigError(few)
        raise ConfigError(
            "model.conditional=true on folder data needs at least two classes: one sub-folder "
            "per class under data.path, or data.labels=FILE.csv"
        )
    return LabelSpec((len(classes),), (tuple(classes),))


def conditional_problems(config: DCGANConfig) -> list[str]:
    """What a conditional dcgan run cannot do with this config."""
    from ganhub.data.labels import shard_problems

    problems = shard_problems(config.data.path) if config.data.source == "folder" else []
    if config.condition.generator == "cbn" and config.model.g_norm != "batch":
        problems.append(
            f"condition.generator=cbn conditions G's BatchNorm, and model.g_norm="
            f"{config.model.g_norm}; use model.g_norm=batch or condition.generator=concat"
        )
    if config.data.labels is not None and config.data.source != "folder":
        problems.append("data.labels (a CSV of labels) applies to folder data only")
    classes = config.condition.classes
    if classes is not None and config.data.source == "digits":
        return problems + _digit_class_problems(config, classes)
    if classes is not None and config.data.source != "folder":
        own = label_spec(config).names
        named = ", ".join(own[0]) if own and len(own) == 1 else "numbered classes"
        problems.append(
            f"condition.classes=[{','.join(classes)}] names the classes of folder data (filled "
            f"from its class sub-folders or data.labels); data={config.data.source} has its "
            f"own: {named}"
        )
    return problems


def _digit_class_problems(config: DCGANConfig, classes: list[str]) -> list[str]:
    """condition.classes of a digits run: distinct digits (their label order), every digit
    the run trains on among them (a digit without a label there would have no class)."""
    shown = f"condition.classes=[{','.join(classes)}]"
    if not set(classes) <= set(DIGIT_NAMES):
        return [
            f"{shown} names the classes of folder data (filled from its class sub-folders or "
            f"data.labels); data=digits has its own: {', '.join(DIGIT_NAMES)}"
        ]
    if len(set(classes)) != len(classes):
        return [f"{shown}: give distinct digits, each once, in label order"]
    missing = [d for d in kept_digits(config) if str(d) not in classes]
    if not missing:
        return []
    kept = config.data.classes
    trained = f"data.classes=[{','.join(map(str, kept))}]" if kept is not None else "the data"
    return [
        f"{trained} holds digit {missing[0]}, which is not one of the classes this run "
        f"conditions on ({shown}); train on those digits (a resumed or adapted run keeps "
        "the classes its weights learned), or condition a new run on every digit it trains on"
    ]
