"""interpret: what a trained generator's latent directions mean and what its layers compute.

`ganhub interpret directions RUN --method sefa|ganspace|boundary` finds latent directions and,
on data with known factors (`data=shapes`), measures which factor each one moves and how
exclusively; `ganhub interpret features RUN` shows G's channel maps, D's saliency and attention
maps. Both write a self-contained HTML page into RUN/interpret/. Systems take part through the
`latent_space` interface (`ganhub.latent`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

__ganhub_requires__ = ("captum", "sklearn")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub interpret`."""
    from ganhub_interpret.cli import interpret

    cli.add_command(interpret)
