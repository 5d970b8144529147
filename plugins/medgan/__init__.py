"""medgan: medical-imaging GANs with MONAI (lesion simulation, contrast translation, generation).

Registers the `medgan` domain, MONAI's PatchAdversarialLoss as `monai_patch_*` losses, the
medical metrics and the `ganhub medgan` commands. Each hook imports its module when called,
and none of those modules imports torch, monai or nibabel at the top, so `ganhub --help` and
`ganhub plugins` stay fast; without monai/nibabel ganhub lists this plugin as unavailable with
its install line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganhub.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    import click

# Checked by ganhub's plugin loader before registering anything (see ganhub.plugins).
__ganhub_requires__ = ("monai", "nibabel")


@hookimpl
def register_domains(register: Register) -> None:
    """Register the medgan domain."""
    from ganhub_medgan.domain import MedGANDomain

    register("medgan", MedGANDomain())


@hookimpl
def register_losses(register: Register) -> None:
    """Register MONAI's PatchAdversarialLoss criteria as ganhub losses."""
    from ganhub_medgan.losses import MONAI_LOSSES

    for cls in MONAI_LOSSES:
        register(cls.name, cls())


@hookimpl
def register_metrics(register: Register) -> None:
    """Register the medical metrics (PSNR/SSIM, texture, Dice, diversity, fd_rotnet)."""
    from ganhub_medgan.metrics import MED_METRICS

    for metric in MED_METRICS:
        register(metric.name, metric)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the `ganhub medgan` verbs (`ganhub medgan simulate`)."""
    from ganhub_medgan.commands import register

    register(cli)
