"""Every hook ganhub calls: the plugin interface in one file.

Two kinds of hooks, kept apart:

* Discovery hooks (cold) run once when the plugin manager is built. Each receives a
  ``register`` callback: ``register(name, obj, description=None)``. The host keeps the names,
  refuses duplicates and offers did-you-mean on lookups, so plugins never touch a registry.
* Lifecycle hooks (warm) fire at coarse points of a training run. They are never called inside
  autograd or per phase: the per-step math calls loss and trick objects resolved once at setup.
  ``after_step`` fires once per optimisation step; keep implementations cheap and never call
  ``.item()`` there (``metrics`` is only filled on logging steps, already on the host).

Implementations may take any subset of a hook's arguments (pluggy matches by name). Arguments
are only ever added to a spec, never removed. Every hook below has a section in
``docs/hooks.md``; ``tests/test_docs.py`` fails when one is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from ganhub.engine.run import Run

hookspec = pluggy.HookspecMarker("ganhub")
hookimpl = pluggy.HookimplMarker("ganhub")

Register = Callable[..., None]

# -------------------------------------------------------------------------------------------
# Discovery hooks: called once, when the plugin manager loads plugins.
# -------------------------------------------------------------------------------------------


@hookspec
def register_domains(register: Register) -> None:
    """Register domains: ``register("toy2d", Toy2dDomain())``.

    A domain is a :class:`ganhub.domain.Domain`: its config class, presets, and a ``build``
    that returns the :class:`ganhub.engine.system.GANSystem` (models, data, phases, samples).
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register adversarial losses: ``register("hinge", HingeLoss())``.

    A loss is a :class:`ganhub.losses.AdversarialLoss` with ``d_loss`` and ``g_loss``.
    """


@hookspec
def register_tricks(register: Register) -> None:
    """Register optimisation tricks: ``register("ema", EMATrick)`` (the class, not an instance).

    A trick is a :class:`ganhub.tricks.Trick` subclass with a pydantic ``Config``; it is
    instantiated per run with its validated options (``trick.<name>.<key>=...``).
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics: ``register("mode_coverage_2d", ModeCoverage2D())``.

    A metric is a :class:`ganhub.metrics.Metric`; it returns a dict of named floats.
    """


@hookspec
def register_loggers(register: Register) -> None:
    """Register run loggers: ``register("jsonl", JsonlLogger)`` (the class, built per run
    with the run directory and config: ``JsonlLogger(run_dir, config)``).

    A logger is a :class:`ganhub.loggers.Logger`: ``log(step, metrics)``, ``close()``.
    """


@hookspec
def register_conditioners(register: Register) -> None:
    """Register conditioning mechanisms: ``register("cbn", CBNConditioner())``.

    A mechanism is a :class:`ganhub.conditioning.Conditioner` for the generator or the
    discriminator side, chosen by ``condition.generator=`` / ``condition.discriminator=``.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``ganhub`` command line: ``cli.add_command(my_command)``.

    Keep the module light: import heavy packages inside the command function, not at the top.
    """


# -------------------------------------------------------------------------------------------
# Lifecycle hooks: coarse events of a training run, in the order they fire.
# -------------------------------------------------------------------------------------------


@hookspec
def before_train(run: Run) -> None:
    """Called once the run is set up (models built, checkpoint restored), before step one.

    ``run.step`` is the step training starts from (0, or the resumed step).
    """


@hookspec
def after_step(run: Run, step: int, metrics: dict[str, float] | None) -> None:
    """Called after every optimisation step; ``metrics`` is set only on logging steps.

    ``step`` counts completed steps (1 after the first). Never sync the device here.
    """


@hookspec
def before_save_checkpoint(run: Run, step: int, extra: dict[str, Any]) -> None:
    """Called before a checkpoint is written; add JSON-serialisable entries to ``extra``.

    ``extra`` is stored in the checkpoint's ``state.json`` under ``"extra"`` and is available
    again as ``run.resumed_extra`` after a resume.
    """


@hookspec
def after_evaluate(run: Run, step: int, metrics: dict[str, float]) -> None:
    """Called after the run's metrics were computed (during training or at its end)."""


@hookspec
def after_train(run: Run, summary: dict[str, Any]) -> None:
    """Called when training ends normally (or was stopped by a signal after saving).

    ``summary`` holds ``steps``, ``seconds``, ``run_dir``, ``checkpoint`` and final metrics.
    """


@hookspec
def on_train_error(run: Run, error: BaseException) -> None:
    """Called when training stops with an exception, before it propagates."""


__all__ = [
    "Register",
    "after_evaluate",
    "after_step",
    "after_train",
    "before_save_checkpoint",
    "before_train",
    "hookimpl",
    "hookspec",
    "on_train_error",
    "register_commands",
    "register_conditioners",
    "register_domains",
    "register_loggers",
    "register_losses",
    "register_metrics",
    "register_tricks",
]
