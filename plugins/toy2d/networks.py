"""MLP generator and discriminator of the toy2d domain, and the supernet of their search space."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ganhub.nas import ArchChoice, Supernet, expected_value, mix, width_mask


def activation(name: str) -> nn.Module:
    """An activation module by name (leaky_relu has slope 0.2)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    return {"relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh}[name]()


def mlp(
    n_in: int,
    hidden: int,
    layers: int,
    n_out: int,
    act: nn.Module,
    norm: str = "none",
    residual: bool = False,
) -> nn.Sequential:
    """Linear-(norm)-activation stack; `residual` adds skips around hidden layers after the first."""
    mods: list[nn.Module] = []
    width = n_in
    for i in range(layers):
        block: list[nn.Module] = [nn.Linear(width, hidden)]
        if norm != "none":
            block.append(nn.BatchNorm1d(hidden) if norm == "batch" else nn.LayerNorm(hidden))
        block.append(act)
        if residual and i > 0:
            mods.append(Residual(nn.Sequential(*block)))
        else:
            mods += block
        width = hidden
    mods.append(nn.Linear(width, n_out))
    return nn.Sequential(*mods)


class Residual(nn.Module):
    """x + f(x)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        """Add the block's output to its input."""
        return x + self.body(x)


class SuperMLP(Supernet):
    """Every MLP of the architecture space in one network with shared weights (`ganhub.nas`).

    `side` is "g" or "d": its depth, width, norm and activation choices are the space's
    `model.<side>_layers`, `_hidden`, `_norm`, `_act`; `model.residual` is shared by both
    sides. Layer i holds one linear map at the widest width; a narrower width is its first
    features (masked), a shallower depth reads the output head from an earlier layer. The
    mixture normalises over all features, so a chosen narrow network, trained alone, sees
    slightly different statistics under layer norm than inside the supernet.
    """

    macs_first: Tensor
    macs_hidden: Tensor

    def __init__(self, n_in: int, n_out: int, side: str, space: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        depth = space[f"model.{side}_layers"]
        self.low, high = int(depth["low"]), int(depth["high"])
        self.widths = [int(w) for w in space[f"model.{side}_hidden"]["choices"]]
        norms = list(space[f"model.{side}_norm"]["choices"])
        acts = list(space[f"model.{side}_act"]["choices"])
        self.depth = ArchChoice(f"model.{side}_layers", list(range(self.low, high + 1)))
        self.width = ArchChoice(f"model.{side}_hidden", self.widths)
        self.norm = ArchChoice(f"model.{side}_norm", norms)
        self.act = ArchChoice(f"model.{side}_act", acts)
        self.residual = ArchChoice("model.residual", list(space["model.residual"]["choices"]))
        wide = max(self.widths)
        self.linears = nn.ModuleList(nn.Linear(n_in if i == 0 else wide, wide) for i in range(high))
        self.norms = nn.ModuleList(
            nn.ModuleList(_norm(name, wide) for name in norms) for _ in range(high)
        )
        self.acts = nn.ModuleList(activation(name) for name in acts)
        self.head = nn.Linear(wide, n_out)
        # MACs per width: the first layer n_in * w, each further one w * w, the head w * n_out
        self.register_buffer(
            "macs_first",
            torch.tensor([float(n_in * w + w * n_out) for w in self.widths]),
            persistent=False,
        )
        self.register_buffer(
            "macs_hidden", torch.tensor([float(w * w) for w in self.widths]), persistent=False
        )
        self.max_macs = float(max(self.macs_first + (high - 1) * self.macs_hidden))

    def expected_cost(self) -> Tensor:
        """E[MACs of one sample's forward] / the deepest, widest MLP's."""
        cost = self.macs_first + (expected_value(self.depth) - 1) * self.macs_hidden
        return self.width.weights() @ cost / self.max_macs

    def forward(self, x: Tensor) -> Tensor:
        """The mixture of every architecture's output, weighted by the choices' softmax."""
        mask = width_mask(self.width.weights(), self.widths, self.head.in_features)
        p_norm, p_act, p_depth = self.norm.weights(), self.act.weights(), self.depth.weights()
        p_skip = dict(zip(self.residual.values, self.residual.weights(), strict=True))
        h, out = x, None
        for i, (linear, norms) in enumerate(zip(self.linears, self.norms, strict=True)):
            y = mix(p_norm, [norm(linear(h)) for norm in norms.children()])
            y = mix(p_act, [act(y) for act in self.acts]) * mask
            if i > 0 and True in p_skip:
                y = y + p_skip[True] * h  # x + f(x) with the weight of "residual"
            h = y
            if i + 1 >= self.low:
                term = p_depth[i + 1 - self.low] * h
                out = term if out is None else out + term
        assert out is not None
        return self.head(out)


def _norm(name: str, width: int) -> nn.Module:
    if name == "batch":
        return nn.BatchNorm1d(width)
    return nn.LayerNorm(width) if name == "layer" else nn.Identity()
