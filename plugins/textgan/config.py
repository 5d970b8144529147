"""Typed config of the textgan domain: task, data, models, the adversarial estimator and the
loss weights (`objective`).

Defaults fit a quiet 2-core CPU in a few minutes: the oracle has 500 tokens and length 20,
G is a 2-layer GPT-2 of width 64, D a CNN over token embeddings. Defaults that depend on the
user's choices (per-task step counts, the tokenizer's vocabulary) are derived in one place,
`TextGANDomain.defaults_for`. Imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from ganhub_textgan.temperature import MAX_TEMPERATURE, MIN_TEMPERATURE, temperature_problem
from pydantic import Field, field_validator, model_validator

from ganhub.config.given import KnowsGiven, chosen_by_user
from ganhub.config.rederive import KEPT_ON_RESUME
from ganhub.config.schema import (
    EvalConfig,
    OptimConfig,
    OptimizerConfig,
    RunConfig,
    Section,
    TrainerConfig,
)
from ganhub.errors import ConfigError, UsageError

N_SPECIALS = 6  # <pad> <bos> <unk> <eos> <style0> <style1>
BPE_MIN = 256 + N_SPECIALS  # a byte-level BPE tokenizer's smallest table: bytes + specials

TRAINER_DEFAULTS: dict[str, Any] = {
    "steps": 1200,
    "batch_size": 64,
    "log_every": 50,
    "sample_every": 400,
    "checkpoint_every": 600,
}


# Transformers train far faster with Adam(0.9, 0.999) than with the image GANs' (0.5, 0.999)
# and 2e-4: measured on the transfer task, 300 reconstruction steps reach a loss of 0.54 nats
# per token with G at 1e-3 against 1.90 at 2e-4. D keeps RelGAN's 1e-4.
OPTIM_DEFAULTS: dict[str, Any] = {
    "G": OptimizerConfig(lr=1e-3, betas=(0.9, 0.999)),
    "D": OptimizerConfig(lr=1e-4, betas=(0.9, 0.999)),
}

# task=transfer's style D learns 5x faster than RelGAN's: at 1e-4 its style signal arrived
# late in the 400 adversarial steps of the default run and one seed in three ended at style
# accuracy 0.62; at 5e-4 that seed reaches 1.0 (`TextGANDomain.defaults_for` sets it).
TRANSFER_D_LR = 5e-4

# task=generate's G learning rate in a pure Gumbel (RelGAN) adversarial phase (mle_weight=0,
# preset=relgan): RelGAN's gen_adv_lr (TextGAN-PyTorch's run_relgan.py), a tenth of MLE's 1e-3
# here. SeqGAN's references train G at
# one rate in both phases (TextGAN-PyTorch's run_seqgan.py: gen_lr 0.01; LantaoYu/SeqGAN: 0.01),
# so the rollout estimator keeps optim.G.lr (`TextGANDomain.defaults_for`). At optim.G.lr (1e-3)
# the Gumbel phase moved G further from the oracle on both axes: NLL_oracle 7.60 +- 0.34 against
# 7.08 +- 0.20 and NLL_gen 6.67 against 5.65 after 600 MLE + 1500 Gumbel steps at batch 32
# (3 seeds).
ADVERSARIAL_G_LR = 1e-4

# task=generate with the Gumbel estimator: G's adversarial phase keeps MLE as its anchor,
# adv_weight x the adversarial loss + mle_weight x MLE at G's MLE rate, as Li et al. (2017,
# "teacher forcing") and Yang et al. (2018, lambda x GAN + (1 - lambda) x MLE) keep MLE in the
# adversarial objective. Pure adversarial training at adversarial.g_lr (RelGAN's, and what
# mle_weight=0 or preset=relgan give) after 600 of 1200 steps was worse than MLE alone for the
# same steps on NLL_oracle, NLL_gen and BLEU-3, because MLE is far from converged when it stops.
# adv_weight 0.01 is the largest of 0.01, 0.03, 0.1, 0.3 whose seeds were no worse than MLE
# alone's on those three at 150 + 150 and 600 + 600 steps: 0.03 and 0.1 bought NLL_oracle and
# BLEU-3 with NLL_gen (diversity), 0.3 collapsed a seed (docs/textgan.md, "The default against
# MLE alone").
ANCHOR_MLE_WEIGHT = 1.0
ANCHOR_ADV_WEIGHT = 0.01

# task=generate with the Gumbel estimator: RelGAN's loss, the relativistic standard GAN (RSGAN;
# TextGAN-PyTorch's run_relgan.py trains with it too), in place of the framework's
# nonsaturating one. At the default run's scale (600 MLE + 600 Gumbel steps, batch 64, 4 seeds)
# it measured as good, with less spread over seeds: NLL_oracle 7.05 +- 0.18 against
# 7.03 +- 0.31, NLL_gen 5.70 +- 0.05 against 5.72 +- 0.16 (docs/textgan.md).
GUMBEL_LOSS = "relativistic"

# task=generate with the Gumbel estimator: beta = max ** (i / 5000), RelGAN's horizon: its code
# fixes N = 5000 whatever the run's length (weilinie/RelGAN get_fixed_temperature, and
# TextGAN-PyTorch's copy), so its 3000-step oracle run ends at beta 15.8, not 100. Not over
# whatever a run has left: a 150-step run reached beta 100 at once where RelGAN is at 1.15.
ANNEAL_STEPS = 5000

# task=generate with the rollout estimator (SeqGAN): D steps on MLE samples against real
# sentences before G's first adversarial step. SeqGAN pretrains D for 50 x 3 epochs
# (TextGAN-PyTorch: 5 x 3, some 2,300 batches) so that its first rewards are no noise; on a CPU
# 300 batches at D's rate of 1e-4 (docs/textgan.md has D's win rate after them).
SEQGAN_D_PRETRAIN = 300


class TextData(Section, KnowsGiven):
    """The corpus: the oracle LSTM's samples / template styles (embedded) or text files."""

    shorthand = "path"

    path: Path | None = Field(
        None,
        description="task=generate: a text file, one sentence per line, or its token shard "
        "(.safetensors from ganhub data convert --to tokens); unset: oracle LSTM",
    )
    style_paths: tuple[Path, Path] | None = Field(
        None,
        description="task=transfer: [FILE_STYLE0, FILE_STYLE1], one sentence per line; "
        "unset: the embedded two-style template corpus",
    )
    style_names: tuple[str, str] = Field(
        ("negative", "positive"), description="names of style 0 and style 1 (for --to)"
    )
    vocab_size: int = Field(500, ge=8, le=50_000, description="oracle vocabulary size")
    length: int = Field(20, ge=4, le=512, description="tokens per sentence (padded/truncated)")
    n_train: int = Field(5000, ge=64, description="oracle or template sentences for training")
    n_test: int = Field(1000, ge=16, description="held-out oracle/template sentences for metrics")
    oracle_seed: int = Field(1234, description="seed of the oracle LSTM's N(0,1) weights")
    tokenizer: Literal["word", "bpe"] = Field("word", description="tokenizer model")
    tokenizer_vocab: int | None = Field(
        None,
        ge=N_SPECIALS + 8,
        description="tokenizer (and model) vocabulary incl. specials; unset: the oracle's "
        "vocab_size + 6, 128 for the embedded style corpus, 2000 for files",
    )


def default_tokenizer_vocab(task: str, vocab_size: int, has_files: bool, bpe: bool = False) -> int:
    """The tokenizer (and model) vocabulary when `data.tokenizer_vocab` is not given: exactly
    the oracle's tokens plus the specials, 128 for the embedded style corpus (a BPE tokenizer's
    smallest table, 262, with data.tokenizer=bpe), 2000 for files."""
    if task == "generate":
        return 2000 if has_files else vocab_size + N_SPECIALS
    return 2000 if has_files else (BPE_MIN if bpe else 128)


# the manifest's `kind` of a token shard (`ganhub data convert FILE plugin=textgan --to tokens`)
TOKEN_SHARD = "textgan-tokens"


def token_shard_facts(path: Path) -> dict[str, Any]:
    """What the manifest of the token shard `path` says it holds (its length, tokenizer model
    and vocabulary, the tokenizer's JSON); a one-line UsageError when it is not one. Reads the
    JSON manifest only (no torch), so `TextGANDomain.defaults_for` can use it."""
    import json

    meta = path.with_suffix(".json")
    try:
        manifest = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    source = manifest.get("source") if isinstance(manifest, dict) else None
    if not isinstance(source, dict) or source.get("kind") != TOKEN_SHARD:
        raise UsageError(
            f"data.path={path}: not a textgan token shard (no {meta.name} manifest of kind "
            f"{TOKEN_SHARD}); write one with ganhub data convert FILE plugin=textgan --to tokens"
        )
    fields = {"length": int, "tokenizer": str, "tokenizer_vocab": int, "tokenizer_json": str}
    for key, kind in fields.items():
        value = source.get(key)
        if not isinstance(value, kind) or (key != "tokenizer_json" and not _valid(key, value)):
            raise UsageError(
                f"data.path={path}: its manifest {meta.name} has no valid '{key}' (a damaged "
                "manifest); write the shard again with ganhub data convert FILE plugin=textgan "
                "--to tokens"
            )
    return source


def _valid(key: str, value: object) -> bool:
    """Whether `value` is one that data.`key` accepts (a manifest edited by hand, damaged)."""
    from pydantic import ValidationError

    try:
        TextData.__pydantic_validator__.validate_assignment(TextData.model_construct(), key, value)
    except ValidationError:
        return False
    return True


# keys of earlier releases (TextGANDomain.renamed_keys): refused with one line, never translated
RENAMED_KEYS: dict[str, str] = {
    "adversarial.d_steps": "was removed: several D steps per G step are the n_critic trick, "
    "tricks=[n_critic] trick.n_critic.n=K",
    "adversarial.mle_weight": "objective.mle_weight",
    "transfer.self_weight": "objective.self_weight",
    "transfer.cycle_weight": "objective.cycle_weight",
    "transfer.adv_weight": "objective.adv_weight",
}


# keys that one task reads and the other does not: `TextGANDomain.check` refuses one the user
# set (`_given`) with the other task, where it would change nothing (task=transfer
# data.vocab_size=100 trained a run without a word). The keys both tasks refuse in any case
# (data.path, data.style_paths, sample.temperature, adversarial.g_lr,
# adversarial.d_pretrain_steps, model.path, model.lm_config) are checked where they are.
TASK_KEYS: dict[str, tuple[str, str]] = {
    "data.vocab_size": ("generate", "the oracle corpus's vocabulary; data.tokenizer_vocab sizes "
                        "the transfer model's"),
    "data.oracle_seed": ("generate", "the oracle LSTM's weights"),
    "data.style_names": ("transfer", "the names of the two styles"),
    "adversarial.estimator": ("generate", "task=transfer's G learns through soft tokens"),
    "adversarial.temperature_max": ("generate", "the Gumbel estimator's inverse temperature; "
                                    "task=transfer's is transfer.temperature"),
    "adversarial.anneal": ("generate", "the Gumbel temperature's schedule"),
    "adversarial.anneal_steps": ("generate", "the Gumbel temperature's schedule"),
    "adversarial.rollouts": ("generate", "the rollout estimator's completions per prefix"),
    "objective.mle_weight": ("generate", "MLE kept in G's adversarial phase; task=transfer "
                             "weighs objective.self_weight and objective.cycle_weight"),
    "objective.self_weight": ("transfer", "self-reconstruction"),
    "objective.cycle_weight": ("transfer", "cycle reconstruction"),
    "transfer.temperature": ("transfer", "the soft tokens' temperature; task=generate samples "
                             "at sample.temperature"),
    "transfer.denoise": ("transfer", "self-reconstruction's word drop"),
}  # fmt: skip


def other_task_keys(config: TextGANConfig, preset: dict[str, Any]) -> list[str]:
    """One line per key of `TASK_KEYS` that the user set for the task `config` does not train
    (`_given`; `preset` is the run's preset)."""
    problems = []
    for key, (task, what) in TASK_KEYS.items():
        if task == config.task:
            continue
        shown = _given(config, preset, key)
        if shown is None:
            continue
        problems.append(
            f"{key}={shown} is for task={task} ({what}); task={config.task} does not read it: "
            "leave it out"
        )
    return problems


# keys only the embedded corpora read (the oracle LSTM's sentences, the template styles):
# `TextGANDomain.check` refuses one the user set (`_given`) next to
# data.path or data.style_paths, where it would change nothing (data.path=FILE data.n_train=100
# trained on all of the file's 270 training lines)
SOURCE_KEYS: dict[str, str] = {
    "data.vocab_size": "the oracle corpus's vocabulary; data.tokenizer_vocab sizes a file's",
    "data.oracle_seed": "the oracle LSTM's weights",
    "data.n_train": "its training sentences; a file trains on all of its lines but the "
    "held-out ones, data.n_test",
}


def other_source_keys(config: TextGANConfig, preset: dict[str, Any]) -> list[str]:
    """One line per key of `SOURCE_KEYS` that the user set (`_given`) when the task reads
    files (data.path, data.style_paths) instead of the embedded corpus; keys of the other task
    are `other_task_keys`'s."""
    d = config.data
    if config.task == "generate" and d.path is not None:
        files = f"data.path={d.path}"
    elif config.task == "transfer" and d.style_paths is not None:
        files = f"data.style_paths=[{','.join(map(str, d.style_paths))}]"
    else:
        return []
    problems = []
    for key, what in SOURCE_KEYS.items():
        if key in TASK_KEYS and TASK_KEYS[key][0] != config.task:
            continue  # refused as the other task's key
        value = _given(config, preset, key)
        if value is not None:
            problems.append(
                f"{key}={value} is for the embedded corpus ({what}); {files} does not read "
                "it: leave it out"
            )
    return problems


def _given(config: TextGANConfig, preset: dict[str, Any], key: str) -> str | None:
    """`key`'s value as typed when the user chose it (`chosen_by_user`: away from its default
    and from the value `preset` gives it), else None."""
    if not chosen_by_user(config, key, preset):
        return None
    section, name = key.split(".")
    value = getattr(getattr(config, section), name)
    if isinstance(value, tuple):
        return f"[{','.join(map(str, value))}]"
    return f"{value:g}" if isinstance(value, float) else str(value)


class TextModel(Section):
    """Generator (GPT-2 from a config, or a local causal LM) and discriminator."""

    path: Path | None = Field(
        None,
        description="a local directory with a causal LM (config.json + weights) used as G via "
        "from_pretrained(local_files_only=True); its vocabulary must cover the tokenizer's",
    )
    lm_config: dict[str, Any] | None = Field(
        None,
        description="the causal LM's architecture (a transformers config.json as a dict): read "
        "from model.path's config.json when a run starts, so a trained run rebuilds its G "
        "for its checkpoint without that directory; given without model.path, G is that "
        "architecture with random weights",
    )
    n_layer: int = Field(2, ge=1, le=48, description="G transformer layers (GPT2Config)")
    n_embd: int = Field(64, ge=8, description="G width")
    n_head: int = Field(4, ge=1, description="G attention heads")
    discriminator: Literal["cnn", "transformer"] = Field("cnn", description="D architecture")
    d_embd: int = Field(64, ge=8, description="D token-embedding width")
    d_filters: int = Field(64, ge=4, description="CNN D: filters per window size (2, 3, 4, 5)")
    d_layers: int = Field(2, ge=1, description="transformer D: encoder layers")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout in G and D")

    @model_validator(mode="after")
    def _heads_divide(self) -> TextModel:
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"model.n_embd={self.n_embd} must be divisible by model.n_head={self.n_head}"
            )
        return self


class Adversarial(Section, KnowsGiven):
    """Pretraining and the adversarial estimator."""

    estimator: Literal["gumbel", "rollout"] = Field(
        "gumbel",
        description="gumbel: soft one-hot tokens through D's embedding (RelGAN); rollout: "
        "REINFORCE with Monte-Carlo rollout rewards (SeqGAN)",
    )
    # derived from trainer.steps, and fixed once the run exists (`KEPT_ON_RESUME`): a resume
    # with more steps had re-derived them and gone back to MLE after adversarial steps
    pretrain_steps: Annotated[int, KEPT_ON_RESUME] = Field(
        600,
        ge=0,
        description="MLE (generate) or reconstruction (transfer) steps before the adversarial "
        "phases start; unset: 600 (transfer 400), at most half of trainer.steps; a resumed run "
        "keeps its own",
    )
    temperature_max: float = Field(
        100.0, ge=1, description="gumbel: final inverse temperature beta (RelGAN's 100 or 1000)"
    )
    anneal: Literal["exp", "linear", "const"] = Field(
        "exp", description="gumbel: beta = max**p (exp), 1 + (max-1) p (linear), or max (const)"
    )
    anneal_steps: int | None = Field(
        ANNEAL_STEPS,
        ge=1,
        description="gumbel: adversarial steps over which beta anneals from 1 to temperature_max "
        "(RelGAN's fixed horizon of 5000), then stays there; unset: to the run's last step",
    )
    d_pretrain_steps: Annotated[int, KEPT_ON_RESUME] = Field(
        0,
        ge=0,
        description="task=generate: D steps on G's samples against real sentences after MLE and "
        "before G's adversarial steps (SeqGAN pretrains D); unset: 0, rollout "
        f"{SEQGAN_D_PRETRAIN} (at most half of the steps after MLE); a resumed run keeps its own",
    )
    rollouts: int = Field(4, ge=1, description="rollout: Monte-Carlo rollouts per prefix")
    g_lr: float | None = Field(
        None,
        gt=0,
        description="task=generate: G's learning rate once the adversarial phases start; "
        "unset: optim.G.lr, but gumbel with objective.mle_weight=0 (preset=relgan) 1e-4 "
        "(RelGAN's gen_adv_lr); MLE runs at optim.G.lr",
    )


# transfer.temperature's lower bound: softmax(logits / T) of soft tokens that G learns through
MIN_SOFT_TEMPERATURE = 1e-3


class TransferOptions(Section, KnowsGiven):
    """task=transfer: how soft tokens are made and how self-reconstruction is noised."""

    temperature: float = Field(
        0.5,
        ge=MIN_SOFT_TEMPERATURE,
        description="softmax temperature of soft tokens; at least 0.001: below it the soft "
        "tokens are one-hot in float32 (no gradient reaches G through them), and near 1e-38 "
        "logits / T overflows",
    )
    denoise: float = Field(0.1, ge=0, lt=1, description="word-drop rate of self-reconstruction")


class TextSample(Section):
    """task=generate: how G's distribution is sampled and scored after training."""

    temperature: float = Field(
        1.0,
        description="task=generate: softmax temperature of G's next-token distribution for "
        "samples, generate and the metrics (text_nll scores the tempered distribution: "
        "NLL_gen and NLL_div are its NLLs); below 1 sharper, above 1 flatter; between "
        f"{MIN_TEMPERATURE:g} and {MAX_TEMPERATURE:g}; training always samples at 1",
    )

    @field_validator("temperature", mode="before")
    @classmethod
    def _temperature_range(cls, value: Any) -> Any:
        # before the section's own checks: 1e-40 and nan get the range, as --temperature does
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return value  # not a number: pydantic says so
        if isinstance(number, int | float) and not isinstance(number, bool):
            problem = temperature_problem(number)
            if problem is not None:
                raise ValueError(problem)
        return value


class TextObjective(Section, KnowsGiven):
    """Loss weights. task=generate: `adv_weight` x the adversarial G loss plus `mle_weight` x
    MLE; task=transfer (Style-Transformer-like): self / cycle reconstruction and the style
    adversary."""

    mle_weight: float = Field(
        0.0,
        ge=0,
        description="task=generate: MLE loss kept in the adversarial G phase (0: pure "
        f"adversarial); unset: gumbel {ANCHOR_MLE_WEIGHT:g}, rollout 0",
    )
    # task=transfer: the reference Style Transformer's factors (slf 0.25, cyc 0.5, adv 1), on
    # reconstruction losses summed over a sentence's tokens and averaged over sentences
    self_weight: float = Field(
        0.25,
        ge=0,
        description="task=transfer: self-reconstruction (x, own style) -> x, nats per sentence",
    )
    cycle_weight: float = Field(
        0.5,
        ge=0,
        description="task=transfer: cycle x -> other style -> back to x, nats per sentence",
    )
    adv_weight: float = Field(
        1.0,
        ge=0,
        description="task=transfer: style discriminator loss on the transfer; task=generate: "
        f"the adversarial G loss; unset: 1, gumbel with mle_weight above 0 {ANCHOR_ADV_WEIGHT:g}",
    )


class TextGANConfig(RunConfig):
    """Text generation (task=generate) and unsupervised text style transfer (task=transfer)."""

    plugin: str = "textgan"
    task: Literal["generate", "transfer"] = Field("generate", description="what to train")
    data: TextData = Field(default_factory=TextData)
    model: TextModel = Field(default_factory=TextModel)
    adversarial: Adversarial = Field(default_factory=Adversarial)
    objective: TextObjective = Field(default_factory=TextObjective)
    transfer: TransferOptions = Field(default_factory=TransferOptions)
    sample: TextSample = Field(default_factory=TextSample)
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(**TRAINER_DEFAULTS))
    eval: EvalConfig = Field(default_factory=lambda: EvalConfig(n_samples=1000))
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(**OPTIM_DEFAULTS))

    @model_validator(mode="after")
    def _task_data(self) -> TextGANConfig:
        if self.task == "generate" and self.data.style_paths is not None:
            raise ConfigError("data.style_paths is for task=transfer; use data.path for generate")
        if self.task == "transfer" and self.data.path is not None:
            raise ConfigError(
                "task=transfer reads one file per style: data.style_paths=[FILE0,FILE1]"
            )
        if self.task == "transfer" and self.sample.temperature != 1.0:
            raise ConfigError(
                f"sample.temperature={self.sample.temperature} is for task=generate: transfers "
                "decode greedily (transfer.temperature is the soft-token temperature of training)"
            )
        if self.task == "transfer" and self.adversarial.g_lr is not None:
            raise ConfigError(
                "adversarial.g_lr is for task=generate; task=transfer trains G at optim.G.lr"
            )
        adv = self.adversarial
        if self.task == "transfer" and adv.d_pretrain_steps:
            raise ConfigError("adversarial.d_pretrain_steps is for task=generate")
        if self.adversarial.pretrain_steps > self.trainer.steps:
            raise ConfigError(
                f"adversarial.pretrain_steps={self.adversarial.pretrain_steps} exceeds "
                f"trainer.steps={self.trainer.steps}"
            )
        if adv.d_pretrain_steps and adv.pretrain_steps + adv.d_pretrain_steps > self.trainer.steps:
            raise ConfigError(
                f"adversarial.pretrain_steps={adv.pretrain_steps} + adversarial.d_pretrain_steps="
                f"{adv.d_pretrain_steps} exceed trainer.steps={self.trainer.steps}"
            )
        data = self.data
        trains_a_tokenizer = self.task == "transfer" or data.path is not None
        vocab = data.tokenizer_vocab
        if trains_a_tokenizer and data.tokenizer == "bpe" and vocab is not None and vocab < BPE_MIN:
            # the byte-level alphabet is always in it: a smaller table crashed in the embedding
            raise ConfigError(
                f"data.tokenizer_vocab={vocab}: a byte-level BPE tokenizer holds the 256 bytes "
                f"and {N_SPECIALS} special ids, so give at least {BPE_MIN} (or data.tokenizer=word)"
            )
        if self.task == "transfer" and data.style_names[0] == data.style_names[1]:
            raise ConfigError(
                f"data.style_names=[{data.style_names[0]},{data.style_names[1]}]: give the two "
                "styles different names (--to picks a style by name)"
            )
        return self
