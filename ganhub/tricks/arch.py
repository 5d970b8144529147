"""Compute-aware architecture search: a supernet's choices pay for the compute they pick."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from ganhub.config.schema import Section
from ganhub.errors import ConfigError
from ganhub.tricks import Trick, bounded

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.config.schema import RunConfig
    from ganhub.domain import Domain
    from ganhub.engine.system import GANSystem, Phase, PhaseOutput


class ArchCostConfig(Section):
    """Options of the `arch_cost` trick."""

    weight: float = Field(
        0.1,
        description="loss per unit of expected compute, above 0 (1 = the space's costliest net)",
    )

    @field_validator("weight")
    @classmethod
    def _costs(cls, weight: float) -> float:
        why = (
            "adds no cost, so the supernets would choose as without the trick"
            if weight == 0
            else "would reward costly architectures, not penalise them"
        )
        return bounded(weight, weight > 0, why, "a weight above 0 (default 0.1), or drop arch_cost")


class ArchCost(Trick):
    """Each side's loss gains `weight` times the expected compute of its supernet's current
    architecture distribution, relative to the space's most expensive architecture
    (ProxylessNAS, Cai et al. 2019; FBNet, Wu et al. 2019). Without it, a supernet's choices
    follow the adversarial loss alone and drift to the largest networks. Only the architecture
    logits feel it: the compute of an architecture does not depend on its weights."""

    name = "arch_cost"
    description = "ProxylessNAS-style compute price: each side's loss gains weight x its supernet's expected compute"
    graph_safe = True
    Config = ArchCostConfig

    @classmethod
    def problems(cls, options: Any, config: RunConfig, domain: Domain) -> list[str]:
        """Besides the base checks: a run that builds no supernet (the domain declares the
        keys that build one, `Domain.supernet`) is refused before anything is built."""
        from ganhub.config.sources import as_typed, value_at

        out = super().problems(options, config, domain)
        dumped = config.model_dump()
        wanted = domain.supernet.items()
        if not wanted or any(value_at(dumped, k) != v for k, v in wanted):
            keys = " ".join(f"{k}={as_typed(v)}" for k, v in wanted)
            fix = f"give {keys}" if keys else f"domain '{config.plugin}' builds none"
            out.append(
                f"trick 'arch_cost' prices a supernet's architecture choices, and this "
                f"'{config.plugin}' run builds none ({fix})"
            )
        return out

    def setup(self, system: GANSystem) -> None:
        """Find each side's supernets; refuse a run that builds none."""
        from ganhub.nas import SUPERNET, Supernet

        if SUPERNET not in system.capabilities().provides:
            raise ConfigError(
                f"trick 'arch_cost' prices a supernet's architecture choices, and this "
                f"'{self.config.plugin}' run builds none (a domain with one: model.supernet=true)"
            )
        self.nets: dict[str, list[Supernet]] = {}
        for group, names in (("G", system.generator_names), ("D", system.discriminator_names)):
            modules = [m for name in names for m in getattr(system, name).modules()]
            self.nets[group] = [m for m in modules if isinstance(m, Supernet)]

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: Any) -> Tensor | None:
        """weight * sum of the phase side's supernets' expected relative compute, on every-step
        phases (not a lazy regulariser's, which would price the choices twice on its steps).
        Logs that compute, before its weight, as `arch/cost_G` / `arch/cost_D` (a device
        scalar: 1 = the space's costliest networks)."""
        nets = self.nets.get(phase.group)
        if not nets or not phase.every_step:
            return None
        total = nets[0].expected_cost()
        for net in nets[1:]:
            total = total + net.expected_cost()
        out.stats[f"arch/cost_{phase.group}"] = total.detach()
        return self.options.weight * total
