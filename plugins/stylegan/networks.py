"""StyleGAN2 generator (mapping + skip synthesis) and residual discriminator, plain PyTorch.

Resolution r has `log2(r) - 1` synthesis blocks (4x4 constant, then one per doubling) and
`2 * log2(r) - 2` style vectors: block i uses ws[2i-1], ws[2i] for its convs and ws[2i+1] for
its toRGB (the 4x4 block: ws[0], ws[1]).

Mixed precision as StyleGAN2-ADA's (`num_fp16_res`, and `conv_clamp=256` that its train.py sets
with it): with `fp16_res` > 0 the blocks of G and D at the top `fp16_res` resolutions, never
below 8 px (`fp16_resolution`), run under float16 autocast on CUDA, and every convolution of
every block, float16 or float32 (G's convs and toRGBs; D's fromRGB, convs and epilogue conv,
not its skips or FC layers), clamps its output to +-256 (`conv_clamp`). With `fp16_res=0`
nothing runs in float16 and nothing is clamped (its `--fp32`), unless the engine's
`precision=16` runs every layer under float16 autocast: then every block clamps as well
(`clamp=True`), since float16's range ends at 65,504.
"""

from __future__ import annotations

import itertools
import math
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, cast

import torch
from ganhub_stylegan.layers import (
    EqualConv2d,
    EqualLinear,
    ModulatedConv,
    ToRGB,
    minibatch_stddev,
    upsample2d,
)
from torch import Tensor, nn

if TYPE_CHECKING:
    from ganhub.conditioning import Condition

CONV_CLAMP = 256.0


def fp16_resolution(resolution: int, fp16_res: int) -> int:
    """The lowest resolution whose blocks run in float16: the top `fp16_res` resolutions, but
    never 4x4 (StyleGAN2-ADA's `max(2 ** (log2(r) + 1 - num_fp16_res), 8)`); above
    `resolution` when fp16_res is 0."""
    return max(2 ** (int(math.log2(resolution)) + 1 - fp16_res), 8)


def conv_clamp(fp16_res: int, clamp: bool = False) -> float | None:
    """The clamp of every block's convolutions: +-256 with float16 blocks (`fp16_res` > 0) or
    when asked (`clamp`: the whole network under float16 autocast), else none."""
    return CONV_CLAMP if fp16_res > 0 or clamp else None


def channels_at(resolution: int, base: int, cap: int) -> int:
    """Feature maps at a resolution: base / resolution, at most `cap`."""
    return max(1, min(base // resolution, cap))


def _fp16(enabled: bool, x: Tensor) -> AbstractContextManager[None]:
    if enabled and x.is_cuda:
        # no cache of cast weights: each is cast once per forward anyway, and a step replayed
        # as a CUDA graph (trainer.cuda_graphs) must not keep casts across steps
        return torch.autocast("cuda", dtype=torch.float16, cache_enabled=False)
    return nullcontext()


class MappingNetwork(nn.Module):
    """z -> w: normalise z's second moment, `layers` equalised FC layers with lr_mul 0.01.

    Tracks the running mean of w (`w_avg`) for the truncation trick.
    """

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995) -> None:  # fmt: skip
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(
            *(EqualLinear(a, b, lr_mul=lr_mul, act=True) for a, b in itertools.pairwise(dims))
        )
        self.w_avg: Tensor
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: Tensor, update_w_avg: bool = False) -> Tensor:
        """(B, z_dim) -> (B, w_dim); with `update_w_avg` the running mean moves toward this batch."""
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        w = self.net(z)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return w


class SynthesisBlock(nn.Module):
    """One resolution: (upsample + conv), conv, toRGB; the skip image is upsampled and added."""

    def __init__(self, in_c: int, out_c: int, w_dim: int, res: int, img_c: int, fp16: bool,
                 clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.first = in_c == 0
        if self.first:
            self.const = nn.Parameter(torch.randn(out_c, 4, 4))
            self.convs = nn.ModuleList([ModulatedConv(out_c, out_c, w_dim, res)])
        else:
            self.convs = nn.ModuleList(
                [ModulatedConv(in_c, out_c, w_dim, res, up=True), ModulatedConv(out_c, out_c, w_dim, res)]
            )  # fmt: skip
        self.torgb = ToRGB(out_c, img_c, w_dim)
        self.fp16 = fp16
        self.channels_last = False  # `use_fp16_channels_last`
        for m in [*self.convs, self.torgb]:
            m.clamp = clamp

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, noise_mode: str) -> tuple[Tensor, Tensor]:  # fmt: skip
        """ws: (B, n_convs + 1, w_dim) for this block."""
        if self.first:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        assert x is not None
        if self.channels_last and x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with _fp16(self.fp16, x):
            for i, conv in enumerate(self.convs):
                x = conv(x, ws[:, i], noise_mode)
            rgb = self.torgb(x, ws[:, len(self.convs)])
        rgb = rgb.float()
        img = rgb if img is None else upsample2d(img) + rgb
        return x, img


class SynthesisNetwork(nn.Module):
    """Learned 4x4 constant -> image at `resolution`, skip (toRGB sum) architecture."""

    def __init__(self, w_dim: int, resolution: int, img_c: int, channel_base: int,
                 channel_max: int, fp16_res: int = 0, noise: bool = True,
                 clamp: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.noise = noise  # False: the noise inputs are never added (their strengths stay 0)
        log2 = int(math.log2(resolution))
        self.resolutions = [2**i for i in range(2, log2 + 1)]
        self.blocks = nn.ModuleList()
        in_c, lowest_fp16 = 0, fp16_resolution(resolution, fp16_res)
        for res in self.resolutions:
            out_c = channels_at(res, channel_base, channel_max)
            fp16 = res >= lowest_fp16
            block = SynthesisBlock(
                in_c, out_c, w_dim, res, img_c, fp16, conv_clamp(fp16_res, clamp)
            )
            self.blocks.append(block)
            in_c = out_c
        self.num_ws = 2 * len(self.resolutions)

    def forward(self, ws: Tensor, noise_mode: str = "random") -> Tensor:
        """(B, num_ws, w_dim) -> (B, img_c, r, r)."""
        noise_mode = noise_mode if self.noise else "none"
        x = img = None
        for i, block in enumerate(self.blocks):
            start = 0 if i == 0 else 2 * i - 1
            width = 2 if i == 0 else 3
            x, img = block(x, img, ws[:, start : start + width], noise_mode)
        assert img is not None
        return img


class Generator(nn.Module):
    """Mapping network + synthesis network, with truncation and style-mixing helpers.

    With a `condition` (a class-conditional run) the mapping network takes the label
    embedding's extra inputs and is wrapped by the generator-side mechanism (`mapping`:
    StyleGAN2-ADA's normalised z next to the normalised label embedding), so `ws(z, labels=y)`
    gives class-conditional style vectors; one running `w_avg` serves every class.
    """

    def __init__(self, z_dim: int, w_dim: int, map_layers: int, resolution: int, img_c: int,
                 channel_base: int, channel_max: int, fp16_res: int = 0,
                 map_lr_mul: float = 0.01, noise: bool = True,
                 condition: Condition | None = None, clamp: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.z_dim = z_dim
        self.conditional = condition is not None
        if condition is None:
            self.mapping: nn.Module = MappingNetwork(z_dim, w_dim, map_layers, map_lr_mul)
        else:
            mapping = MappingNetwork(z_dim + condition.generator_inputs(), w_dim, map_layers,
                                     map_lr_mul)  # fmt: skip
            self.mapping = condition.wrap_generator(mapping)
        self.synthesis = SynthesisNetwork(
            w_dim, resolution, img_c, channel_base, channel_max, fp16_res, noise, clamp
        )
        self.num_ws = self.synthesis.num_ws

    @property
    def mapping_net(self) -> MappingNetwork:
        """The mapping network itself (inside the label wrapper of a conditional generator)."""
        return cast(MappingNetwork, self.mapping.net if self.conditional else self.mapping)

    @property
    def w_avg(self) -> Tensor:
        """The running mean of w (the truncation centre)."""
        return self.mapping_net.w_avg

    def ws(self, z: Tensor, psi: float = 1.0, cutoff: int | None = None,
           update_w_avg: bool = False, *, labels: Tensor | None = None) -> Tensor:  # fmt: skip
        """Style vectors (B, num_ws, w_dim), truncated toward w_avg by `psi` below `cutoff`;
        a conditional generator's are for the given `labels`."""
        if self.conditional != (labels is not None):
            raise ValueError(
                "a conditional generator needs labels"
                if self.conditional
                else "an unconditional generator takes no labels"
            )
        if labels is None:
            w = self.mapping(z, update_w_avg=update_w_avg)
        else:
            w = self.mapping(z, labels, update_w_avg=update_w_avg)
        ws = w[:, None].repeat(1, self.num_ws, 1)
        return truncate(ws, self.w_avg, psi, cutoff)

    def forward(self, z: Tensor, psi: float = 1.0, cutoff: int | None = None,
                noise_mode: str = "random", labels: Tensor | None = None) -> Tensor:  # fmt: skip
        """Images in about [-1, 1] from z (B, z_dim) (of the given labels when conditional)."""
        return self.synthesis(self.ws(z, psi, cutoff, labels=labels), noise_mode)


def use_fp16_channels_last(model: nn.Module, enabled: bool) -> None:
    """Run the float16 blocks (`fp16_res`) of `model` on channels_last tensors on CUDA, as
    StyleGAN2-ADA's `fp16_channels_last`: cuDNN's float16 convolutions work in NHWC and
    transpose NCHW inputs and outputs on every call. The other blocks keep NCHW, and so does
    the CPU, where blocks run in float32 anyway (and torch 2.14's CPU backward of a 1x1
    stride-2 convolution on some channels_last shapes crashes the process)."""
    for block in model.modules():
        if isinstance(block, SynthesisBlock | DiscriminatorBlock):
            block.channels_last = enabled and block.fp16


def truncate(ws: Tensor, w_avg: Tensor, psi: float, cutoff: int | None = None) -> Tensor:
    """w_avg + psi * (w - w_avg) on the first `cutoff` style vectors (all when None)."""
    if psi == 1.0:
        return ws
    out = ws.clone()
    out[:, :cutoff] = w_avg.to(ws.dtype).lerp(ws[:, :cutoff], psi)
    return out


def mix_styles(ws: Tensor, ws2: Tensor, prob: float) -> Tensor:
    """Style mixing regularisation as StyleGAN2-ADA's loss.py: with probability `prob` the
    batch's style vectors from one random crossover index on come from the second latents.
    The crossover and the draw stay on the device and select with `where` (NVIDIA's
    `ws[:, cutoff:]` slices at a device index, a host sync)."""
    if prob <= 0:
        return ws
    n = ws.shape[1]
    cut = torch.randint(1, n, (1,), device=ws.device)
    cut = torch.where(torch.rand(1, device=ws.device) < prob, cut, torch.full_like(cut, n))
    take2 = torch.arange(n, device=ws.device) >= cut  # (num_ws,)
    return torch.where(take2[None, :, None], ws2, ws)


class DiscriminatorBlock(nn.Module):
    """Residual block: conv 3x3, conv 3x3 down; skip 1x1 down; sum scaled by sqrt(1/2)."""

    def __init__(self, in_c: int, out_c: int, fp16: bool, clamp: float | None = None) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_c, in_c, 3)
        self.conv1 = EqualConv2d(in_c, out_c, 3, down=True)
        self.skip = EqualConv2d(in_c, out_c, 1, bias=False, act=False, down=True)
        self.fp16 = fp16
        self.channels_last = False  # `use_fp16_channels_last`
        self.conv0.clamp = self.conv1.clamp = clamp  # the skip is never clamped (NVIDIA's)

    def forward(self, x: Tensor, from_rgb: nn.Module | None = None) -> Tensor:
        """Half the resolution; the first block is given D's fromRGB layer and the image, and
        runs the layer in its own precision (NVIDIA's first block holds its fromRGB)."""
        if self.channels_last and x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with _fp16(self.fp16, x):
            if from_rgb is not None:
                x = from_rgb(x)
            y = self.skip(x)
            x = self.conv1(self.conv0(x))
            return ((x + y) * math.sqrt(0.5)).float()


class Discriminator(nn.Module):
    """fromRGB, residual blocks down to 4x4, minibatch stddev, conv, two FC layers -> logit."""

    def __init__(self, resolution: int, img_c: int, channel_base: int, channel_max: int,
                 fp16_res: int = 0, mbstd_group: int = 4, clamp: bool = False) -> None:  # fmt: skip
        super().__init__()
        log2 = int(math.log2(resolution))
        resolutions = [2**i for i in range(log2, 2, -1)]  # r, r/2, ..., 8
        lowest_fp16 = fp16_resolution(resolution, fp16_res)
        limit = conv_clamp(fp16_res, clamp)
        self.from_rgb = EqualConv2d(img_c, channels_at(resolution, channel_base, channel_max), 1)
        self.from_rgb.clamp = limit
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(
                channels_at(res, channel_base, channel_max),
                channels_at(res // 2, channel_base, channel_max),
                res >= lowest_fp16,
                limit,
            )
            for res in resolutions
        )
        c4 = channels_at(4, channel_base, channel_max)
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(c4 + 1, c4, 3)  # the epilogue: float32, clamped as the blocks
        self.conv.clamp = limit
        self.fc = EqualLinear(c4 * 16, c4, act=True)
        self.out = EqualLinear(c4, 1)
        self.feature_dim = c4  # conditioning: projection and class heads read fc's output
        self.cmap_dim = 0  # > 0: the output layer gives that many values (`label_outputs`)

    def features(self, img: Tensor) -> Tensor:
        """Everything before the output layer: (B, feature_dim) from the last FC layer."""
        x = img  # the first block runs fromRGB (every D has one: image_size is at least 8)
        for i, block in enumerate(self.blocks):
            x = block(x, self.from_rgb if i == 0 else None)
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        out: Tensor = self.fc(x.flatten(1))
        return out

    def head(self, h: Tensor) -> Tensor:
        """The output layer: one logit per image from the features, (B, cmap_dim) values
        after `label_outputs`."""
        out: Tensor = self.out(h)
        return out if self.cmap_dim else out.flatten()

    def label_outputs(self, cmap_dim: int) -> None:
        """StyleGAN2-ADA's conditional epilogue: a new output layer with `cmap_dim` outputs,
        which the `cmap` mechanism dots with the label's mapped vector (`ganhub_stylegan.cmap`)."""
        self.out = EqualLinear(self.feature_dim, cmap_dim)
        self.cmap_dim = cmap_dim

    def forward(self, img: Tensor) -> Tensor:
        """One logit per image."""
        return self.head(self.features(img))
