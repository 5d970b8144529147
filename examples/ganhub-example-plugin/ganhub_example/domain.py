"""A domain from outside ganhub: its config and the factory of its system."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ganhub.config.schema import OptimConfig, OptimizerConfig, RunConfig, TrainerConfig
from ganhub.domain import Domain

if TYPE_CHECKING:
    from ganhub.engine.system import BuildHints, GANSystem


def _moons_optim() -> OptimConfig:
    """Adam at lr 1e-3 with betas (0, 0.99) for G and D: the image-GAN default (2e-4, (0.5,
    0.999)) leaves two moons a blob after the README's 500 steps; this draws them."""
    adam = OptimizerConfig(lr=1e-3, betas=(0.0, 0.99))
    return OptimConfig(G=adam, D=adam.model_copy())


class MoonsConfig(RunConfig):
    """Config of the moons domain."""

    plugin: str = "moons"
    noise: float = Field(0.05, ge=0, description="std of the Gaussian noise around the moons")
    hidden: int = Field(128, gt=0, description="MLP width of G and D")
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(steps=1000, batch_size=128, log_every=100)
    )
    optim: OptimConfig = Field(default_factory=_moons_optim)


class MoonsDomain(Domain):
    """MLP GAN on the two-moons dataset (a third-party example domain)."""

    name = "moons"
    description = "MLP GAN on two moons (from ganhub-example-plugin)"
    modality = "vector"
    supports_pack = True

    @property
    def config_class(self) -> type[RunConfig]:
        """MoonsConfig."""
        return MoonsConfig

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The MLP pair (torch is imported here, when a run is built)."""
        from ganhub_example.system import MoonsSystem

        assert isinstance(config, MoonsConfig)
        return MoonsSystem(config, hints)
