"""The medgan config: task, 2D/3D, data (phantoms or a NIfTI/DICOM folder), model sizes and
the paired objective's weights.

Defaults that follow `spatial_dims` (trainer, image size, phantom count) come from
`MedGANDomain.defaults_for`, the one place for choice-dependent defaults; nothing here rewrites
a value or another section.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ganhub.config.schema import EvalConfig, RunConfig, Section, TrainerConfig

Task = Literal["generate", "lesion", "translate", "progress"]

# Defaults sized for a CPU: the default run finishes in a few minutes on two cores.
TRAINER_DEFAULTS_2D: dict[str, Any] = {
    "steps": 300, "batch_size": 8, "log_every": 25, "sample_every": 100, "checkpoint_every": 300,
}  # fmt: skip
TRAINER_DEFAULTS_3D: dict[str, Any] = {
    "steps": 150, "batch_size": 4, "log_every": 25, "sample_every": 75, "checkpoint_every": 150,
}  # fmt: skip
EVAL_DEFAULTS: dict[str, Any] = {"n_samples": 64}
# What spatial_dims=3 changes (through MedGANDomain.defaults_for): smaller volumes, fewer of them.
VOLUME_DEFAULTS: dict[str, Any] = {
    "trainer": TRAINER_DEFAULTS_3D, "model": {"image_size": 32}, "data": {"n_samples": 128},
}  # fmt: skip
# The domain's presets (MedGANDomain.presets).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {  # seconds: a smoke configuration for tests and first tries
        # 80 phantoms: the fewest the rotation net of the feature distance trains on
        "data": {"n_samples": 80, "n_eval": 8},
        "model": {"g_channels": 4, "d_channels": 4, "latent_dim": 8, "unet_depth": 3},
        "trainer": {"steps": 4, "batch_size": 4, "log_every": 2, "sample_every": 0},
        "eval": {"n_samples": 8},
    },
    "long": {  # a better model where there is time (or a GPU)
        "model": {"g_channels": 32, "d_channels": 32},
        "trainer": {"steps": 3000, "sample_every": 500, "checkpoint_every": 1000},
    },
}
# data.orientation: one code from each pair, as nibabel and MONAI spell them (upper case).
AXIS_PAIRS = ("LR", "AP", "SI")
# data.pixdim: finer than this (mm) is no scan's voxel; the loader also refuses a volume that
# the spacing would blow up past 512^3 voxels (`volume.refuse_oversize`).
MIN_SPACING = 0.05
# Keys of earlier releases (MedGANDomain.renamed_keys): refused with one line naming the new one.
RENAMED_KEYS: dict[str, str] = {
    "model.l1_weight": "objective.lambda_l1",
    "model.d_scale": "objective.d_scale",
    "model.feature_matching": "objective.feature_matching",
}


def axis_codes(codes: str) -> bool:
    """Whether `codes` names one direction of each axis pair (RAS, LPS, SLA...)."""
    pairs = [pair for c in codes for pair in AXIS_PAIRS if c in pair]
    return len(codes) == 3 and sorted(pairs) == sorted(AXIS_PAIRS)


def axial_codes(codes: str) -> bool:
    """Whether `codes` go L/R, A/P, S/I in that order (RAS, LPS, LAS...): the loader takes 2D
    runs' axial slices along the third axis, and PNGs show (x, y) planes as L/R by A/P."""
    return axis_codes(codes) and all(c in pair for c, pair in zip(codes, AXIS_PAIRS))


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
        "images/ and masks/, translate reads source/ and target/, progress reads baseline/ "
        "and followup/ (paired by file name)",
    )
    n_samples: int = Field(
        512, gt=1, description="training phantoms to make (spatial_dims=3: 128 by default)"
    )
    n_eval: int = Field(64, gt=1, description="held-out phantoms for samples and metrics")
    noise: float = Field(0.03, ge=0, lt=0.5, description="phantom Rician noise sigma (0-1 scale)")
    contrast: Literal["t1", "t2", "flair"] = Field(
        "flair",
        description="phantom contrast for generate/lesion/progress (flair: bright lesions, "
        "dark CSF)",
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
    growth: int | None = Field(
        None,
        ge=0,
        description="progress: voxels each phantom lesion grows by into the white matter "
        "between baseline and follow-up (default: model.image_size // 32, at least 1)",
    )
    image_dir: str = Field("images", description="lesion folder data: subfolder of images")
    mask_dir: str = Field("masks", description="lesion folder data: subfolder of lesion masks")
    source_dir: str = Field("source", description="translate folder data: input contrast subfolder")
    target_dir: str = Field(
        "target", description="translate folder data: output contrast subfolder"
    )
    baseline_dir: str = Field("baseline", description="progress folder data: the earlier scans")
    followup_dir: str = Field(
        "followup", description="progress folder data: the later scans, registered to them"
    )
    baseline_mask_dir: str | None = Field(
        None,
        description="progress folder data: subfolder of the baseline scans' lesion masks "
        "(with data.followup_mask_dir: the folder is scored by med_growth; on the phantoms: "
        "where ganhub data convert writes their masks)",
    )
    followup_mask_dir: str | None = Field(
        None, description="progress folder data: subfolder of the follow-up scans' lesion masks"
    )
    mask_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="lesion folder data, soft masks: a voxel is lesion when mask >= this, after "
        "dividing the mask by its largest value when that exceeds 1 (masks of whole numbers, "
        "0/1, 0/255 or labels 0/1/2/4, are lesion wherever non-zero)",
    )
    pixdim: list[float] | None = Field(
        None,
        description="folder data: resample to this voxel spacing in mm, one per axis (2D: "
        "[x, y] keeps the slice spacing of volumes, [x, y, z] sets it; default: keep)",
    )
    orientation: str = Field(
        "RAS",
        description="folder data: reorient volumes to these axis codes, one of L/R, A/P, S/I "
        "each, in that order (RAS, LPS...)",
    )
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
    def _mask_dirs_together(self) -> MedData:
        if (self.baseline_mask_dir is None) != (self.followup_mask_dir is None):
            raise ValueError(
                "data.baseline_mask_dir and data.followup_mask_dir go together: the growth "
                "metric compares the lesions of both scans"
            )
        return self

    @field_validator("orientation")
    @classmethod
    def _orientation_codes(cls, value: str) -> str:
        if not axis_codes(value):
            hint = f"; did you mean {value.upper()}?" if axial_codes(value.upper()) else ""
            raise ValueError(
                "need three axis codes in capitals, one from each of L/R, A/P and S/I "
                f"(e.g. RAS, LPS, LAS){hint}"
            )
        if not axial_codes(value):  # e.g. RSA: 2D runs would take coronal slices as axial
            raise ValueError(
                "need L/R first, A/P second and S/I third (the loader takes axial slices along "
                "the third axis and shows x as L/R, y as A/P), e.g. RAS, LPS, LAS, RPI"
            )
        return value

    @field_validator("pixdim")
    @classmethod
    def _spacings_sane(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not all(math.isfinite(v) and v >= MIN_SPACING for v in value):
            raise ValueError(
                f"need finite voxel spacings in mm, each at least {MIN_SPACING:g} "
                "(e.g. [1, 1, 1]; leave it unset to keep each file's spacing)"
            )
        return value

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> MedData:
        low, high = self.percentiles
        if not 0 <= low < high <= 100:
            raise ValueError(
                f"data.percentiles={list(self.percentiles)}: need 0 <= low < high <= 100"
            )
        return self


class MedModel(Section):
    """Network sizes (MONAI Generator / UNet, PatchDiscriminator)."""

    image_size: int = Field(
        64,
        ge=16,
        description="side of the square image / cubic volume (spatial_dims=3: 32 by default)",
    )
    latent_dim: int = Field(64, gt=0, description="generate: noise dimension")
    g_channels: int = Field(16, gt=0, description="generator base width (Generator / UNet)")
    d_channels: int = Field(16, gt=0, description="PatchGAN base width")
    d_layers: int = Field(3, ge=1, description="PatchGAN depth (reduced to fit small images)")
    d_norm: Literal["instance", "batch", "none"] = Field(
        "instance", description="PatchGAN normalisation; r1/gp need instance or none"
    )
    unet_depth: int = Field(4, ge=2, le=5, description="paired tasks: UNet levels")


class MedObjective(Section):
    """Loss weights of the paired tasks (lesion, translate, progress): pix2pix's objective, MedGAN's term."""

    lambda_l1: float = Field(100.0, ge=0, description="paired tasks: weight of |G(x) - y|")
    feature_matching: float = Field(
        0.0, ge=0, description="paired tasks: weight of L1 between D's features (MedGAN)"
    )
    d_scale: float = Field(0.5, gt=0, description="paired tasks: D loss factor (pix2pix: 0.5)")


class MedGANConfig(RunConfig):
    """Config of the medgan domain."""

    plugin: str = "medgan"
    task: Task = Field(
        "lesion",
        description="lesion: mask (+ erased image) -> image with the lesion; translate: one "
        "contrast -> another; progress: a scan -> its follow-up, lesions grown; generate: "
        "unconditional synthesis",
    )
    spatial_dims: Literal[2, 3] = Field(2, description="2: axial slices; 3: volumes")
    loss: str = Field("monai_patch_lsgan", description="adversarial loss (ganhub list losses)")
    data: MedData = Field(default_factory=MedData)
    model: MedModel = Field(default_factory=MedModel)
    objective: MedObjective = Field(default_factory=MedObjective)
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(**TRAINER_DEFAULTS_2D))
    eval: EvalConfig = Field(default_factory=lambda: EvalConfig(**EVAL_DEFAULTS))

    def phantom_growth(self) -> int | None:
        """Voxels the phantoms' lesions grow by (task=progress on the phantoms: data.growth,
        else model.image_size // 32, at least 1); None where no phantom lesion grows."""
        if self.task != "progress" or self.data.source != "phantom":
            return None
        growth = self.data.growth
        return growth if growth is not None else max(1, self.model.image_size // 32)

    def reads_phantom_keys(self) -> tuple[str, ...]:
        """The data.* contrast keys the phantoms of this run are made with (none: folder data)."""
        if self.data.source != "phantom":
            return ()
        if self.task == "translate":
            return ("data.source_contrast", "data.target_contrast")
        return ("data.contrast",)

    @model_validator(mode="after")
    def _pixdim_per_axis(self) -> MedGANConfig:
        pixdim, dims = self.data.pixdim, self.spatial_dims
        # 2D runs slice volumes: [x, y] keeps their slice spacing, [x, y, z] resamples it too
        if pixdim is not None and len(pixdim) not in ((3,) if dims == 3 else (2, 3)):
            need = (
                "3 voxel spacings in mm, e.g. data.pixdim=[1, 1, 1]"
                if dims == 3
                else "2 voxel spacings in mm (in-plane, e.g. [1, 1]) or 3 (with the slice "
                "spacing of volumes, e.g. [1, 1, 2])"
            )
            raise ValueError(f"data.pixdim={pixdim}: spatial_dims={dims} needs {need}")
        return self


# Keys only the embedded phantoms read: folder data brings its own images (data.n_samples
# counts phantoms: folder runs train on every file, and evaluate on the first data.n_eval).
PHANTOM_KEYS = ("contrast", "source_contrast", "target_contrast", "noise", "n_samples")
# The subfolders of data.path each task reads (its mask folders are checked in the domain).
# The data.n_samples that defaults and presets give: a folder run holds one of them unasked.
PHANTOM_COUNTS = {
    int(d["data"]["n_samples"])
    for d in (VOLUME_DEFAULTS, *PRESETS.values())
    if "n_samples" in d.get("data", {})
}
LAYOUT_KEYS: dict[str, tuple[str, ...]] = {
    "lesion": ("image_dir", "mask_dir"),
    "translate": ("source_dir", "target_dir"),
    "progress": ("baseline_dir", "followup_dir"),
}


def inapplicable(config: MedGANConfig) -> list[str]:
    """One line per data key set (not at its default) where nothing reads it."""
    data, task = config.data, config.task
    # by value, not by what was typed: a saved run's config.yaml holds every key at its default
    given, defaults = data.model_dump(), MedData().model_dump()
    changed = [key for key in given if given[key] != defaults[key]]
    if data.n_samples in PHANTOM_COUNTS:  # spatial_dims=3's 128, preset=tiny's 80: not the user's
        changed.remove("n_samples")
    problems = []
    if data.source == "phantom" and data.path is not None:
        problems.append(
            f"data.path='{data.path}' is folder data but data=phantom trains on the embedded "
            "phantoms: drop data=phantom (data.path alone means folder data) or data.path"
        )
    if data.source == "folder":
        problems += [
            f"data.{key}={given[key]} applies to the embedded phantoms; folder data brings "
            "its own images" + ("" if key != "n_samples" else " and trains on all of them")
            for key in PHANTOM_KEYS
            if key in changed
        ]
    elif "skip_bad" in changed:  # the other loader keys also read predict's and simulate's scans
        problems.append(
            "data.skip_bad=true applies to folder data (data.path=DIR): the embedded phantoms "
            "have no files to skip"
        )
    reads_masks = task == "lesion" or (task == "progress" and data.baseline_mask_dir)
    if "mask_threshold" in changed and not reads_masks:
        problems.append(
            f"data.mask_threshold={data.mask_threshold:g} applies to lesion masks (task=lesion, "
            f"or task=progress with data.baseline_mask_dir); task={task} reads none"
        )
    if data.source == "phantom" and task == "translate" and "contrast" in changed:
        problems.append(
            f"data.contrast={data.contrast} does not apply to task=translate, which maps "
            "data.source_contrast to data.target_contrast"
        )
    elif data.source == "phantom" and task != "translate":
        problems += [
            f"data.{key}={given[key]} applies to task=translate; task={task} uses "
            f"data.contrast (now {data.contrast})"
            for key in ("source_contrast", "target_contrast")
            if key in changed
        ]
    if task != "lesion" and "erase" in changed:
        problems.append(
            f"data.erase={str(data.erase).lower()} applies to task=lesion (whether G also gets "
            f"the image with the lesion region erased); task={task} does not read it"
        )
    problems += _layout_problems(config, changed)
    if config.spatial_dims == 3 and "slices_per_volume" in changed:
        problems.append(
            f"data.slices_per_volume={data.slices_per_volume} applies to 2D runs (central "
            "slices of each volume); spatial_dims=3 trains on whole volumes"
        )
    return problems


def _layout_problems(config: MedGANConfig, changed: list[str]) -> list[str]:
    """Subfolder keys set where nothing reads them: with the phantoms, or another task's."""
    task, given = config.task, config.data.model_dump()
    own = LAYOUT_KEYS.get(task, ())
    reads = (
        f"data.{own[0]} and data.{own[1]}"
        if own
        else "every file directly in data.path, no subfolder"
    )
    problems = []
    for key in (k for keys in LAYOUT_KEYS.values() for k in keys if k in changed):
        if config.data.source == "phantom":
            problems.append(
                f"data.{key}={given[key]} names a subfolder of folder data (data.path=DIR); "
                "the embedded phantoms read no files"
            )
        elif key not in own:
            owner = next(t for t, keys in LAYOUT_KEYS.items() if key in keys)
            problems.append(
                f"data.{key}={given[key]} applies to task={owner} folder data; task={task} "
                f"reads {reads}"
            )
    return problems
