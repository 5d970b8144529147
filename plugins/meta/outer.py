"""The outer update of `ganhub meta`: how the tasks' inner loops move the meta weights theta.

Both algorithms run the same inner loop (a task's Run trains `meta.inner_steps` ordinary steps
from theta) and differ in what they take from it:

- Reptile (Nichol et al. 2018) takes the adapted weights phi_i and moves theta toward their
  mean: theta <- theta + epsilon * mean_i(phi_i - theta).
- First-order MAML (Finn et al. 2017, in the first-order form Nichol et al. analyse) takes a
  gradient: after its inner steps each task trains one more step on a fresh batch (its query
  batch), and the gradients that step's optimizer updates use, computed at the adapted weights,
  are averaged over the tasks (and over a side's steps, n_critic's D steps included) into the
  meta-gradient. The meta run's own optimizers (Adam, as the run's config builds them) apply it
  to theta at the outer learning rate; each param group keeps its ratio to the side's rate
  (a supernet's architecture logits, StyleGAN's lazy corrections). Buffers (BatchNorm
  statistics) take the tasks' mean: they are statistics of the adapted networks, not weights
  a gradient moves.

Gradients are read by torch's optimizer step pre-hooks, so the query step is an ordinary
training step of the task's Run; the cost of FOMAML over Reptile is that step (one more per
task visit) and one copy of each side's gradients.

FOMAML's outer step is an optimizer step on a gradient, so the meta run logs that gradient's
norm per side as `grad_norm/<side>`, the key under which `ganhub run` logs a phase's (read by
the health monitor and `ganhub report`): computed on the device, read with the outer step's
other stats. Reptile's step has no gradient: phi_i - theta is where Adam's normalised inner
steps went, whose size neither vanishes nor explodes with the gradients the monitor watches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from ganhub_meta.config import MetaOptions
    from torch import Tensor, nn

    from ganhub.engine.run import Run


class OuterUpdate(Protocol):
    """What an algorithm takes from each task's inner loop and how it moves theta."""

    name: str
    title: str  # for the console banner
    rate_key: str  # the logged outer rate at each outer step
    query_steps: int  # training steps per task visit after the inner steps

    def watch(self, task: Run) -> None:
        """Prepare a task's Run, once, when it is built."""

    def after_inner(self, task: Run, batches: Iterator[Any]) -> dict[str, Any]:
        """What this algorithm keeps of a task visit whose inner steps just ran."""

    def apply(
        self, run: Run, theta: dict[str, Tensor], kept: list[dict[str, Any]], step: int
    ) -> None:
        """Move the meta run's weights (now theta) by what the visits of outer step `step` kept."""

    def norms(self) -> dict[str, Tensor]:
        """The last outer step's gradient norm per side (device scalars; none: no gradient)."""


class Reptile:
    """theta + epsilon * mean_i(phi_i - theta), epsilon annealed by `epsilon_at`."""

    name = "reptile"
    title = "Reptile"
    rate_key = "meta/epsilon"
    query_steps = 0

    def __init__(self, options: MetaOptions) -> None:
        self.options = options

    def watch(self, task: Run) -> None:
        """Nothing to prepare: Reptile reads the weights a visit ends with."""

    def after_inner(self, task: Run, batches: Iterator[Any]) -> dict[str, Any]:
        """A copy of the adapted state: the same task may be drawn again in this outer step."""
        return {k: v.detach().clone() for k, v in task.system.state_dict().items()}

    def apply(
        self, run: Run, theta: dict[str, Tensor], kept: list[dict[str, Any]], step: int
    ) -> None:
        """Load Reptile's update of theta toward the tasks' weights."""
        from ganhub_meta.reptile import epsilon_at, reptile_update

        run.system.load_state_dict(reptile_update(theta, kept, epsilon_at(self.options, step)))

    def norms(self) -> dict[str, Tensor]:
        """None: Reptile's update is no gradient (see the module's docstring)."""
        return {}


class QueryGradients:
    """Per side, the gradients the watched optimizers' steps use while recording, summed over
    the steps (on the device) and averaged when taken."""

    def __init__(self) -> None:
        self.recording = False
        self.sums: dict[str, list[Tensor]] = {}
        self.counts: dict[str, int] = {}

    def watch(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        """Read every step of these optimizers, one per side, while `recording`."""
        for side, optimizer in optimizers.items():
            params = optimizer_params(optimizer)
            optimizer.register_step_pre_hook(
                lambda *_, side=side, params=params: self._capture(side, params)
            )

    def _capture(self, side: str, params: list[nn.Parameter]) -> None:
        if not self.recording:
            return
        grads = [
            p.grad.detach().float()
            if p.grad is not None
            else torch.zeros_like(p, dtype=torch.float32)
            for p in params
        ]
        if side in self.sums:
            torch._foreach_add_(self.sums[side], grads)
        else:  # copies: the optimizer clears (or zeroes) its gradients after the step
            self.sums[side] = [g.clone() for g in grads]
        self.counts[side] = self.counts.get(side, 0) + 1

    def take(self) -> dict[str, list[Tensor]]:
        """The mean gradient per side since the last call, then reset."""
        means = {}
        for side, sums in self.sums.items():
            torch._foreach_div_(sums, float(self.counts[side]))
            means[side] = sums
        self.sums, self.counts = {}, {}
        return means


class FirstOrderMAML:
    """theta <- theta - outer Adam step on the mean of the tasks' query-step gradients."""

    name = "fomaml"
    title = "first-order MAML"
    rate_key = "meta/outer_lr"
    query_steps = 1

    def __init__(self, options: MetaOptions) -> None:
        self.options = options
        self.gradients = QueryGradients()
        self.ratios: dict[str, list[float]] = {}  # each meta param group's lr / its side's lr
        self.last_norms: dict[str, Tensor] = {}

    def watch(self, task: Run) -> None:
        """Read the gradients of the task's optimizer steps (only the query step records)."""
        self.gradients.watch(task.optimizers)

    def after_inner(self, task: Run, batches: Iterator[Any]) -> dict[str, Any]:
        """Train the query step, recording its gradients; keep the adapted buffers."""
        from ganhub_meta.carry import train_visit

        self.gradients.recording = True
        try:
            train_visit(task, batches, 1)
        finally:
            self.gradients.recording = False
        return {
            k: b.detach().clone() for k, b in task.system.named_buffers() if b.is_floating_point()
        }

    def apply(
        self, run: Run, theta: dict[str, Tensor], kept: list[dict[str, Any]], step: int
    ) -> None:
        """One step of each side's meta optimizer on the mean query gradient; buffers take the
        tasks' mean."""
        from ganhub_meta.reptile import epsilon_at

        from ganhub.engine.optimizers import set_learning_rate

        lr, self.last_norms = epsilon_at(self.options, step), {}
        for side, grads in self.gradients.take().items():
            optimizer = run.optimizers[side]
            params = optimizer_params(optimizer)
            if len(params) != len(grads) or any(p.shape != g.shape for p, g in zip(params, grads)):
                raise RuntimeError(f"the tasks' {side} weights do not match the meta run's")
            if side not in self.ratios:
                base = getattr(run.config.optim, side).lr
                self.ratios[side] = [float(g["lr"]) / base for g in optimizer.param_groups]
            for group, ratio in zip(optimizer.param_groups, self.ratios[side]):
                set_learning_rate(group, lr * ratio)
            for p, g in zip(params, grads):
                p.grad = g.to(p.dtype)
            if grads:  # the meta-gradient's global L2 norm, as a phase's is logged
                self.last_norms[side] = torch.linalg.vector_norm(
                    torch.stack(torch._foreach_norm(grads))
                )
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if kept:
            with torch.no_grad():
                for name, buffer in run.system.named_buffers():
                    if buffer.is_floating_point() and name in kept[0]:
                        buffer.copy_(torch.stack([k[name] for k in kept]).mean(0))

    def norms(self) -> dict[str, Tensor]:
        """The norm of the mean query gradient each side's meta optimizer last stepped on."""
        return self.last_norms


def logged_norms(update: OuterUpdate) -> dict[str, float]:
    """`grad_norm/<side>` of the outer step just applied, on the host: one sync for all sides
    at the outer step, which the meta run logs (its visits' stats synced already)."""
    norms = update.norms()
    if not norms:
        return {}
    values = torch.stack([n.detach().float() for n in norms.values()]).tolist()
    return {f"grad_norm/{side}": value for side, value in zip(norms, values)}


ALGORITHMS: dict[str, type[Reptile] | type[FirstOrderMAML]] = {
    "reptile": Reptile,
    "fomaml": FirstOrderMAML,
}


def outer_update(options: MetaOptions) -> OuterUpdate:
    """The outer update `meta.algorithm` names."""
    return ALGORITHMS[options.algorithm](options)


def optimizer_params(optimizer: torch.optim.Optimizer) -> list[nn.Parameter]:
    """An optimizer's parameters in its param groups' order (the same in every Run built from
    one config, so a task's gradient i belongs to the meta run's parameter i)."""
    return [p for group in optimizer.param_groups for p in group["params"]]
