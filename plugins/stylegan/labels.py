"""The labels of conditional stylegan runs (`model.conditional=true`).

The embedded digits have their 10 classes; folder data has one class per sub-folder
(torchvision's ImageFolder layout) or the labels of a CSV (`data.labels`), read by
`ganhub.data.labels`; a zip holds the labels of a StyleGAN2-ADA dataset (its `dataset.json`,
as NVIDIA's dataset_tool writes it). The class names are saved in the run's config
(`condition.classes`, filled by `StyleGANDomain.defaults_for`) so a trained run reloads
without its data. The embedded faces have no useful labels, and shards and zips without
`dataset.json` labels hold no classes: such runs are refused with one line. Imports no torch
at module level (the domain reads it at config time).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_stylegan.config import StyleGANConfig

from ganhub.conditioning import (
    Condition,
    Conditioner,
    ConditionRequest,
    LabelSpec,
    Side,
    too_few_classes,
)
from ganhub.errors import ConfigError
from ganhub.plural import counted

if TYPE_CHECKING:
    from ganhub_stylegan.data import LabelledImages
    from torch import Tensor, nn

    from ganhub.data.inspect import DataReport

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
    from ganhub.data.labels import classless_path_problems

    if problems := classless_path_problems(cfg.path):  # missing, or a shard
        return problems
    zipped = zip_labels(cfg.path) if cfg.path is not None and cfg.path.is_file() else {}
    if zipped is None:
        return [
            f"data.path='{cfg.path}': the zip holds no labels (a {ADA_LABELS} with "
            '{"labels": [[file, class], ...]}, as StyleGAN2-ADA\'s dataset_tool writes); add '
            "one, or unzip it into one sub-folder per class, for a conditional run"
        ]
    if zipped and len(set(zipped.values())) < 2:
        return [
            f"data.path='{cfg.path}': its {ADA_LABELS} names one class; a conditional run "
            "needs two or more"
        ]
    classes = config.condition.classes
    if given := too_few_classes(classes):  # the user's (or a saved run's) list
        return [given]
    if not classes:
        return [
            "model.conditional=true on folder data needs at least two classes: one sub-folder "
            "per class under data.path, or data.labels=FILE.csv"
        ]
    return []


ADA_LABELS = "dataset.json"


def zip_labels(path: Path) -> dict[str, str] | None:
    """The class name of each image of a StyleGAN2-ADA dataset zip, by member name, from its
    `dataset.json` (`{"labels": [["00000/img00000000.png", 6], ...]}`): the index as text
    ("6"), or its entry in the `class_names` list ganhub adds when it writes one; None when it
    has none (no such file, or `"labels": null`). A file ganhub cannot use is one ConfigError."""
    read = _dataset_json(path)
    if read is None:
        return None
    labels, names = read
    return {member: _class_name(label, names) for member, label in labels.items()}


def _class_name(label: int, names: list[str]) -> str:
    return names[label] if label < len(names) else str(label)


def _dataset_json(path: Path) -> tuple[dict[str, int], list[str]] | None:
    """(class index by member name, class names) of a zip's dataset.json; None: no labels.
    Every entry must name an image of the zip, once, with a class `class_names` has."""
    from ganhub_stylegan.data import ZIP_READ_ERRORS, zip_images, zip_read_problem

    where = f"data.path='{path}': {ADA_LABELS}"
    try:
        with zipfile.ZipFile(path) as zf:
            if ADA_LABELS not in zf.namelist():
                _refuse_nested_labels(path, zf.namelist())
                return None
            images = zip_images(zf)
            text = zf.read(ADA_LABELS)
    except zipfile.BadZipFile:
        return None  # not a readable zip: the data check names the file
    except ZIP_READ_ERRORS as exc:
        raise ConfigError(f"{where} cannot be read: {zip_read_problem(exc)}") from None
    content = _json(text, where)
    try:
        labels, names = content.get("labels"), content.get("class_names", [])
    except AttributeError:
        raise ConfigError(f"{where} is not a JSON object with a 'labels' list") from None
    if labels is None and "labels" not in content:
        raise ConfigError(f"{where} has no 'labels' key (StyleGAN2-ADA's: [[file, class], ...])")
    if labels is None:
        return None
    if not isinstance(labels, list):
        raise ConfigError(f"{where}: 'labels' is not a list of [file, class] pairs")
    if not isinstance(names, list) or len(set(map(str, names))) != len(names):
        raise ConfigError(f"{where}: 'class_names' is not a list of distinct names")
    found: dict[str, int] = {}
    shapes = set()  # "index", or the length of one-hot vectors: one kind per file, as ADA's array
    for item in labels:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise ConfigError(f"{where}: {_shown(item)} is not a [file, class] pair")
        member, label = item
        index = _one_hot_index(label) if isinstance(label, list) else _class_index(label)
        if index is None:
            kind = "not other vector labels" if isinstance(label, list) else "nothing else"
            raise ConfigError(
                f"{where}: '{member}' has label {_shown(label)}; ganhub reads class indices "
                f"(whole numbers from 0) or one-hot vectors, {kind}"
                + ('; "labels": null marks a zip without labels' if label is None else "")
            )
        if names and index >= len(names):
            raise ConfigError(
                f"{where}: '{member}' has class {index}, but 'class_names' names "
                f"{len(names)} (0 to {len(names) - 1})"
            )
        key = member_key(member)
        if found.get(key, index) != index:
            from ganhub.data.labels import listed_twice

            first, second = (_class_name(i, names) for i in (found[key], index))
            raise ConfigError(f"{where}: {listed_twice(member, first, second)}")
        found[key] = index
        shapes.add(len(label) if isinstance(label, list) else "index")
    if len(shapes) > 1:
        raise ConfigError(
            f"{where}: its labels mix class indices and one-hot vectors, or vectors of "
            "different lengths; give every file the same kind of label"
        )
    _refuse_unmatched(where, found, images)
    return found, [str(name) for name in names]


def report_zip_classes(report: DataReport, path: Path) -> None:
    """A conditional run's labelled zip in `ganhub data check`: its class balance, and each
    exact copy whose `dataset.json` label differs from its first copy's named as one image
    with two labels (as copies in two class folders are)."""
    from ganhub_stylegan.data import list_files

    from ganhub.data.inspect import class_balance
    from ganhub.data.labels import name_two_labels

    labels = zip_labels(path) or {}
    class_balance(report, labels.values())
    by_item = {
        name: labels[key] for name in list_files(path) if (key := member_key(name)) in labels
    }
    name_two_labels(report, by_item)


def _json(text: bytes, where: str) -> Any:
    """A dataset.json's content; a file that is no JSON is one ConfigError saying why (not
    UTF-8, the line and column of a syntax error, nested too deep to read)."""
    try:
        return json.loads(text)  # bytes: UTF-8, or UTF-16/32 by their marks, as ADA reads it
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        at = f"line {line}: byte 0x{text[exc.start]:02x}"
        raise ConfigError(f"{where} is not UTF-8 text ({at}); save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        why = f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except RecursionError:
        why = "is nested too deeply to read as JSON"
    raise ConfigError(f'{where} {why}; StyleGAN2-ADA\'s holds {{"labels": [[file, class], ...]}}')


def member_key(name: str) -> str:
    """A zip member's name as labels are matched: '/' separators, no './' prefix."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _refuse_unmatched(where: str, labels: Mapping[str, int], images: list[str]) -> None:
    """Labels must match the zip's images both ways (StyleGAN2-ADA's loader fails on an image
    without one; a label without an image would add a class with no images)."""
    keys = {member_key(name) for name in images}
    extra = [name for name in labels if name not in keys]
    if extra:
        raise ConfigError(
            f"{where}: {counted(len(extra), 'labels')} naming no image of the zip, e.g. "
            f"'{extra[0]}' "
            "(images are .png, .jpg, .jpeg, .bmp, .gif, .webp, .tif or .tiff members); "
            "remove those entries"
        )
    missing = [name for name in images if member_key(name) not in labels]
    if missing:
        raise ConfigError(
            f"{where}: {counted(len(missing), 'images')} of the zip without a label, e.g. "
            f"'{missing[0]}'; "
            "label them or leave them out of the zip"
        )


def _class_index(label: object) -> int | None:
    """A class index label: a whole number from 0, also written as a float (`1.0`), which
    StyleGAN2-ADA's loader casts to int64 alike; None for anything else."""
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return label if isinstance(label, int) and not isinstance(label, bool) and label >= 0 else None


def _refuse_nested_labels(path: Path, members: list[str]) -> None:
    """A dataset.json inside a folder of the zip (a zipped dataset folder) is not read, as by
    StyleGAN2-ADA, which reads the top-level one only: say so instead of "no labels"."""
    nested = sorted(m for m in members if m.rsplit("/", 1)[-1] == ADA_LABELS)
    nested = [m for m in nested if not m.startswith("__MACOSX/")]
    if nested:
        folder = nested[0].rsplit("/", 1)[0]
        raise ConfigError(
            f"data.path='{path}': its {ADA_LABELS} is '{nested[0]}', inside a folder; it is "
            f"read at the zip's top level only (as StyleGAN2-ADA does): zip the contents of "
            f"'{folder}/' instead of the folder"
        )


def _one_hot_index(vector: list[Any]) -> int | None:
    """The class of a one-hot label vector (StyleGAN2-ADA also reads labels as vectors): the
    position of its single 1, all else 0; None for any other vector."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector)
    if not numbers or sorted(vector) != [0] * (len(vector) - 1) + [1]:
        return None
    return vector.index(1)


def dataset_json(members: list[str], labels: list[int], classes: list[str]) -> bytes:
    """A dataset.json as StyleGAN2-ADA reads it (`labels`: [member, class index] pairs), with
    the class names ganhub reads back (`class_names`; other readers ignore the key)."""
    pairs = [[member, label] for member, label in zip(members, labels, strict=True)]
    return json.dumps({"labels": pairs, "class_names": classes}).encode()


def kept_dataset_json(path: Path, kept: list[str]) -> bytes | None:
    """A zip's dataset.json for its cleaned copy: the [file, class] pairs of the `kept` images
    only, its other keys (`class_names`) as they were; None when it has none to keep."""
    with zipfile.ZipFile(path) as zf:
        if ADA_LABELS not in zf.namelist():
            return None
        content = json.loads(zf.read(ADA_LABELS))
    if not isinstance(content, dict) or not isinstance(content.get("labels"), list):
        return None  # `"labels": null`, or a file the check refuses in its own words
    wanted = set(kept)
    content["labels"] = [
        pair for pair in content["labels"] if isinstance(pair, list) and pair and pair[0] in wanted
    ]
    return json.dumps(content).encode()


def zip_classes(chosen: Mapping[str, Any]) -> dict[str, Any]:
    """`defaults_for` of a conditional run on a labelled zip: its class names in index order,
    saved with the run as class folders' names are; {} otherwise."""
    from ganhub.data.labels import conditional_data_path

    path = conditional_data_path(chosen)
    read = _dataset_json(path) if path and path.is_file() and zipfile.is_zipfile(path) else None
    if not read or not read[0]:
        return {}
    labels, names = read
    return {"condition": {"classes": [_class_name(i, names) for i in sorted(set(labels.values()))]}}


def _shown(value: object) -> str:
    return json.dumps(value)[:80]


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
    return ConditionRequest(
        label_spec(config), c.generator, c.discriminator, c.embed_dim,
        generator_has=frozenset({"mapping"}), discriminator_has=frozenset({"cmap"}),
    )  # fmt: skip


class CmapConditioner(Conditioner):
    """StyleGAN2-ADA's conditional discriminator (`--cond`): the output layer's values dotted
    with a vector its own mapping network makes of the label (`ganhub_stylegan.cmap`)."""

    name = "cmap"
    side: ClassVar[Side] = "discriminator"
    needs = "cmap"
    needs_text = "StyleGAN2-ADA's discriminator epilogue (plugin=stylegan's)"

    def wrap(self, net: nn.Module, condition: Condition) -> nn.Module:
        """<out(h), cmap(y)> / sqrt(cmap_dim) on stylegan's discriminator; others are refused."""
        from ganhub_stylegan.cmap import CmapDiscriminator
        from ganhub_stylegan.networks import Discriminator

        if not isinstance(net, Discriminator):
            raise ConfigError(
                "condition.discriminator=cmap is StyleGAN2-ADA's discriminator epilogue and "
                "works on plugin=stylegan's discriminator only; use projection"
            )
        return CmapDiscriminator(net, condition)


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

    cfg, size = config.data, config.model.image_size
    assert cfg.path is not None
    names, labels = labelled_names(config)
    images = ImageFiles(
        cfg.path, size, cfg.channels, cfg.mirror, cfg.resize, names=names, crop=cfg.center_crop
    )
    y = torch.tensor(labels, dtype=torch.long).repeat(2 if cfg.mirror else 1)
    return LabelledImages(images, y)


def labelled_names(config: StyleGANConfig) -> tuple[list[str], list[int]]:
    """The files of a conditional run's folder or zip (relative names) and their class index
    in the run's `condition.classes`: class folders, data.labels, or a zip's dataset.json."""
    from ganhub.data.labels import labelled_files

    cfg = config.data
    assert cfg.path is not None
    if cfg.path.is_file():  # a StyleGAN2-ADA zip: its dataset.json
        return _zip_names_and_labels(cfg.path, config.condition.classes or [])
    files, labels, _ = labelled_files(cfg.path, cfg.labels, config.condition.classes)
    return [_relative(f, cfg.path) for f in files], labels


def _zip_names_and_labels(path: Path, classes: list[str]) -> tuple[list[str], list[int]]:
    """Every image of a labelled zip and its class index in `classes` (the run's names)."""
    from ganhub_stylegan.data import list_files

    labels = zip_labels(path) or {}  # it matches every image (else a ConfigError)
    names = list_files(path)
    index = {name: i for i, name in enumerate(classes)}
    other = sorted({labels[member_key(n)] for n in names} - set(index))
    if other:
        raise ConfigError(
            f"data.path='{path}': {ADA_LABELS} has class(es) {', '.join(other)} that this "
            f"run's classes ({', '.join(classes)}) do not"
        )
    return names, [index[labels[member_key(n)]] for n in names]
