"""The medgan config: task, 2D/3D, data (phantoms or a NIfTI/DICOM folder) and model sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ganhub.config.schema import EvalConfig, RunConfig, Section, TrainerConfig

Task = Literal["generate", "lesion", "translate"]

# Defaults sized for a CPU: the default run finishes in a few minutes on two cores.
TRAINER_DEFAULTS_2D: dict[str, Any] = {
    "steps": 300, "batch_size": 8, "log_every": 25, "sample_every": 100, "checkpoint_every": 300,
}  # fmt: skip
TRAINER_DEFAULTS_3D: dict[str, Any] = {
    "steps": 150, "batch_size": 4, "log_every": 25, "sample_every": 75, "checkpoint_every": 150,
}  # fmt: skip
EVAL_DEFAULTS: dict[str, Any] = {"n_samples": 64}


class MedData(Section):
    """Training data: `data=phantom` (embedded, no download) or `data=folder data.path=DIR`."""

    shorthand = "source"

    source: Literal["phantom", "folder"] = Field(
        "phantom",
        description="phantom: brain-like MR phantoms around MONAI's synthetic test images, made in "
        "memory; folder: NIfTI files or DICOM series under data.path",
    )
    path: Path | None = Field(
        None,
        description="folder data: generate reads every image under it; lesion reads "
        "images/ and masks/, translate reads source/ and target/ (paired by file name)",
    )
    n_samples: int | None = Field(
        None, gt=1, description="phantoms to make (default: 512 in 2D, 128 in 3D)"
    )
    n_eval: int = Field(64, gt=1, description="held-out phantoms for samples and metrics")
    noise: float = Field(0.03, ge=0, lt=0.5, description="phantom Rician noise sigma (0-1 scale)")
    contrast: Literal["t1", "t2", "flair"] = Field(
        "flair",
        description="phantom contrast for generate/lesion (flair: bright lesions, dark CSF)",
    )
    source_contrast: Literal["t1", "t2", "flair"] = Field(
        "t1", description="translate: input contrast"
    )
    target_contrast: Literal["t1", "t2", "flair"] = Field(
        "t2", description="translate: output contrast"
    )
    erase: bool = Field(
        True,
        description="lesion: give G the image with the lesion region erased as well as the mask "
        "(inpainting); false: the mask alone",
    )
    image_dir: str = Field("images", description="lesion folder data: subfolder of images")
    mask_dir: str = Field("masks", description="lesion folder data: subfolder of lesion masks")
    source_dir: str = Field("source", description="translate folder data: input contrast subfolder")
    target_dir: str = Field(
        "target", description="translate folder data: output contrast subfolder"
    )
    pixdim: list[float] | None = Field(
        None, description="folder data: resample to this voxel spacing in mm (default: keep)"
    )
    orientation: str = Field("RAS", description="folder data: reorient volumes to these axis codes")
    percentiles: tuple[float, float] = Field(
        (0.5, 99.5), description="folder data: intensity percentiles mapped to [-1, 1] (clipped)"
    )
    fit: Literal["resize", "crop_pad"] = Field(
        "resize",
        description="folder data: resize the field of view to model.image_size, or centre "
        "crop/pad it (keeps the spacing)",
    )
    slices_per_volume: int = Field(
        1, ge=1, description="folder data in 2D: central axial slices taken from each 3D volume"
    )
    skip_bad: bool = Field(
        False,
        description="skip unreadable or mismatched files (with a warning) instead of stopping",
    )

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> MedData:
        low, high = self.percentiles
        if not 0 <= low < high <= 100:
            raise ValueError(
                f"data.percentiles={list(self.percentiles)}: need 0 <= low < high <= 100"
            )
        return self


class MedModel(Section):
    """Network sizes (MONAI Generator / UNet, PatchDiscriminator) and paired-loss weights."""

    image_size: int | None = Field(
        None,
        ge=16,
        description="side of the square image / cubic volume (default: 64 in 2D, 32 in 3D)",
    )
    latent_dim: int = Field(64, gt=0, description="generate: noise dimension")
    g_channels: int = Field(16, gt=0, description="generator base width (Generator / UNet)")
    d_channels: int = Field(16, gt=0, description="PatchGAN base width")
    d_layers: int = Field(3, ge=1, description="PatchGAN depth (reduced to fit small images)")
    d_norm: Literal["instance", "batch", "none"] = Field(
        "instance", description="PatchGAN normalisation; r1/gp need instance or none"
    )
    unet_depth: int = Field(4, ge=2, le=5, description="lesion/translate: UNet levels")
    l1_weight: float = Field(100.0, ge=0, description="lesion/translate: weight of |G(x) - y|")
    feature_matching: float = Field(
        0.0, ge=0, description="lesion/translate: weight of L1 between D's features (MedGAN)"
    )
    d_scale: float = Field(0.5, gt=0, description="lesion/translate: D loss factor (pix2pix: 0.5)")


class MedGANConfig(RunConfig):
    """Config of the medgan domain."""

    plugin: str = "medgan"
    task: Task = Field(
        "lesion",
        description="lesion: mask (+ erased image) -> image with the lesion; translate: one "
        "contrast -> another; generate: unconditional synthesis",
    )
    spatial_dims: Literal[2, 3] = Field(2, description="2: axial slices; 3: volumes")
    loss: str = Field("monai_patch_lsgan", description="adversarial loss (ganhub list losses)")
    data: MedData = Field(default_factory=MedData)
    model: MedModel = Field(default_factory=MedModel)
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(**TRAINER_DEFAULTS_2D))
    eval: EvalConfig = Field(default_factory=lambda: EvalConfig(**EVAL_DEFAULTS))

    @model_validator(mode="before")
    @classmethod
    def _volume_defaults(cls, data: Any) -> Any:
        """With spatial_dims=3, trainer keys not set by the user take the 3D defaults.

        A key missing from `trainer`, or still at its 2D default, counts as not set (the engine
        may have merged the 2D defaults in already). Without a `trainer` section the defaults of
        the run's dimensionality are used whole.
        """
        if not isinstance(data, dict):
            return data
        three = str(data.get("spatial_dims", 2)) == "3"
        defaults = TRAINER_DEFAULTS_3D if three else TRAINER_DEFAULTS_2D
        given = data.get("trainer")
        if given is None:
            return {**data, "trainer": dict(defaults)}
        if not isinstance(given, dict):
            return data
        trainer = dict(given)
        for key, value in defaults.items():
            if key not in trainer or (three and trainer[key] == TRAINER_DEFAULTS_2D[key]):
                trainer[key] = value
        return {**data, "trainer": trainer}

    def size(self) -> int:
        """The image side: model.image_size, or 64 (2D) / 32 (3D)."""
        return self.model.image_size or (64 if self.spatial_dims == 2 else 32)

    def n_phantoms(self) -> int:
        """Training phantoms: data.n_samples, or 512 (2D) / 128 (3D)."""
        return self.data.n_samples or (512 if self.spatial_dims == 2 else 128)
