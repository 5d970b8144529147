"""The dcgan system: the DCGAN pair on image batches, digits / folder / torchvision data."""

from __future__ import annotations

from pathlib import Path

from ganhub_dcgan.config import DCGANConfig
from ganhub_dcgan.networks import Discriminator, Generator, dcgan_init

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource, LoaderBatches, TensorBatches
from ganhub.data.images import ImageFolder, digits, save_image_grid, torchvision_dataset
from ganhub.data.shards import is_shard, load_shard
from ganhub.engine.system import BuildHints
from ganhub.engine.unconditional import UnconditionalGAN


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
        # the digit classifier can read this data (digit_modes, fd_digits)
        self.digit_data = config.data.source in ("digits", "stacked_digits", "mnist")

    def data(self) -> BatchSource:
        """Digits (in memory), a folder (decoded by workers) or a torchvision set (in memory)."""
        cfg, size = self.config.data, self.config.model.image_size
        if cfg.source == "digits":
            return TensorBatches(digits(size)[0])
        if cfg.source == "stacked_digits":
            from ganhub.data.stacked import StackedDigits

            return StackedDigits(size)
        if cfg.source == "folder" and is_shard(cfg.path):
            assert cfg.path is not None
            return TensorBatches(load_shard(cfg.path))  # decoded once: no per-file work
        if cfg.source == "folder":
            folder = ImageFolder(cfg.path, size, self.channels, skip_bad=cfg.skip_bad)
            return LoaderBatches(
                folder, num_workers=self.config.trainer.num_workers, files=folder.files
            )
        root = cfg.path or Path.home() / ".cache" / "ganhub" / "datasets"
        return TensorBatches(torchvision_dataset(cfg.source, root, size, self.channels))

    def capabilities(self) -> Capabilities:
        """Images from noise; on digit data, the dataset's name and the digit features."""
        source = self.config.data.source
        return Capabilities(
            modality="image",
            dataset=source if source != "folder" else None,
            features=("digits",) if self.digit_data else (),
        )

    def default_metrics(self) -> list[str]:
        """Digit data: classes / Stacked-MNIST modes and the Frechet distance on digit features."""
        return ["digit_modes", "fid"] if self.digit_data else []

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """An 8x8 grid (by default) from fixed noise, so grids over time are comparable."""
        images = self.sample(n or 64, seed=seed)
        return [save_image_grid(images, directory / f"{stem}.png")]
