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

    from ganhub.engine.run import Run


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub meta`."""
    from ganhub_meta.cli import meta_command

    cli.add_command(meta_command)


@hookimpl
def before_train(run: Run) -> None:
    """Refuse `ganhub run resume=` of a meta run (its meta.json, written when meta-training
    starts): its steps are outer steps, and the loop would train on as an ordinary GAN on all
    of its classes, not meta-train, with no word of it."""
    if run.step == 0:
        return
    from ganhub_meta.reptile import META_FILE

    from ganhub.errors import ConfigError

    if (run.run_dir / META_FILE).is_file():
        raise ConfigError(
            f"resume={run.run_dir}: it is a ganhub meta run ({META_FILE}), stopped at outer step "
            f"{run.step} of {run.config.trainer.steps}, and ganhub run would train it on as an "
            "ordinary GAN on all of its classes, not meta-train it: run ganhub meta again for "
            f"more outer steps, or fine-tune it with ganhub adapt {run.run_dir} data.classes=[K]"
        )
