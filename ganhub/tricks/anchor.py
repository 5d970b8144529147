"""Elastic weight consolidation for few-shot adaptation (Li et al., NeurIPS 2020), and its
uniform special case L2-SP (Li et al., ICML 2018): soft parameter sharing between the task a
generator was trained on and the task it adapts to.

A GAN fine-tuned on ten images drifts from everything it knew within a few hundred steps. The
penalty `weight * sum_i F_i (theta_i - theta*_i)^2` ties each generator weight to its value
at the start of the run (theta*, the `init_from` weights), with a stiffness F_i that measures
how much the source model's output depends on it: the empirical Fisher information, the
squared per-sample gradients of G's adversarial loss at the start. Weights the source model
relies on stay put; the rest adapt. `fisher=false` makes every F_i 1 (L2-SP).

F is normalised to mean 1 over G's weights, so `weight` means the same with or without it
(the paper's lambda of 5e8 sits on the raw Fisher of its loss scale instead). The anchor and
F are taken at the first G phase, before G's first update, and are checkpointed with the
trick: a resumed run keeps them (resumed with `fisher=false` it drops F; a run started
without F refuses `fisher=true`). Estimating F costs one backward pass through G per sample
of that first batch, once; under torchrun each process estimates it on its own batch and the
estimates are averaged (one all-reduce), so every process holds the F that is checkpointed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from ganhub.config.schema import Section
from ganhub.errors import ConfigError
from ganhub.tricks import Trick, bounded, group_params

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ganhub.engine.system import GANSystem, Phase, PhaseOutput


class EWCConfig(Section):
    """Options of the `ewc` trick."""

    weight: float = Field(
        0.1, description="lambda, above 0: the penalty is weight * sum F_i (theta_i - "
        "theta*_i)^2 over G's weights, F normalised to mean 1",
    )  # fmt: skip
    fisher: bool = Field(
        True, description="weight each parameter by its Fisher information at the start (EWC); "
        "false: every weight alike (L2-SP)",
    )  # fmt: skip

    @field_validator("weight")
    @classmethod
    def _holds(cls, weight: float) -> float:
        why = (
            "adds no penalty, so G's weights would drift as without the trick"
            if weight == 0
            else "would push G's weights away from the ones the run started from"
        )
        return bounded(weight, weight > 0, why, "a weight above 0 (default 0.1), or drop ewc")


class ElasticWeightConsolidation(Trick):
    """EWC: G's weights held near the weights the run started from, stiffest where the
    source model's output depends on them most (few-shot adaptation)."""

    name = "ewc"
    description = "hold G near its init_from weights, weighted by Fisher information (EWC)"
    Config = EWCConfig
    # the anchor and F are set in the first G phase, which runs eagerly (a plan warms up
    # before its capture); afterwards the penalty is device work on fixed tensors
    graph_safe = True
    needs_trained_weights = (
        "holds G near the weights the run starts from, which are random without init_from"
    )

    def setup(self, system: GANSystem) -> None:
        """G's weights; anchor and stiffness come at the first G phase (or from a checkpoint)."""
        self.params: list[nn.Parameter] = group_params(system, ["G"])
        self.anchor: list[Tensor] | None = None
        self.stiffness: list[Tensor] | None = None  # sqrt(F), None for L2-SP

    def extra_loss(self, phase: Phase, out: PhaseOutput, ctx: Any) -> Tensor | None:
        """weight * sum F (theta - theta*)^2 on G's every-step phases (not lazy regularisers)."""
        if phase.group != "G" or not phase.every_step:
            return None
        import torch

        if self.anchor is None:
            self.anchor = [p.detach().clone() for p in self.params]
            if self.options.fisher:
                self.stiffness = self._sqrt_fisher(out, phase)
        diffs = torch._foreach_sub([p for p in self.params], self.anchor)
        if self.stiffness is not None:
            torch._foreach_mul_(diffs, self.stiffness)
        penalty = torch.stack(torch._foreach_norm(diffs)).square().sum()
        out.stats["ewc_penalty"] = penalty.detach()
        return self.options.weight * penalty

    def _sqrt_fisher(self, out: PhaseOutput, phase: Phase) -> list[Tensor]:
        """sqrt of the empirical Fisher: the mean over the batch of each sample's squared
        gradient of G's loss (under torchrun: over every process's batch), normalised to mean 1
        over G's weights."""
        import torch

        fake = out.aux.get("fake")
        if fake is None or not fake.requires_grad:
            raise ConfigError(
                f"trick.ewc.fisher=true: phase '{phase.name}' does not hand over its samples "
                "(PhaseOutput.aux['fake']) to estimate the Fisher information; set "
                "trick.ewc.fisher=false (uniform weights, L2-SP)"
            )
        # the loss is a mean over samples: each sample's own gradient is n times its share
        (upstream,) = torch.autograd.grad(out.loss, fake, retain_graph=True)
        trained = [p for p in self.params if p.requires_grad]
        fisher = [torch.zeros_like(p) for p in self.params]
        n = len(fake)
        for i in range(n):
            grads = torch.autograd.grad(
                fake[i], trained, grad_outputs=upstream[i] * n, retain_graph=True,
                allow_unused=True,
            )  # fmt: skip
            by_param = dict(zip(map(id, trained), grads))
            for f, p in zip(fisher, self.params):
                g = by_param.get(id(p))
                if g is not None:
                    f.add_(g.detach().float().square(), alpha=1.0 / n)
        _average_across_processes(fisher)
        total = sum(f.sum() for f in fisher)
        count = sum(f.numel() for f in fisher)
        mean = float(total) / max(count, 1)  # one read, once per run
        if mean <= 0:
            raise ConfigError(
                "trick.ewc.fisher=true: G's loss has no gradient at the start, so the Fisher "
                "information is zero everywhere; set trick.ewc.fisher=false (L2-SP)"
            )
        return [(f / mean).sqrt().to(p.dtype) for f, p in zip(fisher, self.params)]

    def state_dict(self) -> dict[str, Any]:
        """The anchor weights and sqrt(F) (empty before the first G phase)."""
        if self.anchor is None:
            return {}
        return {"anchor": self.anchor, "stiffness": self.stiffness}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the anchor and sqrt(F) onto G's devices. A resume that turns `fisher` off
        keeps the anchor with F = 1 (L2-SP); one that turns it on is refused: F is the
        source's, estimated at the start, and the run's weights have moved since."""
        if not state:
            return
        self.anchor = [a.to(p.device) for a, p in zip(state["anchor"], self.params)]
        stiffness = state.get("stiffness")
        if stiffness is None and self.options.fisher:
            raise ConfigError(
                "trick.ewc.fisher=true: the run being resumed started with fisher=false and "
                "holds no Fisher information of its source weights (it is estimated at the "
                "first G phase only); resume with trick.ewc.fisher=false, or start a new run "
                "from init_from"
            )
        self.stiffness = (
            None
            if stiffness is None or not self.options.fisher
            else [s.to(p.device) for s, p in zip(stiffness, self.params)]
        )


def _average_across_processes(tensors: list[Tensor]) -> None:
    """Under torchrun, replace each process's estimate by the mean of all processes' (one
    flattened all-reduce, once per run): every rank then holds the same F, the one rank 0
    checkpoints, so a resumed run goes on exactly as the uninterrupted one. One process:
    untouched."""
    import torch

    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.copy_(part.view_as(t))
