"""The labels of conditional dcgan runs: which classes each data source has.

digits, mnist, fashion_mnist and cifar10 have 10 classes (biased digits, `data.proportions`,
keep their digit labels); shapes have one class per shape of `data.shapes`, in that order;
stacked_digits has each channel's digit (3 x 10, `data.stacked_labels=channels`) or the digit
triple (1,000 classes); folder data has one class per sub-folder, or the labels of a CSV file
(`data.labels`), whose names are saved in the run's config (`condition.classes`) so a trained
run reloads without its data.
"""

from __future__ import annotations

from ganhub_dcgan.config import DCGANConfig

from ganhub.conditioning import LabelSpec
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


def label_spec(config: DCGANConfig) -> LabelSpec:
    """The labels a conditional run of this config trains on."""
    source = config.data.source
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
    if classes is not None and config.data.source != "folder":
        own = label_spec(config).names
        named = ", ".join(own[0]) if own and len(own) == 1 else "numbered classes"
        problems.append(
            f"condition.classes=[{','.join(classes)}] names the classes of folder data (filled "
            f"from its class sub-folders or data.labels); data={config.data.source} has its "
            f"own: {named}"
        )
    return problems
