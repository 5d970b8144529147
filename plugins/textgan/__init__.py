"""textgan: text generation (SeqGAN / RelGAN-style) and text style transfer on HF transformers.

Registers the `textgan` domain, the `text_nll`, `text_bleu` and `style_transfer` metrics and the
`ganhub textgan generate` / `ganhub textgan transfer` commands (the old top-level `ganhub
generate` / `ganhub transfer` still work for one release). The Python API:
`ganhub_textgan.generate(run_dir, n=20)` and `ganhub_textgan.transfer(run_dir, texts,
to="positive")`. Registration imports neither torch nor transformers: every module is imported
inside the hook that needs it, so `ganhub --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganhub.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    import click
    from ganhub_textgan.api import generate, transfer
    from ganhub_textgan.domain import TextGANDomain

    from ganhub.engine.run import Run

__ganhub_requires__ = ("transformers", "tokenizers", "sacrebleu")


@hookimpl
def register_domains(register: Register) -> None:
    """Register the textgan domain."""
    from ganhub_textgan.domain import TextGANDomain

    register("textgan", TextGANDomain())


@hookimpl
def register_metrics(register: Register) -> None:
    """Register the NLL, BLEU and style-transfer metrics."""
    from ganhub_textgan.metrics import StyleTransferScores, TextBLEU, TextNLL

    register(TextNLL.name, TextNLL())
    register(TextBLEU.name, TextBLEU())
    register(StyleTransferScores.name, StyleTransferScores())


# a vocabulary made from other text: past this share of <unk> tokens a run learns mostly <unk>
UNKNOWN_WARNING = 0.05


@hookimpl
def before_train(run: Run) -> None:
    """Warn when a resumed or initialised text run's tokenizer (its checkpoint's, made from
    the text it was first trained on) maps much of this data.path to <unk>."""
    from ganhub_textgan.system import TextGenSystem

    system = run.system
    if not isinstance(system, TextGenSystem) or not system.store.from_checkpoint:
        return
    if system.oracle is not None or system.shard is not None:
        return  # the oracle's words are fixed; a shard holds ids of its own tokenizer
    share = system.unknown_share()
    if share > UNKNOWN_WARNING:
        run.console.warn(
            f"textgan: {share:.0%} of the tokens of data.path are <unk>: this run keeps the "
            "tokenizer of the text its weights were first trained on (resume, init_from), "
            "whose words this text mostly lacks; a byte-level tokenizer has no <unk> "
            "(data.tokenizer=bpe in the run you start from)"
        )


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub textgan generate|transfer` (and the deprecated `generate` / `transfer`)."""
    from ganhub_textgan.commands import add_commands

    add_commands(cli)


def __getattr__(name: str) -> Any:
    if name in ("generate", "transfer"):
        from ganhub_textgan import api

        return getattr(api, name)
    if name == "TextGANDomain":
        from ganhub_textgan.domain import TextGANDomain

        return TextGANDomain
    raise AttributeError(f"module 'ganhub_textgan' has no attribute '{name}'")


__all__ = ["TextGANDomain", "generate", "transfer"]
