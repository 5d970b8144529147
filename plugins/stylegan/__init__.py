"""stylegan: StyleGAN2-like image synthesis with adaptive augmentation, in plain PyTorch.

Registers the `stylegan` domain and the `ganhub stylegan-sample` and `ganhub stylegan-check`
commands. Python API: `ganhub.load(run_dir).system.sample(n, seed=, psi=, cutoff=)`,
`ganhub_stylegan.style_mixing_grid`, `truncation_grid`, `interpolation_gif`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganhub_stylegan.domain import StyleGANDomain

from ganhub.hookspecs import Register, hookimpl

__ganhub_requires__ = ("skimage", "imageio")

if TYPE_CHECKING:
    import click

_SAMPLING = ("style_mixing_grid", "truncation_grid", "interpolation_gif", "interpolation_frames")


@hookimpl
def register_domains(register: Register) -> None:
    """Register the stylegan domain."""
    register("stylegan", StyleGANDomain())


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub stylegan-sample` and `ganhub stylegan-check`."""
    from ganhub_stylegan.cli import check_command, sample_command

    cli.add_command(sample_command)
    cli.add_command(check_command)


def __getattr__(name: str) -> Any:
    if name in _SAMPLING:
        from ganhub_stylegan import sampling

        return getattr(sampling, name)
    raise AttributeError(f"module 'ganhub_stylegan' has no attribute '{name}'")


__all__ = ["StyleGANDomain", *_SAMPLING]
