"""Options of the fairness tricks (`trick.reweight.*`, `trick.resample.*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ganhub.config.schema import Section


class DensityRatioConfig(Section):
    """The density-ratio classifier and the weights it gives (shared by both tricks)."""

    reference: Path | None = Field(
        None,
        description="the unbiased reference set: a folder of images or a .safetensors shard "
        "(ganhub data convert); default: the data's own reference set, when it has one",
    )
    max_data: int = Field(
        5000, ge=64, description="training images the classifier reads (a seeded pick)"
    )
    steps: int = Field(
        1500, ge=1, description="classifier training steps (batches half data, half reference)"
    )
    batch_size: int = Field(
        64, ge=2, description="classifier batch: half training images, half reference images"
    )
    lr: float = Field(3e-3, gt=0, description="classifier peak learning rate (Adam, one cycle)")
    augment: bool = Field(
        True,
        description="shift training images by up to 2 pixels, so the classifier learns what "
        "they show rather than memorising the few reference images",
    )
    width: int = Field(16, ge=4, description="classifier base width (channels of its first conv)")
    flatten: float = Field(
        1.0,
        ge=0,
        description="exponent on the density ratio (Choi et al.'s flattening): 1 the full "
        "ratio, 0 no correction, between them a milder one",
    )
    max_weight: float = Field(
        20.0, gt=0, description="largest weight of one sample (the flattened ratio is clipped)"
    )


class ReweightConfig(DensityRatioConfig):
    """Options of the `reweight` trick."""


class ResampleConfig(DensityRatioConfig):
    """Options of the `resample` trick."""


__all__ = ["DensityRatioConfig", "ResampleConfig", "ReweightConfig"]
