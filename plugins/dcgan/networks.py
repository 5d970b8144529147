"""DCGAN generator and discriminator (Radford et al. 2016) with optional depth, skips and
self-attention (the architecture-search space of `ganhub tune space=arch`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from ganhub_dcgan.config import DCGANModel
from torch import Tensor, nn


def _act(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, True)
    factories: dict[str, Callable[[], nn.Module]] = {
        "relu": lambda: nn.ReLU(True),
        "silu": nn.SiLU,
        "elu": nn.ELU,
    }
    return factories[name]()


def _norm(kind: str, channels: int, size: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # LayerNorm over (C, H, W), per sample
    return nn.Identity()


class ConvBlock(nn.Module):
    """3x3 conv, norm, activation at constant size; with `residual`, x + block(x)."""

    def __init__(self, c: int, size: int, norm: str, act: str, residual: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1, bias=False), _norm(norm, c, size), _act(act)
        )
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        """Same shape out as in."""
        return x + self.body(x) if self.residual else self.body(x)


class SelfAttention(nn.Module):
    """SAGAN self-attention over spatial positions; output x + gamma * attn (gamma starts at 0)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.q = nn.Conv2d(c, max(c // 8, 1), 1)
        self.k = nn.Conv2d(c, max(c // 8, 1), 1)
        self.v = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention_map(self, x: Tensor) -> Tensor:
        """The attention weights (B, HW queries, HW keys) of input x (B, C, H, W)."""
        q = self.q(x).flatten(2).transpose(1, 2)  # (B, HW, C')
        k = self.k(x).flatten(2)  # (B, C', HW)
        return torch.softmax(q @ k, dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the H*W positions."""
        b, c, h, w = x.shape
        attn = self.attention_map(x)
        out = (self.v(x).flatten(2) @ attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


class Generator(nn.Sequential):
    """z -> 4x4 -> ... -> size x size: transposed convs, BatchNorm, ReLU, Tanh output."""

    def __init__(
        self, latent_dim: int, width: int, channels: int, size: int, arch: DCGANModel | None = None
    ) -> None:
        a = arch or DCGANModel()
        n_up = int(math.log2(size)) - 2
        c, s = width * 2 ** (n_up - 1), 4
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=False), _norm(a.g_norm, c, s), _act(a.g_act)
        ]  # fmt: skip
        for _ in range(n_up - 1):
            s *= 2
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                _norm(a.g_norm, c // 2, s),
                _act(a.g_act),
            ]
            c //= 2
            layers += [
                ConvBlock(c, s, a.g_norm, a.g_act, a.residual) for _ in range(a.extra_blocks)
            ]
            if a.attention and s == 16:
                layers.append(SelfAttention(c))
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        super().__init__(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Images in [-1, 1] from latent vectors (B, latent_dim)."""
        return super().forward(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Sequential):
    """size x size -> logit: strided convs, BatchNorm (not on the first layer), LeakyReLU(0.2)."""

    def __init__(
        self, width: int, in_channels: int, size: int, norm: str, arch: DCGANModel | None = None
    ) -> None:
        a = arch or DCGANModel()
        n_down = int(math.log2(size)) - 2
        c, s = width, size // 2
        layers: list[nn.Module] = [nn.Conv2d(in_channels, c, 4, 2, 1, bias=False), _act(a.d_act)]
        if a.attention and s == 16:
            layers.append(SelfAttention(c))
        for _ in range(n_down - 1):
            s //= 2
            layers += [
                nn.Conv2d(c, c * 2, 4, 2, 1, bias=False),
                _norm(norm, c * 2, s),
                _act(a.d_act),
            ]
            c *= 2
            layers += [ConvBlock(c, s, norm, a.d_act, a.residual) for _ in range(a.extra_blocks)]
        layers.append(nn.Conv2d(c, 1, 4, 1, 0, bias=False))
        super().__init__(*layers)
        self.feature_dim = c * 16  # conditioning: projection and class heads read the 4x4 map

    def forward(self, x: Tensor) -> Tensor:
        """One logit per (packed) sample."""
        return super().forward(x).flatten()

    def features(self, x: Tensor) -> Tensor:
        """The 4x4 feature maps before the last convolution, (B, C, 4, 4)."""
        for layer in list(self)[:-1]:
            x = layer(x)
        return x

    def head(self, h: Tensor) -> Tensor:
        """The last convolution: one logit per sample from the 4x4 features."""
        out: Tensor = self[-1](h).flatten()
        return out


@torch.no_grad()
def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's init: conv weights N(0, 0.02); norm scale 1, shift 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
