"""StyleGAN2-ADA's conditional discriminator, the `cmap` mechanism (`condition.discriminator`).

As NVIDIA's `Discriminator` with `c_dim > 0` (stylegan2-ada-pytorch, training/networks.py):
a mapping network of D's own turns the label into a vector `cmap` of `cmap_dim` values (the
channels of the 4x4 block): a label embedding (an equalised FC layer on the one-hot code)
normalised to unit second moment, then 8 equalised FC layers with leaky ReLU and learning-rate
multiplier 0.01 (`MappingNetwork(z_dim=0, c_dim, w_dim=cmap_dim, num_ws=None,
w_avg_beta=None)`). The epilogue's output layer gives `cmap_dim` values instead of one logit,
and the logit is their inner product with `cmap`, scaled by 1/sqrt(cmap_dim). Unlike the
projection discriminator there is no unconditional term: every logit depends on the label.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from ganhub_stylegan.layers import EqualLinear
from ganhub_stylegan.networks import Discriminator
from torch import Tensor, nn

from ganhub.conditioning import Condition, LabelSpec
from ganhub.conditioning.nets import ConditionalDiscriminator

MAP_LAYERS = 8  # NVIDIA's MappingNetwork default; its train.py sets the generator's depth only
MAP_LR_MUL = 0.01


class LabelMapping(nn.Module):
    """label -> cmap: embed the one-hot code (one per factor, summed), normalise its second
    moment, `layers` equalised FC layers of `dim` features with leaky ReLU at `lr_mul`."""

    def __init__(self, labels: LabelSpec, dim: int, layers: int = MAP_LAYERS,
                 lr_mul: float = MAP_LR_MUL) -> None:  # fmt: skip
        super().__init__()
        self.classes = sum(labels.sizes)
        self.offsets: Tensor
        self.register_buffer("offsets", torch.tensor([0, *labels.sizes[:-1]]).cumsum(0), False)
        self.embed = EqualLinear(self.classes, dim)
        self.net = nn.Sequential(*(EqualLinear(dim, dim, lr_mul=lr_mul, act=True)
                                   for _ in range(layers)))  # fmt: skip

    def forward(self, labels: Tensor) -> Tensor:
        """(B,) or (B, K) label indices -> (B, dim)."""
        if labels.ndim == 1:
            labels = labels[:, None]
        code = F.one_hot(labels + self.offsets, self.classes).sum(1).float()
        y = self.embed(code)
        out: Tensor = self.net(y * torch.rsqrt(y.square().mean(dim=1, keepdim=True) + 1e-8))
        return out


class CmapDiscriminator(ConditionalDiscriminator):
    """D(x, y) = <out(h), cmap(y)> / sqrt(cmap_dim), h: the features the output layer reads."""

    def __init__(self, net: Discriminator, condition: Condition) -> None:
        net.label_outputs(net.feature_dim)  # cmap_dim: the 4x4 channels, NVIDIA's default
        super().__init__(net, condition)
        self.mapping = LabelMapping(condition.labels, net.feature_dim)

    def score(self, h: Tensor, labels: Tensor) -> Tensor:
        """The output layer's values dotted with the label's cmap, scaled by 1/sqrt(cmap_dim)."""
        x = cast(Discriminator, self.net).head(h)
        cmap = self.mapping(labels).to(x.dtype)
        return (x * cmap).sum(dim=1) * (1 / math.sqrt(x.shape[1]))
