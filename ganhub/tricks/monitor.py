"""`param_stats`: statistics of the networks' weights, logged as every statistic is logged.

The loop logs each phase's gradient norm (`grad_norm/<phase>`); the weights themselves tell
other stories: a D whose weight norm keeps growing drifts away from a Lipschitz bound (what
`spectral_norm` and `weight_penalty` hold in check), and a generator whose weights stop
moving has stopped learning. The norms are measured on logging steps only, on the device,
and read with the logging step's one flush: the other steps do no extra work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from ganhub.config.schema import Section
from ganhub.tricks import Groups, Trick, group_params

if TYPE_CHECKING:
    from torch import Tensor

    from ganhub.engine.system import GANSystem, Phase, PhaseOutput


class ParamStatsConfig(Section):
    """Options of the `param_stats` trick."""

    groups: Groups = Field(["G", "D"], description="which sides' weights are measured")


class ParamStats(Trick):
    """Logs `param_norm/<group>` (the L2 norm of the side's weight matrices and kernels) and
    `param_absmax/<group>` (their largest entry in size) at every logging step."""

    name = "param_stats"
    Config = ParamStatsConfig

    def setup(self, system: GANSystem) -> None:
        """Collect the measured weights per group once (matrices and kernels: not biases or
        norm scales, as `weight_penalty` counts them)."""
        self.weights: dict[str, list[Tensor]] = {
            g: [p for p in group_params(system, [g]) if p.ndim > 1] for g in self.options.groups
        }

    def observe(self, phase: Phase, out: PhaseOutput, ctx: Any) -> None:
        """On a logging step, the norms of the phase's group as they stand before its update
        (every-step phases only: a lazy regulariser's phase would count them twice)."""
        params = self.weights.get(phase.group)
        if not params or not phase.every_step or not ctx.diagnose:
            return
        import torch

        with torch.no_grad():
            norms = torch.stack(torch._foreach_norm(params, 2))
            absmax = torch.stack(torch._foreach_norm(params, float("inf")))
            out.stats[f"param_norm/{phase.group}"] = torch.linalg.vector_norm(norms).float()
            out.stats[f"param_absmax/{phase.group}"] = absmax.max().float()
