"""meta: meta-learned initialisations for few-shot generation (`ganhub meta`).

Reptile (Nichol et al. 2018; FIGR, Clouâtre & Demers 2019, applied it to WGAN-GP): each outer
step trains copies of the meta weights for a few ordinary ganhub steps on sampled tasks (one
class, or a group of classes, of the given ones), then moves the meta weights toward what the
tasks learned. The result is an ordinary run directory that `ganhub adapt` fine-tunes on a few
images of a new class. Torch is imported only when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.hookspecs import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub meta`."""
    from ganhub_meta.cli import meta_command

    cli.add_command(meta_command)
