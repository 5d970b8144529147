"""cyclegan: unpaired image translation (CycleGAN) and paired translation (pix2pix).

Registers the `cyclegan` domain, the `translation_psnr_ssim` and `cycle_l1` metrics and the
`ganhub cyclegan translate` command (`ganhub translate` is its deprecated alias). The Python
API: `ganhub_cyclegan.translate(run_dir, inputs)` and `ganhub_cyclegan.Translator` for
in-memory tensors. Registration imports no torch: the modules are imported inside the hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganhub.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    import click
    from ganhub_cyclegan.domain import CycleGANDomain
    from ganhub_cyclegan.translation import Translator, translate


@hookimpl
def register_domains(register: Register) -> None:
    """Register the cyclegan domain."""
    from ganhub_cyclegan.domain import CycleGANDomain

    register("cyclegan", CycleGANDomain())


@hookimpl
def register_metrics(register: Register) -> None:
    """Register PSNR/SSIM against true pairs, the cycle L1 and the FD to the target domain."""
    from ganhub_cyclegan.metrics import CycleL1, TranslationFD, TranslationPSNRSSIM

    register(TranslationPSNRSSIM.name, TranslationPSNRSSIM())
    register(CycleL1.name, CycleL1())
    register(TranslationFD.name, TranslationFD())


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add `ganhub cyclegan translate` (and the deprecated `ganhub translate`)."""
    from ganhub_cyclegan.commands import register

    register(cli)


def __getattr__(name: str) -> Any:
    if name in ("Translator", "translate"):
        from ganhub_cyclegan import translation as module

        return getattr(module, name)
    if name == "CycleGANDomain":
        from ganhub_cyclegan.domain import CycleGANDomain

        return CycleGANDomain
    raise AttributeError(f"module 'ganhub_cyclegan' has no attribute '{name}'")


__all__ = ["CycleGANDomain", "Translator", "translate"]
