"""MLP generator and discriminator of the toy2d domain."""

from __future__ import annotations

from torch import Tensor, nn


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
