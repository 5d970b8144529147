"""A trick from outside ganhub: WGAN weight clipping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ganhub.config.schema import Section
from ganhub.tricks import Trick

if TYPE_CHECKING:
    from ganhub.engine.system import GANSystem


class WeightClipConfig(Section):
    """Options of the moons_weight_clip trick: trick.moons_weight_clip.<key>=value."""

    clip: float = Field(
        0.01, gt=0, description="D weights are clamped to [-clip, clip] (WGAN: 0.01)"
    )


class WeightClip(Trick):
    """WGAN weight clipping (Arjovsky et al. 2017): clamp D's weights after every step."""

    name = "moons_weight_clip"
    Config = WeightClipConfig
    excludes = frozenset({"gp", "spectral_norm"})  # other Lipschitz constraints; use one

    def constrains_d(self) -> bool:
        """Clamped weights bound D's Lipschitz constant: what a WGAN critic needs."""
        return True

    def setup(self, system: GANSystem) -> None:
        """Remember the discriminators' parameters."""
        self.params = [p for d in system.discriminators() for p in d.parameters()]

    def after_step(self, step: int, system: GANSystem) -> None:
        """Clamp every D parameter in place (one foreach kernel pair, no host sync)."""
        import torch

        with torch.no_grad():
            torch._foreach_clamp_min_(self.params, -self.options.clip)
            torch._foreach_clamp_max_(self.params, self.options.clip)
