"""The textgan domain: task=generate (oracle LSTM or a text file) and task=transfer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_textgan.config import (
    ADVERSARIAL_G_LR,
    ANCHOR_ADV_WEIGHT,
    ANCHOR_MLE_WEIGHT,
    GUMBEL_LOSS,
    RENAMED_KEYS,
    SEQGAN_D_PRETRAIN,
    TRAINER_DEFAULTS,
    TRANSFER_D_LR,
    Adversarial,
    TextData,
    TextGANConfig,
    default_tokenizer_vocab,
    other_source_keys,
    other_task_keys,
    token_shard_facts,
)

from ganhub.domain import Domain
from ganhub.errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ganhub.config.schema import RunConfig
    from ganhub.data.inspect import DataReport
    from ganhub.engine.system import BuildHints, GANSystem

# steps per task and the pretraining share (MLE / reconstruction only) of the default run
STEPS = {"generate": TRAINER_DEFAULTS["steps"], "transfer": 800}
PRETRAIN = {"generate": Adversarial.model_fields["pretrain_steps"].default, "transfer": 400}


class TextGANDomain(Domain):
    """Adversarial text generation and unsupervised style transfer with transformers models."""

    name = "textgan"
    renamed_keys: ClassVar[dict[str, str]] = RENAMED_KEYS
    # another task trains another model on these weights: a new run (init_from=RUN)
    # another task trains another model; the others shape or define the saved networks (a
    # resume refused them as a tensor-shape mismatch that named no key)
    resume_fixed_keys = (
        "task", "data.length", "data.tokenizer_vocab", "data.vocab_size", "model.n_layer",
        "model.n_embd", "model.n_head", "model.discriminator", "model.d_embd",
        "model.d_filters", "model.d_layers",
    )  # fmt: skip
    description = (
        "text GANs on HF transformers: task=generate (GPT-2 G, MLE then Gumbel-softmax or "
        "rollout policy gradient, oracle-LSTM data) and task=transfer (style transfer)"
    )
    modality = "tokens"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "seqgan": {"adversarial": {"estimator": "rollout"}},
        # RelGAN's adversarial phase: pure RSGAN at its gen_adv_lr (derived: mle_weight=0)
        "relgan": {
            "adversarial": {"estimator": "gumbel", "temperature_max": 100.0},
            "objective": {"mle_weight": 0.0},
        },
        "transfer": {"task": "transfer"},
        # the published oracle scale (vocabulary 5000, length 20): hours on a CPU
        "oracle5000": {"data": {"vocab_size": 5000, "n_train": 10000}},
        # a seconds-long smoke configuration (either task)
        "tiny": {
            "data": {"vocab_size": 20, "length": 8, "n_train": 128, "n_test": 32},
            "model": {"n_layer": 1, "n_embd": 16, "n_head": 2, "d_embd": 16, "d_filters": 8},
            # no D pretraining: a smoke run's few steps reach G's adversarial phase at once
            "adversarial": {"pretrain_steps": 2, "rollouts": 2, "d_pretrain_steps": 0},
            "trainer": {"steps": 4, "batch_size": 8, "log_every": 2, "sample_every": 0},
            "eval": {"n_samples": 32},
        },
    }

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """Per-task steps, the pretraining stretch and the tokenizer's vocabulary.

        * task=transfer: 800 steps (400 reconstruction-only), so the default fits 10 CPU
          minutes. A transfer step decodes a whole sentence twice (greedy for the cycle, soft
          tokens for D), about 2.5x a generate step; 1,200 steps took 13 minutes on the shared
          2-core CPU. task=generate: 1200 steps, 600 of them MLE.
        * adversarial.pretrain_steps: 600 (transfer 400), at most half of trainer.steps, so a
          short run (trainer.steps=2) still reaches its adversarial phases.
        * task=transfer: optim.D.lr 5e-4 (generate keeps RelGAN's 1e-4; see `TRANSFER_D_LR`).
        * task=generate with gumbel: MLE stays G's anchor in the adversarial phase,
          objective.mle_weight 1 and objective.adv_weight 0.01 at G's MLE rate
          (`ANCHOR_MLE_WEIGHT`, `ANCHOR_ADV_WEIGHT`); with objective.mle_weight=0 (given, or
          preset=relgan) RelGAN's pure adversarial phase, adversarial.g_lr 1e-4
          (`ADVERSARIAL_G_LR`). rollout keeps optim.G.lr and no MLE, as SeqGAN's references do.
        * task=generate with rollout: adversarial.d_pretrain_steps 300 (`SEQGAN_D_PRETRAIN`),
          at most half of the steps after MLE, so D's first rewards are no noise.
        * task=generate with adversarial.estimator=gumbel (the default): loss=relativistic,
          RelGAN's RSGAN (`GUMBEL_LOSS`); rollout (SeqGAN, whose reward is D's probability)
          and task=transfer keep the framework's nonsaturating loss.
        * data.tokenizer_vocab: the oracle's vocab_size + 6 specials, 128 for the embedded
          style corpus, 2000 for the user's files.
        * data.path=SHARD (a token shard): its data.length, data.tokenizer and
          data.tokenizer_vocab, read from its manifest (`check` refuses values that differ).
        """
        task = str(chosen.get("task", TextGANConfig.model_fields["task"].default))
        task = task if task in STEPS else "generate"  # a bad task is refused by validation
        trainer = chosen.get("trainer")
        steps = trainer.get("steps") if isinstance(trainer, dict) else None
        steps = steps if isinstance(steps, int) and steps >= 0 else STEPS[task]
        data = chosen.get("data")
        data = data if isinstance(data, dict) else {}
        vocab_size = data.get("vocab_size", TextData.model_fields["vocab_size"].default)
        files = data.get("path" if task == "generate" else "style_paths") is not None
        pretrain = min(PRETRAIN[task], steps // 2)
        out: dict[str, Any] = {"adversarial": {"pretrain_steps": pretrain}}
        if task == "generate":
            adversarial = chosen.get("adversarial")
            adversarial = adversarial if isinstance(adversarial, dict) else {}
            estimator = adversarial.get("estimator", Adversarial.model_fields["estimator"].default)
            if estimator == "gumbel":
                out["loss"] = GUMBEL_LOSS
                objective = chosen.get("objective")
                objective = objective if isinstance(objective, dict) else {}
                if _number(objective.get("mle_weight", ANCHOR_MLE_WEIGHT)) != 0:
                    # MLE kept (a bad weight is refused by validation): its rate, a small GAN term
                    out["objective"] = {"mle_weight": ANCHOR_MLE_WEIGHT}
                    out["objective"]["adv_weight"] = ANCHOR_ADV_WEIGHT
                else:  # RelGAN's pure adversarial phase
                    out["adversarial"]["g_lr"] = ADVERSARIAL_G_LR
            else:
                given = adversarial.get("pretrain_steps")
                mle = given if isinstance(given, int) and given >= 0 else pretrain
                d_steps = min(SEQGAN_D_PRETRAIN, max(steps - mle, 0) // 2)
                out["adversarial"]["d_pretrain_steps"] = d_steps
        vocab_size = _validated(TextData, "vocab_size", vocab_size)
        if vocab_size is not None:  # else validation refuses data.vocab_size, alone
            bpe = data.get("tokenizer") == "bpe"
            out["data"] = {"tokenizer_vocab": default_tokenizer_vocab(task, vocab_size, files, bpe)}
        if task == "transfer":
            out["trainer"] = {"steps": STEPS[task]}
            out["optim"] = {"D": {"lr": TRANSFER_D_LR}}
        model = chosen.get("model")
        lm_dir = model.get("path") if isinstance(model, dict) else None
        if isinstance(lm_dir, str | Path):
            lm_config = _read_lm_config(Path(lm_dir))
            if lm_config is not None:  # else `check` says what is wrong with the directory
                out["model"] = {"lm_config": lm_config}
        path = data.get("path", data.get("__shorthand__"))
        if task == "generate" and isinstance(path, str | Path) and _is_shard(Path(path)):
            try:
                facts = token_shard_facts(Path(path))
            except UsageError:
                return out  # `check` says what is wrong with it
            out["data"] = {k: facts[k] for k in ("length", "tokenizer", "tokenizer_vocab")}
        return out

    @property
    def config_class(self) -> type[RunConfig]:
        """TextGANConfig."""
        return TextGANConfig

    def check(self, config: RunConfig) -> list[str]:
        """Data files exist (a token shard matches the config; the two styles read two
        files); a model given by path is a causal LM with enough positions and embeddings
        (`networks.model_dir_problems`); no key the task does not read is set
        (`config.TASK_KEYS`), nor a key of the embedded corpus next to files
        (`config.SOURCE_KEYS`)."""
        assert isinstance(config, TextGANConfig)
        d = config.data
        problems = []
        if d.path is not None and d.path.is_dir():
            problems.append(f"data.path={d.path} is a folder; give a text file (one sentence "
                            "per line) or a token shard")  # fmt: skip
        elif d.path is not None and not d.path.is_file():
            problems.append(f"data.path={d.path}: no such file")
        elif d.path is not None and _is_shard(d.path):
            problems += _shard_problems(d.path, config)
        for i, p in enumerate(d.style_paths or ()):
            if not p.is_file():
                what = "is a folder; give a text file" if p.is_dir() else ": no such file"
                problems.append(f"data.style_paths[{i}]={p}{' ' if p.is_dir() else ''}{what}")
        if d.style_paths is not None and all(p.is_file() for p in d.style_paths):
            first, second = d.style_paths
            if first.samefile(second):  # either style's sentences labelled with both styles
                problems.append(
                    f"data.style_paths=[{first},{second}]: both styles read the same file "
                    f"({first.resolve()}); give one file of sentences per style"
                )
        preset = self.presets.get(config.preset or "", {})
        problems += other_task_keys(config, preset) + other_source_keys(config, preset)
        if config.model.path is not None:
            if config.task == "transfer":
                problems.append(
                    f"model.path={config.model.path}: task=transfer builds its BART from "
                    "model.n_layer, model.n_embd and model.n_head; model.path is for task=generate"
                )
            else:
                from ganhub_textgan.networks import model_dir_problems

                assert d.tokenizer_vocab is not None
                path = config.model.path
                problems += model_dir_problems(path, d.length, d.tokenizer_vocab)
                saved = config.model.lm_config
                if saved is not None and saved != _read_lm_config(path):
                    problems.append(
                        f"model.lm_config differs from {path / 'config.json'}, which is the "
                        "model this run trains; leave model.lm_config out (it is read from "
                        "there), or, resuming, restore the directory the run trained with"
                    )
        elif config.model.lm_config is not None:
            if config.task == "transfer":
                problems.append(
                    "model.lm_config is for task=generate (task=transfer builds a BART)"
                )
            else:
                from ganhub_textgan.networks import lm_config_problems

                assert d.tokenizer_vocab is not None
                lm_config = config.model.lm_config
                key = "model.lm_config"
                problems += lm_config_problems(lm_config, d.length, d.tokenizer_vocab, key, "it")
        return problems

    def warnings(self, config: RunConfig) -> list[str]:
        """A key the user chose that the run's adversarial estimator does not read
        (`checks.other_estimator_keys`): the run prints it before its start banner,
        `ganhub config` on stderr."""
        from ganhub_textgan.checks import other_estimator_keys

        assert isinstance(config, TextGANConfig)
        return other_estimator_keys(config)

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The generation or transfer system (corpus and tokenizer are made lazily)."""
        assert isinstance(config, TextGANConfig)
        if config.task == "transfer":
            from ganhub_textgan.style_transfer import TransferSystem

            return TransferSystem(config, hints)
        from ganhub_textgan.system import TextGenSystem

        return TextGenSystem(config, hints)

    def inspect_data(self, config: RunConfig) -> DataReport:
        """The corpus a run reads, line by line (`ganhub_textgan.corpus`): a text file, the
        two style files, a token shard, or the embedded oracle / template corpus."""
        from ganhub_textgan import corpus
        from ganhub_textgan.style_transfer import TransferSystem
        from ganhub_textgan.system import TextGenSystem

        from ganhub.engine.system import BuildHints

        assert isinstance(config, TextGANConfig)
        d = config.data
        if config.task == "transfer":
            if d.style_paths is not None:
                return corpus.inspect_style_files(config)
            return corpus.inspect_templates(TransferSystem(config, BuildHints()))
        if d.path is None:
            return corpus.inspect_oracle(TextGenSystem(config, BuildHints()))
        if _is_shard(d.path):
            return corpus.inspect_token_shard(config)
        return corpus.inspect_text_file(config)

    def cleaned_copy_files(
        self, config: RunConfig, data: Path, kept: list[str]
    ) -> dict[str, bytes]:
        """A task=generate text file's cleaned copy (`ganhub data clean --out`), under the
        file's own name: the kept lines as the loader reads them (`corpus.cleaned_copy`),
        which the engine writes instead of the lines' bytes."""
        from ganhub_textgan.corpus import cleaned_copy

        assert isinstance(config, TextGANConfig)
        path = config.data.path
        if config.task != "generate" or path is None or _is_shard(path) or not data.is_file():
            return {}
        return {data.name: cleaned_copy(path, kept)}

    def data_formats(self, config: RunConfig) -> tuple[str, ...]:
        """`ganhub data convert --to` formats: token shards written with the run's tokenizer."""
        return ("tokens",)

    def convert_data(self, config: RunConfig, fmt: str, out: Path) -> list[Path]:
        """`--to tokens`: a task=generate text file tokenised with the run's tokenizer into a
        token shard that data.path reads back. Other formats are refused: a tensor shard of
        token ids without their tokenizer could not be read back."""
        from ganhub_textgan.corpus import read_lines, write_token_shard
        from ganhub_textgan.system import TextGenSystem

        from ganhub.engine.system import BuildHints

        assert isinstance(config, TextGANConfig)
        d = config.data
        if fmt != "tokens":
            raise UsageError(
                f"--to {fmt}: textgan's data is text; --to tokens writes its token ids with "
                "the tokenizer (a shard data.path reads back)"
            )
        if config.task != "generate" or d.path is None or _is_shard(d.path):
            what = (
                "task=transfer reads data.style_paths"
                if config.task == "transfer"
                else "the oracle corpus is generated, not read"
                if d.path is None
                else f"data.path={d.path} is a token shard already"
            )
            raise UsageError(
                f"--to tokens converts a task=generate text file (DATA or data.path=FILE); {what}"
            )
        tokenizer = TextGenSystem(config, BuildHints()).tokenizer  # the run's, as a run makes it
        lines = read_lines(d.path, "data.path")
        return write_token_shard(out, d.path, lines, tokenizer, config)


def _validated(section: type[BaseModel], name: str, value: Any) -> Any:
    """`value` as field `name` of `section` validates it, or None when it is refused: a
    default derived from a refused value would be refused too, naming a key nobody gave."""
    from pydantic import ValidationError

    try:
        model = section.__pydantic_validator__.validate_assignment(
            section.model_construct(), name, value
        )
    except ValidationError:
        return None
    return getattr(model, name)


def _number(value: Any) -> float | None:
    """`value` as a float (a YAML file may give "1e-3" as a string), or None."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _read_lm_config(path: Path) -> dict[str, Any] | None:
    """The dict in `path`/config.json (a transformers model directory), or None when there is
    none or it is not a JSON object (`check` reports why)."""
    import json

    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) else None


def _is_shard(path: Path) -> bool:
    """Whether data.path names a shard: the suffix `ganhub.data.shards.is_shard` tests (that
    module's package imports torch, and `defaults_for` runs for every textgan config)."""
    return path.suffix == ".safetensors"


def _shard_problems(path: Path, config: TextGANConfig) -> list[str]:
    """A token shard's manifest against the config that reads it."""
    try:
        facts = token_shard_facts(path)
    except UsageError as exc:
        return [str(exc)]
    d = config.data
    given = {"length": d.length, "tokenizer": d.tokenizer, "tokenizer_vocab": d.tokenizer_vocab}
    return [
        f"data.{key}={value}: the token shard {path} was made with data.{key}={facts[key]}; "
        f"give data.{key}={facts[key]} (a preset's value counts too), or convert again with "
        f"data.{key}={value}"
        for key, value in given.items()
        if value != facts[key]
    ]
