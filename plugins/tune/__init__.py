"""tune: hyperparameter optimisation and architecture search on Optuna (`ganhub tune`).

Each trial is an ordinary ganhub run in the study directory; trials report their objective
after each evaluation so the pruner can stop unpromising ones; the study is stored in SQLite
(or PostgreSQL for several machines) and resumes when run again. Optuna is imported only when
the command runs, so `ganhub --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

__ganhub_requires__ = ("optuna",)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub tune`."""
    from ganhub_tune.cli import tune_command

    cli.add_command(tune_command)
