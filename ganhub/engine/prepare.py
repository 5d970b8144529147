"""A run's system before training: the domain builds it, the tricks shape it.

Shared by `Run` and `ganhub.load`: the same tricks must shape the models (spectral norm
parametrisations, EMA copies, packed discriminators) before a checkpoint can be loaded. The
domain's `build` and each trick's `setup` are plugin code: an exception raised in them is one
line naming the part and its plugin (`ganhub.plugin_guard.Owners`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ganhub.engine import start
from ganhub.engine.environment import use_channels_last
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.errors import plugin_code
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
    ):
        system = parts.domain.build(config, hints)
    # a forgotten `return` in build(), or another object: an AttributeError deep in the engine
    fits = isinstance(system, GANSystem)
    start.check_part(config.plugin, "build()", system, fits, "a GANSystem")
    for t in tricks:
        trick = owners.hint("trick", t.name)
        with plugin_code(f"trick '{t.name}': its setup()", trick), start.fits_in_memory(model, fit):
            t.setup(system)
    with start.fits_in_memory(model, fit):
        system.to(device)
    if config.trainer.channels_last:
        use_channels_last(system, device)
    return system, tricks


__all__ = ["prepare_system"]
