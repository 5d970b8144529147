"""The stylegan domain: StyleGAN2-like synthesis with ADA, in plain PyTorch."""

from __future__ import annotations

from typing import Any, ClassVar

from ganhub_stylegan.config import PRESETS, StyleGANConfig, check

from ganhub.config.schema import RunConfig
from ganhub.domain import Domain
from ganhub.engine.system import BuildHints, GANSystem


class StyleGANDomain(Domain):
    """StyleGAN2 (skip G, residual D, lazy R1, path length, mixing, EMA) with ADA."""

    name = "stylegan"
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

    def check(self, config: RunConfig) -> list[str]:
        """Folder/zip data must hold readable square images of the resolution."""
        assert isinstance(config, StyleGANConfig)
        return check(config)

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """G, D and ADA from random init (nothing downloaded)."""
        from ganhub_stylegan.system import StyleGANSystem

        assert isinstance(config, StyleGANConfig)
        return StyleGANSystem(config, hints)
