"""textgan: text generation (SeqGAN / RelGAN-style) and text style transfer on HF transformers.

Registers the `textgan` domain, the `text_nll`, `text_bleu` and `style_transfer` metrics and the
`ganhub generate` / `ganhub transfer` commands. The Python API: `ganhub_textgan.generate(run_dir,
n=20)` and `ganhub_textgan.transfer(run_dir, texts, to="positive")`. Nothing here imports torch
or transformers at module level: `ganhub --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganhub_textgan.domain import TextGANDomain

from ganhub.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    import click
    from ganhub_textgan.api import generate, transfer

    from ganhub.engine.run import Run

__ganhub_requires__ = ("transformers", "tokenizers", "sacrebleu")


@hookimpl
def register_domains(register: Register) -> None:
    """Register the textgan domain."""
    register("textgan", TextGANDomain())


@hookimpl
def register_metrics(register: Register) -> None:
    """Register the NLL, BLEU and style-transfer metrics."""
    from ganhub_textgan.metrics import StyleTransferScores, TextBLEU, TextNLL

    register(TextNLL.name, TextNLL())
    register(TextBLEU.name, TextBLEU())
    register(StyleTransferScores.name, StyleTransferScores())


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub generate` and `ganhub transfer`."""
    from ganhub_textgan.cli import generate_command, transfer_command

    cli.add_command(generate_command)
    cli.add_command(transfer_command)


@hookimpl
def before_train(run: Run) -> None:
    """Save the run's tokenizer as RUN_DIR/tokenizer.json (it also travels in checkpoints)."""
    from ganhub_textgan.system import TextSystemBase

    if isinstance(run.system, TextSystemBase) and run.dist.is_main:
        run.system.save_tokenizer(run.run_dir)


def __getattr__(name: str) -> Any:
    if name in ("generate", "transfer"):
        from ganhub_textgan import api

        return getattr(api, name)
    raise AttributeError(f"module 'ganhub_textgan' has no attribute '{name}'")


__all__ = ["TextGANDomain", "generate", "transfer"]
