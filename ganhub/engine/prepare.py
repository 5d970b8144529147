"""A run's system before training: the domain builds it, the tricks shape it.

Shared by `Run` and `ganhub.load`: the same tricks must shape the models (spectral norm
parametrisations, EMA copies, packed discriminators) before a checkpoint can be loaded. The
domain's `build` and each trick's `setup` are plugin code: an exception raised in them is one
line naming the part and its plugin (`ganhub.plugin_guard.Owners`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ganhub.engine import start
from ganhub.engine.environment import use_channels_last
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.errors import PluginError, plugin_code
from ganhub.plugin_guard import Owners
from ganhub.tricks import build_tricks

if TYPE_CHECKING:
    import torch

    from ganhub.config.schema import RunConfig
    from ganhub.engine.components import Components
    from ganhub.tricks import Trick


def prepare_system(
    config: RunConfig, parts: Components, device: torch.device, saved: bool = False
) -> tuple[GANSystem, list[Trick]]:
    """Build the domain's system and let the tricks shape it (before any weights are loaded;
    `saved`: the weights are a saved run's, read to sample, score or adapt)."""
    owners = Owners(parts.provenance)
    tricks = build_tricks(config, parts.tricks, saved, owners)
    # a fresh copy per build: tricks add their auxiliary heads to it
    condition = dataclasses.replace(parts.condition, heads={}) if parts.condition else None
    hints = BuildHints(condition=condition)
    for t in tricks:
        with plugin_code(f"trick '{t.name}': its adjust_build()", owners.hint("trick", t.name)):
            t.adjust_build(hints)
    if condition is not None:
        condition.pack = hints.pack
    # plugin_code outside fits_in_memory: a model too large for memory is a size to change
    # (fits_in_memory's one line), not a bug of the plugin
    model = f"the '{config.plugin}' model of this config"  # with the tricks' copies (EMA)
    fit = "check its model.* sizes"
    domain = owners.hint("domain", config.plugin)
    with (
        plugin_code(f"domain '{config.plugin}': its build()", domain),
        start.fits_in_memory(model, fit),
        _init_first(),
    ):
        system = parts.domain.build(config, hints)
    # a forgotten `return` in build(), or another object: an AttributeError deep in the engine
    fits = isinstance(system, GANSystem)
    start.check_part(config.plugin, "build()", system, fits, "a GANSystem")
    # the contract's sample(): a TypeError only once a metric, `ganhub sample` or load calls
    # it; an overridden display_samples(): once `ganhub sample --label` does
    problem = _sample_problem(system, "sample", system.sample)
    if problem is None and type(system).display_samples is not GANSystem.display_samples:
        problem = _sample_problem(system, "display_samples", system.display_samples)
    if problem:
        raise PluginError(f"domain '{config.plugin}': {problem} ({domain})")
    for t in tricks:
        trick = owners.hint("trick", t.name)
        with plugin_code(f"trick '{t.name}': its setup()", trick), start.fits_in_memory(model, fit):
            t.setup(system)
    with start.fits_in_memory(model, fit):
        system.to(device)
    if config.trainer.channels_last:
        use_channels_last(system, device)
    return system, tricks


# what the engine and `ganhub.load` pass to a system's sample() (and display_samples()), and
# the signature to write
SIGNATURE = "(self, n, *, seed=None, use_ema=True, labels=None)"


def _sample_problem(system: GANSystem, method: str, bound: Any) -> str | None:
    """Why a system's `sample` (or `display_samples`: `method`, `bound` to the system) cannot
    take what ganhub passes (`labels=` left out: a TypeError once a conditional metric,
    `ganhub sample`, its --label or `ganhub.load` calls it), or None."""
    import inspect

    try:
        signature = inspect.signature(bound)
    except (TypeError, ValueError):  # not a Python function: left to the call
        return None
    try:
        signature.bind(0, seed=None, use_ema=True, labels=None)
        return None
    except TypeError:
        pass
    # as its author wrote it, less the annotations: `sample(self, n, *, seed=None)`
    own = inspect.signature(getattr(bound, "__func__", bound))
    empty = inspect.Parameter.empty
    bare = [p.replace(annotation=empty) for p in own.parameters.values()]
    shown = own.replace(parameters=bare, return_annotation=empty)
    return (
        f"{type(system).__name__}.{method}{shown} cannot take what ganhub passes (n, seed=, "
        f"use_ema=, labels=): define {method}{SIGNATURE}"
    )


@contextmanager
def _init_first() -> Iterator[None]:
    """torch's "cannot assign module before Module.__init__() call", raised in build(): a
    module or parameter assigned to the system (or a network) before its base class's
    `__init__` ran; the reason gets the call that fixes it, first in that class's `__init__`."""
    try:
        yield
    except AttributeError as exc:
        if "before Module.__init__() call" not in str(exc):
            raise
        owner = _assigned_to(exc.__traceback__)
        call = "super().__init__(config, hints)" if isinstance(owner, GANSystem) else None
        call = call or "super().__init__()"
        where = f" in {type(owner).__name__}.__init__" if owner is not None else ""
        raise AttributeError(f"{exc}: call {call} first{where}") from exc


def _assigned_to(tb: TracebackType | None) -> object | None:
    """The module torch refused the assignment on: `self` of the innermost `__setattr__`."""
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "__setattr__":
            found = tb.tb_frame.f_locals.get("self")
        tb = tb.tb_next
    return found


__all__ = ["prepare_system"]
