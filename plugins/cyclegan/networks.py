"""The networks of the original CycleGAN/pix2pix code (Zhu, Park, Isola, Efros), rewritten.

ResNet generator (Johnson et al.): c7s1-ngf, two stride-2 downsamplings, n residual blocks,
two transposed-conv upsamplings, c7s1-3 + Tanh; reflection padding; instance norm.
U-Net generator (pix2pix): encoder-decoder with a skip connection at every level.
PatchGAN discriminator: n_layers stride-2 4x4 convs; with n_layers=3 each output judges a 70x70
patch. Init: normal(0, 0.02) weights and zero biases (norm scales normal(1, 0.02)).
The size arithmetic (`patch_output_size`, `unet_max_downs`) lives in config.py, which checks
sizes without importing torch.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Literal

import torch
from ganhub_cyclegan.config import Init
from torch import Tensor, nn

Norm = Literal["instance", "batch", "none"]
NormFactory = Callable[[int], nn.Module]


def norm_layer(kind: Norm) -> NormFactory:
    """A factory of normalisation layers by name (instance norm has no affine and no stats)."""
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    return lambda channels: nn.Identity()


class Dropout(nn.Dropout):
    """nn.Dropout whose masks, inside `dropout_on_cpu` (model.inference=paper's translations),
    are drawn on the CPU's random stream as the CPU's own dropout draws them and copied to the
    input's device: `run_generator` seeds that stream with the seed for each image, so a seed
    gives the same translations on every device (a device's generator draws other masks).
    Training's masks, and all masks of a model on the CPU, are drawn as nn.Dropout draws them."""

    on_cpu = False  # set by `dropout_on_cpu`

    def forward(self, x: Tensor) -> Tensor:
        """x with elements zeroed with probability p and the rest scaled by 1 / (1 - p)."""
        if not (self.on_cpu and self.training and 0 < self.p < 1) or x.device.type == "cpu":
            return super().forward(x)
        keep = 1 - self.p
        # the CPU's dropout (ATen's): a Bernoulli(1 - p) mask laid out as x (channels_last
        # draws in its own order), over 1 - p
        mask = torch.empty_like(x, device="cpu").bernoulli_(keep).div_(keep)
        return x * mask.to(x.device)


@contextlib.contextmanager
def dropout_on_cpu(G: nn.Module) -> Iterator[None]:
    """G's `Dropout` layers draw their masks on the CPU's stream inside (and not after, also
    when the forward raises)."""
    layers = [m for m in G.modules() if isinstance(m, Dropout)]
    for m in layers:
        m.on_cpu = True
    try:
        yield
    finally:
        for m in layers:
            m.on_cpu = False


class ResnetBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), with reflection padding (and optional dropout)."""

    def __init__(self, dim: int, norm: NormFactory, use_bias: bool, dropout: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm(dim), nn.ReLU(True)
        ]  # fmt: skip
        if dropout:
            layers.append(Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm(dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """The residual sum."""
        return x + self.block(x)


class ResnetGenerator(nn.Sequential):
    """The CycleGAN generator: 2 downsamplings, `n_blocks` residual blocks, 2 upsamplings."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: Norm = "instance",
        dropout: bool = False,
    ) -> None:
        make_norm = norm_layer(norm)
        use_bias = norm != "batch"  # the original: bias only when the norm has no shift
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=use_bias), make_norm(ngf), nn.ReLU(True)
        ]  # fmt: skip
        for i in range(2):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, c * 2, 3, 2, 1, bias=use_bias), make_norm(c * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, make_norm, use_bias, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=use_bias),
                make_norm(c // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        super().__init__(*layers)


class UnetBlock(nn.Module):
    """One U-Net level: down, the inner levels, up; its input is concatenated to its output."""

    def __init__(
        self,
        outer: int,
        inner: int,
        norm: NormFactory,
        use_bias: bool,
        *,
        submodule: nn.Module | None = None,
        in_channels: int | None = None,
        outermost: bool = False,
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        down_conv = nn.Conv2d(in_channels or outer, inner, 4, 2, 1, bias=use_bias)
        layers: list[nn.Module]
        if outermost:
            assert submodule is not None
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)
            layers = [down_conv, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:  # innermost: no norm at 1x1, no skip inside
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up, norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=use_bias)
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                norm(inner),
                submodule,
                nn.ReLU(True),
                up,
                norm(outer),
            ]
            if dropout:
                layers.append(Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """The level's output, with its input concatenated (the skip connection)."""
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The pix2pix generator: `n_downs` halvings (8 takes 256 px to 1x1), a skip at each level.

    Level d (0 = outermost) has ngf * min(2^d, 8) channels; levels deeper than the fourth,
    except the innermost, use dropout 0.5 as the original's `unet_256`/`unet_128` do.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_downs: int,
        ngf: int = 64,
        norm: Norm = "batch",
        dropout: bool = True,
    ) -> None:
        super().__init__()
        if n_downs < 1:
            raise ValueError("a U-Net needs at least one downsampling")
        make_norm = norm_layer(norm)
        use_bias = norm != "batch"

        def width(d: int) -> int:
            return ngf * min(2**d, 8)

        block: nn.Module | None = None
        for d in range(n_downs - 1, 0, -1):
            block = UnetBlock(width(d - 1), width(d), make_norm, use_bias, submodule=block,
                              dropout=dropout and d >= 4 and block is not None)  # fmt: skip
        if block is None:  # a single level: the outermost is also the innermost
            self.model: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, ngf, 4, 2, 1), nn.ReLU(True),
                nn.ConvTranspose2d(ngf, out_channels, 4, 2, 1), nn.Tanh(),
            )  # fmt: skip
        else:
            self.model = UnetBlock(out_channels, ngf, make_norm, use_bias, submodule=block,
                                   in_channels=in_channels, outermost=True)  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """Translate a batch of images."""
        return self.model(x)


class PatchDiscriminator(nn.Sequential):
    """The PatchGAN: `n_layers` stride-2 convs, then two stride-1 convs; a logit per patch."""

    def __init__(
        self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: Norm = "instance"
    ) -> None:
        make_norm = norm_layer(norm)
        use_bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=use_bias), make_norm(ndf * mult),
                       nn.LeakyReLU(0.2, True)]  # fmt: skip
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=use_bias), make_norm(ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]  # fmt: skip
        super().__init__(*layers)


def init_weights(module: nn.Module, kind: Init = "normal", gain: float = 0.02) -> None:
    """The original `init_weights`: conv/linear weights by `kind`, biases 0, BatchNorm N(1, gain)."""

    @torch.no_grad()
    def apply(m: nn.Module) -> None:
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            if kind == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    module.apply(apply)
