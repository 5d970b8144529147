"""stylegan: StyleGAN2-like image synthesis with adaptive augmentation, in plain PyTorch.

Registers the `stylegan` domain, `cmap` (StyleGAN2-ADA's conditional discriminator) and
`ganhub stylegan mix|truncation|interpolate|explore|check` (plus the deprecated
`ganhub stylegan-sample` and `stylegan-check`). Registration imports no torch: the hooks
import the domain, labels and commands modules when they run. Python API:
`ganhub.load(run_dir, plugin="stylegan").system.sample(n, seed=, psi=, cutoff=)`,
`ganhub_stylegan.style_mixing_grid`, `truncation_grid`, `interpolation_gif`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganhub.hookspecs import Register, hookimpl

__ganhub_requires__ = ("skimage", "imageio")

if TYPE_CHECKING:
    import click

_SAMPLING = ("style_mixing_grid", "truncation_grid", "interpolation_gif", "interpolation_frames")


@hookimpl
def register_domains(register: Register) -> None:
    """Register the stylegan domain."""
    from ganhub_stylegan.domain import StyleGANDomain

    register("stylegan", StyleGANDomain())


@hookimpl
def register_conditioners(register: Register) -> None:
    """Register `cmap`, StyleGAN2-ADA's conditional discriminator (stylegan's default)."""
    from ganhub_stylegan.labels import CmapConditioner

    register(CmapConditioner.name, CmapConditioner())


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub stylegan <verb>` and the deprecated `stylegan-sample`/`stylegan-check`."""
    from ganhub_stylegan.commands import register

    register(cli)


def __getattr__(name: str) -> Any:
    if name in _SAMPLING:
        from ganhub_stylegan import sampling

        return getattr(sampling, name)
    if name == "StyleGANDomain":
        from ganhub_stylegan.domain import StyleGANDomain

        return StyleGANDomain
    raise AttributeError(f"module 'ganhub_stylegan' has no attribute '{name}'")


__all__ = ["StyleGANDomain", *_SAMPLING]
