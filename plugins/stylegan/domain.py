"""The stylegan domain: StyleGAN2-like synthesis with the core ema, lazy r1 and ada tricks.

Imports no torch: the system is built (and torch imported) in `build`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_stylegan.config import PRESETS, RENAMED_KEYS, StyleGANConfig, check, choice_defaults

from ganhub.domain import Domain

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.engine.system import BuildHints, GANSystem


class StyleGANDomain(Domain):
    """StyleGAN2 (skip G, residual D, path length, mixing) with EMA, lazy R1 and ADA tricks."""

    name = "stylegan"
    renamed_keys: ClassVar[dict[str, str]] = RENAMED_KEYS
    description = (
        "StyleGAN2-like synthesis with ADA, plain PyTorch; embedded default: 100 LFW faces "
        "at 32 px (preset small), MNIST digits, or a folder/zip at any power-of-two size"
    )
    modality = "image"
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    @property
    def config_class(self) -> type[RunConfig]:
        """StyleGANConfig."""
        return StyleGANConfig

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """R1 gamma and interval, ADA kimg, the EMA half-life and folder data from `data.path`,
        derived from the preset and the user's keys (see `config.choice_defaults`)."""
        return choice_defaults(chosen)

    def check(self, config: RunConfig) -> list[str]:
        """Folder/zip data must hold readable square images of the image size."""
        assert isinstance(config, StyleGANConfig)
        return check(config)

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """G and D from random init (nothing downloaded)."""
        from ganhub_stylegan.system import StyleGANSystem

        assert isinstance(config, StyleGANConfig)
        return StyleGANSystem(config, hints)
