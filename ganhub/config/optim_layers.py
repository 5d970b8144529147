"""The layers of a config merged, less the optimizer options that only a layer below the one
that chose the optimizer set.

A preset (or `Domain.defaults_for`) may give Adam its betas; a user who types
`optim.G.name=rmsprop` on top of it did not set betas, and RMSprop does not read them. Such an
option goes back to the domain's default for its group, which `RunConfig` accepts beside any
optimizer, and the config a run saves and `ganhub config` prints holds the value in effect.
An option that the layer which chose the optimizer, or one above it, sets (the user's own
`optim.G.betas=...` beside `optim.G.name=rmsprop`, or a preset that names both) is kept, and
`OptimizerConfig.problems` refuses it naming the key. A resume keeps its saved options
(`merge_layers`' `reset`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from ganhub.config.overrides import deep_merge
from ganhub.config.rederive import ABSENT, section_defaults, value_at
from ganhub.config.schema import OPTIMIZER_OPTIONS

# every option some optimizer reads and another ignores (lr, weight_decay, impl: all read them)
_SPECIFIC = tuple(sorted({option for takes in OPTIMIZER_OPTIONS.values() for option in takes}))


def merge_layers(
    layers: Sequence[Mapping[str, Any]], base: type[BaseModel], *, reset: bool = True
) -> dict[str, Any]:
    """`layers` merged, later winning, with each optimizer option that the chosen optimizer
    does not use and that only layers below the one choosing it (`optim.GROUP.name`) set reset
    to the default of `base` (the domain's config class) for that group. `reset=False` keeps
    them all: a resumed run's saved config cannot tell the options its user typed from its
    preset's, so one the new optimizer ignores is refused naming the file, and the user types
    the default back (`optim.D.momentum=0.0`)."""
    merged: dict[str, Any] = functools.reduce(deep_merge, layers, {})
    optim = merged.get("optim")
    if not reset or not isinstance(optim, dict):
        return merged  # validation says what is wrong with it
    defaults = section_defaults(base).get("optim", {})
    for group, values in optim.items():
        name = values.get("name") if isinstance(values, dict) else None
        takes = OPTIMIZER_OPTIONS.get(name) if isinstance(name, str) else None
        if takes is None:
            continue  # an unknown optimizer: refused by validation, naming the key
        chose = _top_layer(layers, ["optim", group, "name"])
        for option in _SPECIFIC:
            if option in takes or option not in values:
                continue
            if _top_layer(layers, ["optim", group, option]) < chose:
                default = value_at(defaults, [group, option])
                if default is ABSENT:
                    del values[option]  # the class default of OptimizerConfig
                else:
                    values[option] = default
    return merged


def _top_layer(layers: Sequence[Mapping[str, Any]], path: list[str]) -> int:
    """The index of the last layer that sets `path`, -1 where none does."""
    found = [i for i, layer in enumerate(layers) if value_at(layer, path) is not ABSENT]
    return found[-1] if found else -1


__all__ = ["merge_layers"]
