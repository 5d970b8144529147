"""The textgan domain: task=generate (oracle LSTM or a text file) and task=transfer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_textgan.config import (
    RENAMED_KEYS,
    TRAINER_DEFAULTS,
    Adversarial,
    TextData,
    TextGANConfig,
    default_tokenizer_vocab,
)

from ganhub.domain import Domain

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.engine.system import BuildHints, GANSystem

# steps per task and the pretraining share (MLE / reconstruction only) of the default run
STEPS = {"generate": TRAINER_DEFAULTS["steps"], "transfer": 800}
PRETRAIN = {"generate": Adversarial.model_fields["pretrain_steps"].default, "transfer": 400}


class TextGANDomain(Domain):
    """Adversarial text generation and unsupervised style transfer with transformers models."""

    name = "textgan"
    renamed_keys: ClassVar[dict[str, str]] = RENAMED_KEYS
    description = (
        "text GANs on HF transformers: task=generate (GPT-2 G, MLE then Gumbel-softmax or "
        "rollout policy gradient, oracle-LSTM data) and task=transfer (style transfer)"
    )
    modality = "tokens"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "seqgan": {"adversarial": {"estimator": "rollout"}},
        "relgan": {"adversarial": {"estimator": "gumbel", "temperature_max": 100.0}},
        "transfer": {"task": "transfer"},
        # the published oracle scale (vocabulary 5000, length 20): hours on a CPU
        "oracle5000": {"data": {"vocab_size": 5000, "n_train": 10000}},
        # a seconds-long smoke configuration (either task)
        "tiny": {
            "data": {"vocab_size": 20, "length": 8, "n_train": 128, "n_test": 32},
            "model": {"n_layer": 1, "n_embd": 16, "n_head": 2, "d_embd": 16, "d_filters": 8},
            "adversarial": {"pretrain_steps": 2, "rollouts": 2},
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
        * data.tokenizer_vocab: the oracle's vocab_size + 6 specials, 128 for the embedded
          style corpus, 2000 for the user's files.
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
        out: dict[str, Any] = {"adversarial": {"pretrain_steps": min(PRETRAIN[task], steps // 2)}}
        if isinstance(vocab_size, int):  # else validation refuses data.vocab_size itself
            out["data"] = {"tokenizer_vocab": default_tokenizer_vocab(task, vocab_size, files)}
        if task == "transfer":
            out["trainer"] = {"steps": STEPS[task]}
        return out

    @property
    def config_class(self) -> type[RunConfig]:
        """TextGANConfig."""
        return TextGANConfig

    def check(self, config: RunConfig) -> list[str]:
        """Data files exist."""
        assert isinstance(config, TextGANConfig)
        problems = []
        if config.data.path is not None and not config.data.path.is_file():
            problems.append(f"data.path={config.data.path}: no such file")
        for i, p in enumerate(config.data.style_paths or ()):
            if not p.is_file():
                problems.append(f"data.style_paths[{i}]={p}: no such file")
        if config.model.path is not None and not (config.model.path / "config.json").is_file():
            problems.append(f"model.path={config.model.path}: no config.json in that directory")
        return problems

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The generation or transfer system (corpus and tokenizer are made lazily)."""
        assert isinstance(config, TextGANConfig)
        if config.task == "transfer":
            from ganhub_textgan.transfer import TransferSystem

            return TransferSystem(config, hints)
        from ganhub_textgan.system import TextGenSystem

        return TextGenSystem(config, hints)
