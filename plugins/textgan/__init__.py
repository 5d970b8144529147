"""textgan: text generation (SeqGAN / RelGAN-style) and text style transfer on HF transformers.

Registers the `textgan` domain, the `text_nll`, `text_bleu` and `style_transfer` metrics and the
`ganhub textgan generate` / `transfer` / `curve` commands (the old top-level `ganhub
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
    from ganhub_textgan.api import generate, score_temperatures, transfer
    from ganhub_textgan.domain import TextGANDomain


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


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub textgan generate|transfer|curve` (and the deprecated `generate` / `transfer`)."""
    from ganhub_textgan.commands import add_commands

    add_commands(cli)


def __getattr__(name: str) -> Any:
    if name in ("generate", "score_temperatures", "transfer"):
        from ganhub_textgan import api

        return getattr(api, name)
    if name == "TextGANDomain":
        from ganhub_textgan.domain import TextGANDomain

        return TextGANDomain
    raise AttributeError(f"module 'ganhub_textgan' has no attribute '{name}'")


__all__ = ["TextGANDomain", "generate", "score_temperatures", "transfer"]
