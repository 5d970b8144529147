"""ganhub-example-plugin: a loss, a trick and a domain added from outside ganhub.

Only the hook implementations live here; the classes are in `parts` so that importing the
plugin stays cheap (ganhub loads every plugin when its CLI starts).
"""

from __future__ import annotations

from ganhub.hookspecs import Register, hookimpl


@hookimpl
def register_losses(register: Register) -> None:
    """Add the smooth hinge loss."""
    from ganhub_example.parts import SmoothHingeLoss

    register("smooth_hinge", SmoothHingeLoss())


@hookimpl
def register_tricks(register: Register) -> None:
    """Add WGAN weight clipping."""
    from ganhub_example.parts import WeightClip

    register("weight_clip", WeightClip)


@hookimpl
def register_domains(register: Register) -> None:
    """Add the two-moons domain."""
    from ganhub_example.parts import MoonsDomain

    register("moons", MoonsDomain())
