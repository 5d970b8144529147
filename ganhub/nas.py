"""Weight sharing for architecture search: one supernet holds every architecture of a space.

A domain whose `Domain.supernet` overrides are set builds, instead of one G and one D, networks
in which every searched choice (`model.g_act`, `model.d_layers`, a width...) is an
`ArchChoice`: learnable logits over the choice's values whose softmax mixes the candidate
operations (DARTS, Liu et al. 2019; AdversarialNAS, Gao et al. 2020, for GANs). The weights of
the operations are shared by every architecture that uses them, and the logits train with the
weights, by the same losses: G's choices minimise G's loss, D's choices D's. One run therefore
scores the whole space; the system then declares `provides={"supernet"}` and returns its
preference from `GANSystem.architecture()`, which `ganhub tune sampler=oneshot` turns into
architectures to train on their own.

The relaxation costs memory and time: every candidate of every choice runs in each forward.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

SUPERNET = "supernet"  # the named interface (`Capabilities.provides`) of a supernet system


class ArchChoice(nn.Module):
    """One searched config key: logits over its values (uniform at the start)."""

    def __init__(self, key: str, values: Sequence[Any]) -> None:
        super().__init__()
        if len(values) < 1 or len(set(map(repr, values))) != len(values):
            raise ValueError(f"ArchChoice '{key}': needs distinct values, got {list(values)}")
        self.key = key
        self.values = list(values)
        self.logits = nn.Parameter(torch.zeros(len(self.values)))

    def weights(self) -> Tensor:
        """softmax(logits): the mixing weight of each value."""
        return torch.softmax(self.logits, dim=0)

    def extra_repr(self) -> str:
        return f"key={self.key!r}, values={self.values}"


class Supernet(nn.Module, ABC):
    """Base of a network that holds a whole architecture space and knows what it costs.

    `expected_cost()` is the expected multiply-accumulates of one sample's forward under the
    choices' distribution, over those of the space's most expensive architecture (`max_macs`):
    in (0, 1], differentiable in the logits. The `arch_cost` trick adds it to each side's loss
    (ProxylessNAS, Cai et al. 2019), so a search weighs compute against the adversarial loss.
    Norms and activations are not counted (elementwise work, as in FLOP counts).
    """

    max_macs: float

    @abstractmethod
    def expected_cost(self) -> Tensor:
        """E[multiply-accumulates per sample] / max_macs."""


def expected_value(choice: ArchChoice) -> Tensor:
    """E[value] of a numeric choice (a depth, a block count) under its distribution."""
    values = torch.tensor([float(v) for v in choice.values], device=choice.logits.device)
    return choice.weights() @ values


def mix(weights: Tensor, outputs: Sequence[Tensor]) -> Tensor:
    """sum_k weights[k] * outputs[k]: the continuous relaxation of choosing one output."""
    total = weights[0] * outputs[0]
    for w, out in zip(weights[1:], outputs[1:], strict=True):
        total = total + w * out
    return total


def width_mask(weights: Tensor, widths: Sequence[int], max_width: int) -> Tensor:
    """A (max_width,) mask mixing "the first w features" over the candidate widths (FBNetV2's
    channel masking): the narrow networks share the wide one's first features."""
    features = torch.arange(max_width, device=weights.device)
    masks = torch.stack([(features < w).to(weights.dtype) for w in widths])
    return weights @ masks


def separate_choices(optimizer: torch.optim.Optimizer, module: nn.Module, lr: float) -> None:
    """Give the `ArchChoice` logits of `module` their own parameter group of `optimizer`, at
    learning rate `lr` and without weight decay (DARTS's architecture optimiser): the logits
    otherwise move at the weights' rate, too slowly to decide within a short search."""
    logits = {id(c.logits): c.logits for c in module.modules() if isinstance(c, ArchChoice)}
    if not logits:
        return
    for group in optimizer.param_groups:
        group["params"] = [p for p in group["params"] if id(p) not in logits]
    optimizer.add_param_group({"params": list(logits.values()), "lr": lr, "weight_decay": 0.0})


def architecture(modules: Iterable[nn.Module]) -> dict[str, dict[Any, float]]:
    """Each searched key's probability per value, over every `ArchChoice` in `modules`.

    A key searched in several networks (a residual switch both G and D use) gets the normalised
    product of their distributions: the value they agree on wins. Its choices must list the
    same values in the same order (the product pairs them by position).
    """
    logs: dict[str, list[Tensor]] = {}
    values: dict[str, list[Any]] = {}
    for module in modules:
        for choice in module.modules():
            if isinstance(choice, ArchChoice):
                known = values.setdefault(choice.key, choice.values)
                if list(map(repr, known)) != list(map(repr, choice.values)):
                    raise ValueError(
                        f"ArchChoice '{choice.key}' is searched over {known} in one network "
                        f"and over {choice.values} in another; give each the same values in "
                        "the same order"
                    )
                logs.setdefault(choice.key, []).append(
                    torch.log_softmax(choice.logits.detach().float().cpu(), dim=0)
                )
    out: dict[str, dict[Any, float]] = {}
    for key, parts in logs.items():
        probs = torch.softmax(torch.stack(parts).sum(dim=0), dim=0).tolist()
        out[key] = dict(zip(values[key], probs, strict=True))
    return out


class SupernetPair:
    """The `GANSystem` methods of a G/D pair that is a supernet when `config.model.supernet` is
    set (the keys `ganhub.config.schema.supernet_field` and `arch_lr_field` make): list it
    before the engine's base class, `class MySystem(SupernetPair, UnconditionalGAN[MyConfig])`.
    The system still declares `provides={SUPERNET}` in its capabilities."""

    config: Any
    G: nn.Module
    D: nn.Module

    def configure_optimizers(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """A supernet's architecture logits learn at `model.arch_lr`, in their own groups."""
        model = self.config.model
        if model.supernet:
            separate_choices(optimizers["G"], self.G, model.arch_lr)
            separate_choices(optimizers["D"], self.D, model.arch_lr)

    def architecture(self) -> dict[str, dict[Any, float]]:
        """The supernet's preference over the architecture space; {} for a single network."""
        return architecture([self.G, self.D]) if self.config.model.supernet else {}


def preferred(arch: dict[str, dict[Any, float]]) -> dict[str, Any]:
    """The most probable value of each key (the first one on a tie)."""
    return {key: max(probs, key=lambda v: probs[v]) for key, probs in arch.items()}


def entropy_ratio(probs: dict[Any, float]) -> float:
    """The distribution's entropy over the uniform one's: 1 = undecided, 0 = one value."""
    if len(probs) < 2:
        return 0.0
    h = -sum(p * math.log(p) for p in probs.values() if p > 0)
    return h / math.log(len(probs))


__all__ = [
    "SUPERNET",
    "ArchChoice",
    "Supernet",
    "SupernetPair",
    "architecture",
    "entropy_ratio",
    "expected_value",
    "mix",
    "preferred",
    "separate_choices",
    "width_mask",
]
