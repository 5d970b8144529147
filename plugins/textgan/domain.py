"""The textgan domain: task=generate (oracle LSTM or a text file) and task=transfer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_textgan.config import TextGANConfig

from ganhub.config.schema import RunConfig
from ganhub.domain import Domain

if TYPE_CHECKING:
    from ganhub.engine.system import BuildHints, GANSystem


class TextGANDomain(Domain):
    """Adversarial text generation and unsupervised style transfer with transformers models."""

    name = "textgan"
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
        # a seconds-long smoke configuration
        "tiny": {
            "data": {"vocab_size": 20, "length": 8, "n_train": 128, "n_test": 32},
            "model": {"n_layer": 1, "n_embd": 16, "n_head": 2, "d_embd": 16, "d_filters": 8},
            "adversarial": {"pretrain_steps": 2, "rollouts": 2},
            "trainer": {"steps": 4, "batch_size": 8, "log_every": 2, "sample_every": 0},
            "eval": {"n_samples": 32},
        },
    }

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """task=transfer: 800 steps (400 reconstruction-only), so the default fits 10 CPU minutes.

        A transfer step decodes a whole sentence twice (greedy for the cycle, soft tokens for
        D), about 2.5x a generate step; 1,200 steps took 13 minutes on the shared 2-core CPU.
        """
        if chosen.get("task") == "transfer":
            return {"trainer": {"steps": 800}, "adversarial": {"pretrain_steps": 400}}
        return {}

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
