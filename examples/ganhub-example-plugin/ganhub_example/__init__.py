"""ganhub-example-plugin: a loss, a trick and a domain added from outside ganhub.

Only the hook implementations live here. Each imports its module when called, and those
modules import torch inside their methods, so `ganhub --help` and `ganhub plugins` stay fast
with this plugin installed; the models are in `system`, imported when a run is built.
"""

from __future__ import annotations

from ganhub.hookspecs import Register, hookimpl


@hookimpl
def register_losses(register: Register) -> None:
    """Add the smooth hinge loss."""
    from ganhub_example.loss import SmoothHingeLoss

    register("moons_smooth_hinge", SmoothHingeLoss())


@hookimpl
def register_tricks(register: Register) -> None:
    """Add WGAN weight clipping (the class: ganhub instantiates it per run)."""
    from ganhub_example.trick import WeightClip

    register("moons_weight_clip", WeightClip)


@hookimpl
def register_domains(register: Register) -> None:
    """Add the two-moons domain."""
    from ganhub_example.domain import MoonsDomain

    register("moons", MoonsDomain())
