"""Learned inner learning rates: hypergradient descent on each side's learning rate.

Meta-SGD (Li et al. 2017) learns the inner loop's step sizes along with the initialisation; its
meta-gradient needs second derivatives through the inner loop. Here each side's (G's, D's)
learning rate follows the multiplicative hypergradient rule of Baydin et al. (2018, "Online
learning rate adaptation with hypergradient descent"), which needs none. The loss after an
update depends on the learning rate through that update, and its derivative with respect to
the rate is the new gradient's dot product with the update (per unit of rate): a gradient that
points back along the last update means the step overshot, one that points on past it means
the step was too short. Normalised:

    lr <- lr * (1 - rate * mean_k cos(g_k, d_{k-1}))

g_k = the gradient inner step k of a side used (computed where step k-1 left the weights),
d_{k-1} = the parameter change of step k-1; the mean is over every consecutive pair of inner
steps of every task of an outer step. The gradient, not the next update, is compared: Adam's
momentum makes consecutive updates point alike whatever the step size. The rates are shared by
all tasks, so what is learned is the step size that suits adapting to a task drawn from
`meta.classes`, which `ganhub adapt` then starts from. Each inner step costs one copy of a
side's parameters and one dot product; the host reads the sums once per outer step.

A side's rate is `optim.<side>.lr`, learned; its optimizer's param groups move with it in the
ratios they were built with (TTUR's rates, lazy regularization's k/(k+1) correction, StyleGAN's
lazy path-length correction, a supernet's `arch_lr` group).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from torch import Tensor, nn


class UpdateAlignment:
    """Per side, the cosines between the gradient of each optimizer step and the update of the
    step before, summed on the device over the inner steps of every task of an outer step.

    It watches optimizers through torch's step hooks: the pre-hook sees the gradient the step
    uses, the post-hook the change it made, so every optimizer step counts (several D steps
    per training step with n_critic included) and the training step itself is untouched."""

    def __init__(self) -> None:
        self.before: dict[str, Tensor] = {}
        self.previous: dict[str, Tensor] = {}
        self.sums: dict[str, Tensor] = {}
        self.pairs_by_side: dict[str, int] = {}

    def watch(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        """Follow every step of these optimizers, one per side (a task's Run, once)."""
        for side, optimizer in optimizers.items():
            params = [p for group in optimizer.param_groups for p in group["params"]]
            optimizer.register_step_pre_hook(
                lambda *_, side=side, params=params: self._before(side, params)
            )
            optimizer.register_step_post_hook(
                lambda *_, side=side, params=params: self._after(side, params)
            )

    def start_task(self) -> None:
        """A new task's inner loop: its first update has no predecessor to compare with."""
        self.previous = {}

    def _before(self, side: str, params: list[nn.Parameter]) -> None:
        previous = self.previous.get(side)
        with_grad = [p for p in params if p.grad is not None]
        if previous is not None and len(with_grad) == len(params):
            flat = [p.grad.reshape(-1).float() for p in with_grad]  # type: ignore[union-attr]
            grad = torch.cat(flat)
            cos = F.cosine_similarity(grad, previous, dim=0, eps=1e-12)
            self.sums[side] = self.sums[side] + cos if side in self.sums else cos
            self.pairs_by_side[side] = self.pairs_by_side.get(side, 0) + 1
        self.before[side] = _flat(params)

    def _after(self, side: str, params: list[nn.Parameter]) -> None:
        self.previous[side] = _flat(params) - self.before[side]

    def mean_cosines(self) -> dict[str, float]:
        """The mean cosine per side since the last call (one host sync), then reset."""
        means = {g: float(total) / self.pairs_by_side[g] for g, total in self.sums.items()}
        self.sums, self.pairs_by_side = {}, {}
        return means


def next_rates(
    rates: Mapping[str, float], cosines: Mapping[str, float], rate: float
) -> dict[str, float]:
    """Each side's learning rate after one outer step: lr * (1 - rate * mean cosine)."""
    return {g: lr * (1.0 - rate * cosines.get(g, 0.0)) for g, lr in rates.items()}


def group_ratios(
    optimizers: Mapping[str, torch.optim.Optimizer], rates: Mapping[str, float]
) -> dict[str, list[float]]:
    """Each side's param groups' learning rates over the side's rate, as the groups hold them."""
    return {g: [float(group["lr"]) / lr for group in optimizers[g].param_groups]
            for g, lr in rates.items()}  # fmt: skip


def set_rates(
    optimizers: Mapping[str, torch.optim.Optimizer],
    rates: Mapping[str, float],
    ratios: Mapping[str, Sequence[float]],
) -> None:
    """Give each side's param groups its learning rate times their ratio (`group_ratios`)."""
    from ganhub.engine.optimizers import set_learning_rate  # in place where a device tensor

    for g, lr in rates.items():
        for group, ratio in zip(optimizers[g].param_groups, ratios[g], strict=True):
            set_learning_rate(group, lr * ratio)


def _flat(params: Iterable[nn.Parameter]) -> Tensor:
    return torch.cat([p.detach().reshape(-1).float() for p in params])
