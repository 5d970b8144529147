"""The typed configuration every run shares; domains subclass `RunConfig` to add `model`/`data`.
The single source of truth: field types, defaults and descriptions feed validation and --help."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

# the base of every section and its rules for values, re-exported: imported from here too
from ganhub.config.section import FLOAT32_MAX as FLOAT32_MAX
from ganhub.config.section import FLOAT32_TINY as FLOAT32_TINY
from ganhub.config.section import INT64_MAX as INT64_MAX
from ganhub.config.section import Section as Section
from ganhub.config.section import TypedFloat as TypedFloat
from ganhub.config.section import TypedInt as TypedInt
from ganhub.config.section import expand_path_text as expand_path_text
from ganhub.config.section import holds_path as holds_path
from ganhub.config.supernet import arch_lr_field as arch_lr_field  # a domain's model keys
from ganhub.config.supernet import supernet_field as supernet_field
from ganhub.plural import counted

__all__ = ["MAX_SEED", "OPTIMIZER_OPTIONS", "PLAIN_NAME_RULE", "EvalConfig", "LoggerOptions",
           "OptimConfig", "OptimizerConfig", "RunConfig", "Section", "TrainerConfig", "TrickOptions",
           "arch_lr_field", "expand_path_text", "is_plain_name", "patience_warnings",
           "supernet_field", "with_absolute_paths"]  # fmt: skip
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
# seeds are multiplied by ~1e6 for per-epoch and per-rank streams: below 2**32 they stay in
# the 64-bit range torch's generators take
MAX_SEED = 2**32 - 1
_RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$")
PLAIN_NAME_RULE = (
    "must be a plain directory name: ASCII letters, digits and . _ + - (no / or \\, not "
    "starting with a dot or a dash)"
)


def is_plain_name(value: str) -> bool:
    """Whether `value` names one folder inside its parent (no path, no hidden or option-like
    name): what a run or study name typed by a user may be."""
    return bool(_RUN_NAME.match(value)) and value not in (".", "..")


# Path keys a saved config keeps as typed: where new runs are made, and the run being resumed
KEPT_AS_TYPED = frozenset({"out_dir", "resume"})


def with_absolute_paths(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (the model's JSON dump) in the form a run saves it: every relative path of a
    path key made absolute from the current folder, so resuming from another folder reads the
    data it trained on (or refuses naming it), never another folder's `imgs/`; and a run
    config's `resume` empty, since a run's config.yaml describes that run, which continues no
    other (`ganhub config resume=RUN ...` prints the file that resumed run will write)."""
    if isinstance(model, RunConfig) and "resume" in data:
        data["resume"] = None

    def absolute(value: Any) -> Any:
        if isinstance(value, str) and value:
            return os.path.abspath(value)
        return [absolute(v) for v in value] if isinstance(value, list) else value

    for name, field in type(model).model_fields.items():
        value, dumped = getattr(model, name, None), data.get(name)
        if isinstance(value, BaseModel) and isinstance(dumped, dict):
            with_absolute_paths(value, dumped)
        elif name not in KEPT_AS_TYPED and dumped is not None and holds_path(field.annotation):
            data[name] = absolute(dumped)
    return data


# Optimizers torch implements as one fused kernel (torch.optim's `fused=True`).
FUSED_OPTIMIZERS = frozenset({"adam", "adamw", "sgd"})
# The options each optimizer uses besides lr, weight_decay and impl (`ganhub.engine.optimizers`)
OPTIMIZER_OPTIONS = {"adam": ("betas", "eps"), "adamw": ("betas", "eps"),
                     "rmsprop": ("eps", "momentum"), "sgd": ("momentum",)}  # fmt: skip


def _shown(value: Any) -> str:
    return str(list(value) if isinstance(value, tuple) else value)


class OptimizerConfig(Section):
    """One optimizer (one per parameter group: G, D)."""

    name: Literal["adam", "adamw", "rmsprop", "sgd"] = Field(
        "adam", description="optimizer; the DCGAN paper uses adam, WGAN used rmsprop"
    )
    lr: float = Field(2e-4, gt=0, description="learning rate")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam betas (beta1, beta2)")
    eps: float = Field(1e-8, gt=0, description="Adam / RMSprop epsilon")
    weight_decay: float = Field(0.0, ge=0, description="decoupled weight decay (adamw) or L2")
    momentum: float = Field(0.0, ge=0, lt=1, description="momentum for rmsprop / sgd")
    impl: Literal["auto", "foreach", "fused"] = Field(
        "auto",
        description="update kernels: foreach (a few launches per step), fused (one kernel per "
        "step; adam, adamw and sgd), auto (fused on CUDA and CPU where torch has it, else foreach)",
    )

    def problems(self, key: str, default: OptimizerConfig) -> list[str]:
        """What does not fit `name`, each naming its full key (`key`: `optim.D`): a fused
        kernel torch lacks, and options this optimizer does not use set away from `default`
        (the domain's: RunConfig checks it, knowing the key and the domain's defaults)."""
        out = []
        if self.impl == "fused" and self.name not in FUSED_OPTIMIZERS:
            out.append(
                f"{key}.impl=fused: torch has no fused {self.name}; use {key}.impl=foreach or "
                f"auto, or an optimizer with one ({', '.join(sorted(FUSED_OPTIMIZERS))})"
            )
        takes = OPTIMIZER_OPTIONS[self.name]
        for option in ("betas", "eps", "momentum"):
            value, was = getattr(self, option), getattr(default, option)
            if option in takes or value == was:
                continue
            users = " or ".join(n for n, t in OPTIMIZER_OPTIONS.items() if option in t)
            out.append(
                f"{key}.{option}={_shown(value)}: {self.name} does not use {option} (it takes "
                f"{', '.join(('lr', *takes, 'weight_decay'))}); set it back to {_shown(was)}, "
                f"or use {key}.name={users}"
            )
        return out

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"each beta must be in [0, 1), got {list(v)}")
        return v


class OptimConfig(Section):
    """Optimizers by parameter group. Every domain has a G group and a D group."""

    G: OptimizerConfig = Field(default_factory=OptimizerConfig, description="generator side")
    D: OptimizerConfig = Field(default_factory=OptimizerConfig, description="discriminator side")


class TrainerConfig(Section):
    """How long and how the loop runs; logging, sampling and checkpoint cadence."""

    steps: int = Field(1000, gt=0, description="optimisation steps (one step runs every due phase)")
    batch_size: int = Field(64, gt=0, description="samples per step on each process")
    grad_accum: int = Field(
        1,
        ge=1,
        description="split each batch into this many micro-batches (less memory; the same result, but for the exceptions docs/training.md lists: BatchNorm, diffaug...)",
    )
    log_every: int = Field(50, gt=0, description="steps between metric logs (the only host syncs)")
    sample_every: int = Field(
        500, ge=0, description="steps between sample artifacts; 0: only at end"
    )
    checkpoint_every: int = Field(
        1000, ge=0, description="steps between checkpoints; 0: only at end"
    )
    eval_every: int = Field(0, ge=0, description="steps between evaluations; 0: only at the end")
    keep_checkpoints: int = Field(2, ge=1, description="how many recent checkpoints to keep")
    keep_best: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="also keep the checkpoint with the best value of this evaluation result "
        "(e.g. fd_digits; its metric declares whether lower or higher is better), judged at "
        "every evaluation; ganhub.load(run, best=True) opens it",
    )
    patience: int | None = Field(
        None,
        ge=1,
        description="early stopping: with keep_best, stop after this many evaluations "
        "(eval_every) without a better value; ganhub.load(run, best=True) opens the best",
    )
    max_seconds: float | None = Field(
        None, gt=0, description="stop (with a checkpoint) after this much wall time"
    )
    compile: bool = Field(
        False,
        description="torch.compile the forwards of G and D, each on its own (first steps are "
        "slow); forwards that penalties differentiate twice (R1, GP, path length) run eager",
    )
    cuda_graphs: bool = Field(
        False,
        description="replay each training step as a CUDA graph (forward, backward and optimizer "
        "steps of every due phase) after a few eager steps; CUDA, static shapes, precision 32 "
        "or bf16, and tricks that declare themselves graph-safe",
    )
    channels_last: bool = Field(False, description="channels_last memory format for image models")
    num_workers: int = Field(0, ge=0, description="data-loading worker processes (folder data)")
    threads: int | Literal["auto"] = Field(
        "auto",
        description="torch's CPU threads for the run (torch.set_num_threads; 1 up to the "
        "machine's cores); auto keeps the process's count (torch's default, or "
        "OMP_NUM_THREADS). Speed only: a resume may change it",
    )
    progress: bool = Field(
        True, description="print the start banner, progress and summary table (false: quiet)"
    )

    @field_validator("threads", mode="before")
    @classmethod
    def _thread_count(cls, v: Any) -> Any:
        # one line instead of pydantic's two (one per member of the union)
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError("a thread count is an integer >= 1, or auto")

    @model_validator(mode="after")
    def _patience_needs_a_score(self) -> TrainerConfig:
        # patience counts evaluations of the kept score: without both there is nothing to count
        from ganhub.errors import ConfigError  # raised as is: pydantic passes it through

        if self.patience is not None and self.keep_best is None:
            raise ConfigError(
                f"trainer.patience={self.patience} counts evaluations without a better "
                "trainer.keep_best value: set trainer.keep_best=METRIC (e.g. fd_digits)"
            )
        if self.patience is not None and self.eval_every == 0:
            raise ConfigError(
                f"trainer.patience={self.patience} counts evaluations, and trainer.eval_every=0 "
                "evaluates only at the end: set trainer.eval_every=N"
            )
        return self


# FID-50k is the literature's usual count; four times that is far beyond any paper, and keeps
# the features of one scoring (2,048 float64 per Inception sample: 3.3 GB) in memory
MAX_EVAL_SAMPLES = 200_000


class EvalConfig(Section):
    """Evaluation during and after training."""

    metrics: list[str] | None = Field(
        None, description="metric names (ganhub list metrics); default: the domain's choice"
    )
    n_samples: int = Field(
        2500, gt=0, le=MAX_EVAL_SAMPLES, description="generated samples per evaluation"
    )
    n_real: int = Field(
        10_000, description="real samples for feature statistics (2 or more; capped at the dataset)"
    )
    features: list[str] | None = Field(
        None,
        description="feature networks for fid/kid/precision_recall/density_coverage: inception, "
        "or a local one (ganhub features list); default: the domain's choice, else inception",
    )
    inception_weights: Path | None = Field(
        None, description="local Inception-v3 FID weights (pt_inception-2015-12-05-6726825d.pth)"
    )
    inception_sha256: str = Field(
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        pattern=r"^[0-9a-f]{64}$",
        description="expected sha256 of inception_weights (default: the published FID weights)",
    )
    allow_download: bool = Field(
        False, description="let the Inception weights be downloaded when no local copy is given"
    )
    real: Literal["train", "validation"] = Field(
        "train",
        description="the real images fid/kid/precision_recall/density_coverage compare with: "
        "train (the training data) or validation (the system's held-out images, e.g. the rest "
        "of the kept classes with data.n_shots)",
    )
    fairness_target: Literal["uniform", "data"] = Field(
        "uniform",
        description="the attribute distribution the fairness metric measures samples against: "
        "uniform (every value alike) or data (the training data's declared proportions)",
    )

    @field_validator("n_real")
    @classmethod
    def _two_real(cls, n: int) -> int:  # pydantic's "greater than 1" said what, not why
        if n < 2:
            raise ValueError("a covariance (fid, kid) needs 2 real samples or more: give 2 or more")
        return n

    @field_validator("metrics", "features")
    @classmethod
    def _none_twice(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        repeated = sorted({t for t in v if v.count(t) > 1}) if v else []
        if repeated:  # each was scored twice, and the table named it twice
            raise ValueError(f"{str(info.field_name)[:-1]} listed twice: {', '.join(repeated)}")
        return v


def _options_not_names(value: Any, key: str, purpose: str) -> Any:
    """Refuse a list of names given to an options section (`trick=[ema]` for `tricks=[ema]`),
    naming the key the user meant."""
    if isinstance(value, list | str):
        items = [value.strip("[]")] if isinstance(value, str) else map(str, value)
        names = "[" + ",".join(items) + "]"  # a list: `loggers=foo` is refused in turn
        raise ValueError(f"'{key}' holds per-{key} options ({key}.NAME.KEY=VALUE); {purpose} "
                         f"write {key}s={names}")  # fmt: skip
    return value


class TrickOptions(Section):
    """Per-trick options; filled with one field per registered trick when a config resolves."""

    @model_validator(mode="before")
    @classmethod
    def _not_a_list(cls, value: Any) -> Any:
        return _options_not_names(value, "trick", "to enable tricks")


class LoggerOptions(Section):
    """Per-logger options; filled with one field per logger that declares options (its `Config`)
    when a config resolves."""

    @model_validator(mode="before")
    @classmethod
    def _not_a_list(cls, value: Any) -> Any:
        return _options_not_names(value, "logger", "to choose loggers")


# other names of the precisions (PyTorch's dtypes, Lightning's `16-mixed`...), said as ganhub's
_PRECISION_NAMES = {
    **dict.fromkeys(["fp16", "float16", "half", "16-mixed", "fp16-mixed"], ("16", "fp16")),
    **dict.fromkeys(["bfloat16", "bf16-mixed"], ("bf16", "bfloat16")),
    **dict.fromkeys(["fp32", "float32", "float", "full", "32-true"], ("32", "fp32")),
}


class RunConfig(Section):
    """Everything a run needs. Domains subclass this to add `model`, `data` and their own keys."""

    plugin: str = Field(description="the domain plugin to train (ganhub list domains)")
    preset: str | None = Field(None, description="a named preset of the domain")
    seed: int = Field(
        0, ge=0, le=MAX_SEED, description="random seed (model init, data order, noise)"
    )
    deterministic: bool = Field(False, description="deterministic kernels (slower; exact resume)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps")
    precision: Literal["32", "bf16", "16"] = Field(
        "32", description="32: fp32; bf16: bfloat16 autocast; 16: fp16 autocast with grad scaling"
    )
    out_dir: Path = Field(Path("runs"), description="where run directories are created")
    name: str | None = Field(
        None,
        max_length=100,
        description="run directory name, a plain name under out_dir (default <plugin>-<time>)",
    )
    resume: Path | None = Field(None, description="a run directory to continue")
    init_from: Path | None = Field(
        None,
        description="a run directory (or exported folder) whose latest checkpoint's weights "
        "initialise this run; optimizers, step and data order start fresh",
    )
    loss: str = Field("nonsaturating", description="adversarial loss (ganhub list losses)")
    tricks: list[str] = Field(
        default_factory=list, description="tricks to apply (ganhub list tricks)"
    )
    trick: TrickOptions = Field(default_factory=TrickOptions, description="per-trick options")
    loggers: list[str] = Field(
        default_factory=lambda: ["jsonl", "tensorboard"],
        description="run loggers (ganhub list loggers)",
    )
    logger: LoggerOptions = Field(default_factory=LoggerOptions, description="per-logger options")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @field_validator("device")
    @classmethod
    def _device_pattern(cls, v: str) -> str:
        if not _DEVICE.match(v):
            raise ValueError(f"'{v}' is not a device; use auto, cpu, cuda, cuda:N or mps")
        return v

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        if v is not None and not is_plain_name(v):
            raise ValueError(PLAIN_NAME_RULE + "; out_dir=DIR chooses where it goes")
        return v

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() in _PRECISION_NAMES:  # fp16: half precision is '16'
            said, meaning = _PRECISION_NAMES[v.lower()]
            raise ValueError(
                f"ganhub calls {meaning} '{said}': give precision={said} "
                "(valid: '32', 'bf16', '16')"
            )
        return str(v) if isinstance(v, int) else v

    @field_validator("tricks", "loggers")
    @classmethod
    def _none_twice(cls, v: list[str], info: ValidationInfo) -> list[str]:
        repeated = sorted({t for t in v if v.count(t) > 1})
        if repeated:  # a logger twice wrote each record twice
            raise ValueError(f"{str(info.field_name)[:-1]} listed twice: {', '.join(repeated)}")
        return v

    @model_validator(mode="after")
    def _optimizers_fit(self) -> RunConfig:
        # an option the chosen optimizer ignores is refused when it differs from the domain's
        # default for that group: one the user set (a default of the domain never trips it, and
        # one a preset set below the user's optimizer is reset: ganhub.config.optim_layers)
        defaults = type(self).model_fields["optim"].get_default(call_default_factory=True)
        problems = []
        for group in type(self.optim).model_fields:
            default = getattr(defaults, group, None) or OptimizerConfig()
            problems += getattr(self.optim, group).problems(f"optim.{group}", default)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _accum_divides_batch(self) -> RunConfig:
        if self.trainer.batch_size % self.trainer.grad_accum:
            raise ValueError(
                f"trainer.grad_accum={self.trainer.grad_accum} must divide "
                f"trainer.batch_size={self.trainer.batch_size}"
            )
        return self


def patience_warnings(config: RunConfig) -> list[str]:
    """A warning when trainer.patience can never stop a fresh run: it evaluates no more than
    `patience` times before its last step, and its first evaluation only sets the best (a
    shortened test run of a long config, hence not refused; a resumed run carries its count)."""
    trainer = config.trainer
    if trainer.patience is None or not trainer.eval_every or config.resume is not None:
        return []
    evaluations = (trainer.steps - 1) // trainer.eval_every  # the last step's is after training
    if evaluations > trainer.patience:
        return []
    return [
        f"ganhub: warning: trainer.patience={trainer.patience} can never stop this run: it "
        f"evaluates {counted(evaluations, 'times')} before its last step (trainer.eval_every="
        f"{trainer.eval_every} of trainer.steps={trainer.steps}) and the first only sets the best; "
        "lower trainer.eval_every or trainer.patience, or ignore this for a short test run"
    ]
