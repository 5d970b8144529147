"""The labels of conditional stylegan runs (`model.conditional=true`).

The embedded digits have their 10 classes; folder data has one class per sub-folder
(torchvision's ImageFolder layout) or the labels of a CSV (`data.labels`), read by
`ganhub.data.labels`, and its class names are saved in the run's config (`condition.classes`,
filled by `StyleGANDomain.defaults_for`) so a trained run reloads without its data. The
embedded faces have no useful labels, and zips and shards hold no classes: such runs are
refused with one line. Imports no torch at module level (the domain reads it at config time).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ganhub_stylegan.config import StyleGANConfig

from ganhub.conditioning import ConditionRequest, LabelSpec
from ganhub.errors import ConfigError

if TYPE_CHECKING:
    from ganhub_stylegan.data import LabelledImages
    from torch import Tensor

DIGIT_NAMES = tuple(str(i) for i in range(10))
UNLABELLED = (
    "model.conditional=true needs labelled data: data=digits or a folder with one sub-folder "
    "per class"
)


def conditional_problems(config: StyleGANConfig) -> list[str]:
    """What a conditional run cannot do with this config (one line each)."""
    cfg = config.data
    if cfg.labels is not None and cfg.source != "folder":
        return ["data.labels (a CSV of labels) applies to folder data only"]
    if cfg.source == "faces":
        return [UNLABELLED]
    if cfg.source != "folder":
        return []
    from ganhub.data.labels import shard_problems

    if shard := shard_problems(cfg.path):
        return shard
    if cfg.path is not None and cfg.path.is_file():
        return [
            f"data.path='{cfg.path}': a zip holds no class folders; unzip it into one "
            "sub-folder per class (or give data.labels=FILE.csv) for a conditional run"
        ]
    classes = config.condition.classes
    if not classes or len(classes) < 2:
        return [
            "model.conditional=true on folder data needs at least two classes: one sub-folder "
            "per class under data.path, or data.labels=FILE.csv"
        ]
    return []


def label_spec(config: StyleGANConfig) -> LabelSpec:
    """The labels a conditional run of this config trains on (ConfigError when it has none)."""
    problems = conditional_problems(config)
    if problems:
        raise ConfigError("; ".join(problems))
    if config.data.source == "digits":
        return LabelSpec((10,), (DIGIT_NAMES,))
    classes = config.condition.classes
    assert classes is not None
    return LabelSpec((len(classes),), (tuple(classes),))


def condition_request(config: StyleGANConfig) -> ConditionRequest | None:
    """The labels and the condition section's mechanisms; None for an unconditional run."""
    if not config.model.conditional:
        return None
    c = config.condition
    return ConditionRequest(label_spec(config), c.generator, c.discriminator, c.embed_dim)


def labelled_digits(size: int, mirror: bool) -> tuple[Tensor, Tensor]:
    """The embedded digits and their labels, with x-flipped copies (same labels) when `mirror`."""
    from ganhub_stylegan.data import mirrored

    from ganhub.data.images import digits

    images, labels = digits(size)
    return mirrored(images, mirror), labels.repeat(2 if mirror else 1)


def _relative(path: Path, root: Path) -> str:
    # class-folder files sit under root as given; CSV rows are resolved (under root.resolve())
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path.relative_to(root.resolve()))


def labelled_image_files(config: StyleGANConfig) -> LabelledImages:
    """A folder's labelled images, decoded by stylegan's rules (`ImageFiles`: square, the
    model's size, x-flips); flipped copies keep their image's label."""
    import torch
    from ganhub_stylegan.data import ImageFiles, LabelledImages

    from ganhub.data.labels import labelled_files

    cfg, size = config.data, config.model.image_size
    assert cfg.path is not None
    files, labels, _ = labelled_files(cfg.path, cfg.labels, config.condition.classes)
    names = [_relative(f, cfg.path) for f in files]
    images = ImageFiles(
        cfg.path, size, cfg.channels, cfg.mirror, cfg.resize, names=names, crop=cfg.center_crop
    )
    y = torch.tensor(labels, dtype=torch.long).repeat(2 if cfg.mirror else 1)
    return LabelledImages(images, y)
