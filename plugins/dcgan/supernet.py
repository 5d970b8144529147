"""The supernet of dcgan's architecture space: every G and D of `DCGANDomain.arch_space` in one
pair of networks with shared weights (`ganhub.nas`; AdversarialNAS, Gao et al. 2020, searches a
conv GAN the same way).

Each layer holds one convolution at the widest base width; a narrower width is its first
channels (masked), so every width shares the wide network's first filters. Each layer mixes
its norms and its activations by their choices' softmax; each stage mixes "k extra 3x3 blocks"
over k, each block mixes "with and without its skip", and the 16x16 stage mixes "with and
without self-attention". `model.extra_blocks`, `model.residual` and `model.attention` are
searched in G and D together: `architecture()` multiplies their two distributions.

Cost: every norm and activation of every layer runs in each forward (9 of each in G's layers
for the default space), at the widest width, with every extra block.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ganhub.nas import ArchChoice, Supernet, expected_value, mix, width_mask

Space = dict[str, dict[str, Any]]


def activation(name: str) -> nn.Module:
    """An activation by name, not in place: several candidates read the same input."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    return {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU}[name]()


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(1, channels) if kind == "layer" else nn.Identity()


def _values(space: Space, key: str) -> list[Any]:
    spec = space[key]
    if spec["type"] == "categorical":
        return list(spec["choices"])
    return list(range(int(spec["low"]), int(spec["high"]) + 1))


def attention_macs(channels: int, pixels: int) -> int:
    """Multiply-accumulates of SAGAN attention over `pixels` positions of `channels` maps."""
    narrow = max(channels // 8, 1)
    projections = (2 * narrow + channels) * channels * pixels
    return projections + pixels * pixels * (narrow + channels)


class Choices(nn.Module):
    """The choices one network searches; `side` is "g" or "d" (its width, norm, activation).

    The network's cost per base width is `always + E[blocks] * per_block + p(attention) *
    attention` (three tensors over the width candidates, in units of the most expensive
    architecture's multiply-accumulates)."""

    macs_always: Tensor
    macs_per_block: Tensor
    macs_attention: Tensor

    def __init__(self, side: str, space: Space) -> None:
        super().__init__()
        self.width = ArchChoice(f"model.{side}_channels", _values(space, f"model.{side}_channels"))
        self.norm = ArchChoice(f"model.{side}_norm", _values(space, f"model.{side}_norm"))
        self.act = ArchChoice(f"model.{side}_act", _values(space, f"model.{side}_act"))
        self.blocks = ArchChoice("model.extra_blocks", _values(space, "model.extra_blocks"))
        self.residual = ArchChoice("model.residual", _values(space, "model.residual"))
        self.attention = ArchChoice("model.attention", _values(space, "model.attention"))

    def set_costs(self, always: list[int], per_block: list[int], attention: list[int]) -> float:
        """Keep the cost tables, as fractions of the most expensive architecture's MACs (float32
        works on every device); return that architecture's MACs."""
        depth = max(int(v) for v in self.blocks.values)
        attends = True in self.attention.values
        most = max(
            a + depth * b + attends * t
            for a, b, t in zip(always, per_block, attention, strict=True)
        )
        for name, table in (("always", always), ("per_block", per_block), ("attention", attention)):
            self.register_buffer(f"macs_{name}", torch.tensor(table) / most, persistent=False)
        return float(most)

    def expected_cost(self) -> Tensor:
        """E[multiply-accumulates per sample] over the most expensive architecture's."""
        cost = (
            self.macs_always
            + expected_value(self.blocks) * self.macs_per_block
            + self.skip(self.attention) * self.macs_attention
        )
        return self.width.weights() @ cost

    def skip(self, choice: ArchChoice) -> Tensor | float:
        """The weight of `True` in a yes/no choice (0 when True is not a candidate)."""
        weights = dict(zip(choice.values, choice.weights(), strict=True))
        return weights.get(True, 0.0)


class MixedLayer(nn.Module):
    """conv, then each norm and each activation mixed, then the channel mask of the width mix."""

    def __init__(self, conv: nn.Module, channels: int, choices: Choices, norm: bool = True) -> None:
        super().__init__()
        self.conv = conv
        kinds = choices.norm.values if norm else ["none"]
        self.norms = nn.ModuleList(_norm(kind, channels) for kind in kinds)
        self.acts = nn.ModuleList(activation(name) for name in choices.act.values)
        self.mixed_norm = norm

    def forward(self, x: Tensor, choices: Choices, mask: Tensor) -> Tensor:
        """The layer's output under the current mixture."""
        y = self.conv(x)
        if self.mixed_norm:
            y = mix(choices.norm.weights(), [norm(y) for norm in self.norms])
        y = mix(choices.act.weights(), [act(y) for act in self.acts])
        return y * mask.view(1, -1, 1, 1)


class MixedBlocks(nn.Module):
    """Up to `depth` 3x3 blocks at one stage; the output mixes "after k blocks" over k, and each
    block mixes `x + f(x)` and `f(x)` by the residual choice."""

    def __init__(self, channels: int, depth: int, choices: Choices) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MixedLayer(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), channels, choices)
            for _ in range(depth)
        )

    def forward(self, x: Tensor, choices: Choices, mask: Tensor) -> Tensor:
        """sum_k p(k blocks) * h_k."""
        p_depth = dict(zip(choices.blocks.values, choices.blocks.weights(), strict=True))
        p_skip = choices.skip(choices.residual)
        out, h = p_depth.get(0, 0.0) * x, x
        for k, layer in enumerate(self.layers, start=1):
            h = layer(h, choices, mask) + p_skip * h
            out = out + p_depth[k] * h
        return out


class MixedAttention(nn.Module):
    """SAGAN self-attention at the widest width; queries and keys masked to width / 8 of the
    width mix, so a chosen width attends exactly as its own network would. The output is
    x + p(attention) * gamma * attended."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.q = nn.Conv2d(channels, max(channels // 8, 1), 1)
        self.k = nn.Conv2d(channels, max(channels // 8, 1), 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(()))  # starts as the identity, as SAGAN's

    def forward(self, x: Tensor, choices: Choices, widths: list[int]) -> Tensor:
        """The mixture of with and without attention."""
        p_attend = choices.skip(choices.attention)
        b, c, h, w = x.shape
        narrow = [max(width // 8, 1) for width in widths]
        qk_mask = width_mask(choices.width.weights(), narrow, self.q.out_channels).view(1, 1, -1)
        q = self.q(x).flatten(2).transpose(1, 2) * qk_mask
        k = self.k(x).flatten(2)
        attn = torch.softmax(q @ k, dim=-1)
        out = (self.v(x).flatten(2) @ attn.transpose(1, 2)).view(b, c, h, w)
        channel_mask = width_mask(choices.width.weights(), widths, c).view(1, -1, 1, 1)
        return x + p_attend * self.gamma * out * channel_mask


class SuperGenerator(Supernet):
    """Every generator of the space: z -> 4x4 -> ... -> size x size, as `Generator`."""

    def __init__(self, latent_dim: int, channels: int, size: int, space: Space) -> None:
        super().__init__()
        self.choices = Choices("g", space)
        widths = [int(w) for w in self.choices.width.values]
        n_up = int(math.log2(size)) - 2
        # stage i (4 * 2**i px) has base * 2**(n_up-1-i) channels
        self.stage_widths = [[w * 2 ** (n_up - 1 - i) for w in widths] for i in range(n_up)]
        wide = [max(ws) for ws in self.stage_widths]
        depth = max(int(v) for v in self.choices.blocks.values)
        attends = any(self.choices.attention.values)
        self.first = MixedLayer(
            nn.ConvTranspose2d(latent_dim, wide[0], 4, 1, 0, bias=False), wide[0], self.choices
        )
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        for i in range(1, n_up):
            conv = nn.ConvTranspose2d(wide[i - 1], wide[i], 4, 2, 1, bias=False)
            self.ups.append(MixedLayer(conv, wide[i], self.choices))
            self.blocks.append(MixedBlocks(wide[i], depth, self.choices))
            if attends and 4 * 2**i == 16:
                self.attention[str(i)] = MixedAttention(wide[i])
        self.last = nn.ConvTranspose2d(wide[-1], channels, 4, 2, 1, bias=False)
        # MACs per base width: a k4 s2 transposed conv costs 16 * C_in * C_out * input pixels
        c, pixels = list(zip(*self.stage_widths, strict=True)), [16 * 4**i for i in range(n_up)]
        always = [latent_dim * cs[0] * 16 + 16 * cs[-1] * channels * pixels[-1]
                  + sum(16 * cs[i - 1] * cs[i] * pixels[i - 1] for i in range(1, n_up))
                  for cs in c]  # fmt: skip
        per_block = [sum(9 * cs[i] ** 2 * pixels[i] for i in range(1, n_up)) for cs in c]
        at = [i for i in range(1, n_up) if pixels[i] == 256]
        attention = [sum(attention_macs(cs[i], 256) for i in at) for cs in c]
        self.max_macs = self.choices.set_costs(always, per_block, attention)

    def expected_cost(self) -> Tensor:
        """E[MACs of one generated image] / the most expensive generator's."""
        return self.choices.expected_cost()

    def forward(self, z: Tensor) -> Tensor:
        """Images in [-1, 1]: the mixture of every generator's output."""
        p_width = self.choices.width.weights()
        masks = [width_mask(p_width, ws, max(ws)) for ws in self.stage_widths]
        h = self.first(z.view(z.shape[0], -1, 1, 1), self.choices, masks[0])
        for i, (up, blocks) in enumerate(zip(self.ups, self.blocks, strict=True), start=1):
            h = up(h, self.choices, masks[i])
            h = blocks(h, self.choices, masks[i])
            if str(i) in self.attention:
                h = self.attention[str(i)](h, self.choices, self.stage_widths[i])
        return self.last(h).tanh()


class SuperDiscriminator(Supernet):
    """Every discriminator of the space: size x size -> one logit, as `Discriminator`."""

    def __init__(self, in_channels: int, size: int, space: Space) -> None:
        super().__init__()
        self.choices = Choices("d", space)
        widths = [int(w) for w in self.choices.width.values]
        n_down = int(math.log2(size)) - 2
        # stage i (size / 2**(i+1) px) has base * 2**i channels
        self.stage_widths = [[w * 2**i for w in widths] for i in range(n_down)]
        wide = [max(ws) for ws in self.stage_widths]
        depth = max(int(v) for v in self.choices.blocks.values)
        conv = nn.Conv2d(in_channels, wide[0], 4, 2, 1, bias=False)
        self.first = MixedLayer(conv, wide[0], self.choices, norm=False)  # DCGAN: no norm here
        self.attention = (
            MixedAttention(wide[0]) if any(self.choices.attention.values) and size == 32 else None
        )
        self.downs = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for i in range(1, n_down):
            conv = nn.Conv2d(wide[i - 1], wide[i], 4, 2, 1, bias=False)
            self.downs.append(MixedLayer(conv, wide[i], self.choices))
            self.blocks.append(MixedBlocks(wide[i], depth, self.choices))
        self.last = nn.Conv2d(wide[-1], 1, 4, 1, 0, bias=False)
        self.feature_dim = wide[-1] * 16  # conditioning heads read the 4x4 map
        # MACs per base width: a k4 s2 conv costs 16 * C_in * C_out * output pixels
        c = list(zip(*self.stage_widths, strict=True))
        pixels = [(size // 2 ** (i + 1)) ** 2 for i in range(n_down)]
        always = [16 * in_channels * cs[0] * pixels[0] + 16 * cs[-1]
                  + sum(16 * cs[i - 1] * cs[i] * pixels[i] for i in range(1, n_down))
                  for cs in c]  # fmt: skip
        per_block = [sum(9 * cs[i] ** 2 * pixels[i] for i in range(1, n_down)) for cs in c]
        attention = [attention_macs(cs[0], pixels[0]) if size == 32 else 0 for cs in c]
        self.max_macs = self.choices.set_costs(always, per_block, attention)

    def expected_cost(self) -> Tensor:
        """E[MACs of judging one image] / the most expensive discriminator's."""
        return self.choices.expected_cost()

    def features(self, x: Tensor) -> Tensor:
        """The 4x4 feature maps before the last convolution, (B, C, 4, 4)."""
        p_width = self.choices.width.weights()
        masks = [width_mask(p_width, ws, max(ws)) for ws in self.stage_widths]
        h = self.first(x, self.choices, masks[0])
        if self.attention is not None:
            h = self.attention(h, self.choices, self.stage_widths[0])
        for i, (down, blocks) in enumerate(zip(self.downs, self.blocks, strict=True), start=1):
            h = blocks(down(h, self.choices, masks[i]), self.choices, masks[i])
        return h

    def head(self, h: Tensor) -> Tensor:
        """The last convolution: one logit per sample from the 4x4 features."""
        out: Tensor = self.last(h).flatten()
        return out

    def forward(self, x: Tensor) -> Tensor:
        """One logit per (packed) sample: the mixture of every discriminator's."""
        return self.head(self.features(x))
