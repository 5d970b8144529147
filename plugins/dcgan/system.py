"""The dcgan system: the DCGAN pair on image batches, digits / folder / torchvision data,
unconditional or class-conditional (`model.conditional`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ganhub_dcgan.config import DCGANConfig
from ganhub_dcgan.networks import Discriminator, Generator, dcgan_init

from ganhub.capabilities import Capabilities
from ganhub.data import BatchSource, LoaderBatches, TensorBatches
from ganhub.data.images import ImageFolder, digits, save_image_grid, torchvision_dataset
from ganhub.data.shards import is_shard, load_shard
from ganhub.engine.system import BuildHints
from ganhub.engine.unconditional import UnconditionalGAN

if TYPE_CHECKING:
    from ganhub.latent import LatentSpace


class DCGANSystem(UnconditionalGAN):
    """The DCGAN pair on image batches."""

    modality = "image"

    def __init__(self, config: DCGANConfig, hints: BuildHints) -> None:
        m, channels = config.model, config.data.resolved_channels()
        condition = hints.condition
        g_extra = condition.generator_inputs() if condition else 0
        d_extra = condition.discriminator_inputs() if condition else 0
        G = Generator(m.latent_dim + g_extra, m.g_channels, channels, m.image_size, m)
        D = Discriminator(m.d_channels, channels * hints.pack + d_extra, m.image_size, m.d_norm, m)
        G.apply(dcgan_init)
        D.apply(dcgan_init)
        if condition is not None:
            G, D = condition.wrap_generator(G), condition.wrap_discriminator(D)
        labels = condition.labels if condition else None
        super().__init__(config, hints, G, D, (m.latent_dim,), labels)
        self.channels = channels
        # the digit classifier can read this data (digit_modes, fd_digits)
        self.digit_data = config.data.source in ("digits", "stacked_digits", "mnist")

    def data(self) -> BatchSource:
        """Digits (in memory), a folder (decoded by workers) or a torchvision set (in memory);
        (image, label) batches for a conditional run."""
        cfg, size = self.config.data, self.config.model.image_size
        labelled = self.label_spec is not None
        if cfg.source == "digits":
            images, labels = digits(size)
            return TensorBatches(images, labels) if labelled else TensorBatches(images)
        if cfg.source == "stacked_digits":
            from ganhub.data.stacked import StackedDigits

            kind = cfg.stacked_labels if labelled else None
            return StackedDigits(size, labels=kind)
        if cfg.source == "folder" and is_shard(cfg.path):
            assert cfg.path is not None
            return TensorBatches(load_shard(cfg.path))  # decoded once: no per-file work
        if cfg.source == "folder":
            return self._folder(cfg.path)
        root = cfg.path or Path.home() / ".cache" / "ganhub" / "datasets"
        images = torchvision_dataset(cfg.source, root, size, self.channels)
        if labelled:
            from ganhub.data.images import torchvision_targets

            return TensorBatches(images, torchvision_targets(cfg.source, root))
        return TensorBatches(images)

    def _folder(self, path: Path | None) -> BatchSource:
        cfg, size = self.config.data, self.config.model.image_size
        assert path is not None
        workers = self.config.trainer.num_workers
        if self.label_spec is None:
            folder = ImageFolder(path, size, self.channels, skip_bad=cfg.skip_bad)
            return LoaderBatches(folder, num_workers=workers, files=folder.files)
        from ganhub.data.labels import LabelledImageFolder

        labelled = LabelledImageFolder(
            path, size, self.channels, skip_bad=cfg.skip_bad, labels_csv=cfg.labels,
            classes=self.config.condition.classes,
        )  # fmt: skip
        return LoaderBatches(
            labelled, num_workers=workers, files=labelled.files, labels=labelled.labels
        )

    def capabilities(self) -> Capabilities:
        """Images from noise; on digit data, the dataset's name and the digit features; a
        conditional run's labels."""
        source = self.config.data.source
        return Capabilities(
            modality="image",
            dataset=source if source != "folder" else None,
            features=("digits",) if self.digit_data else (),
            labels=self.label_spec,
            # an unconditional generator's z can be walked (ganhub interpret)
            provides=frozenset() if self.label_spec is not None else frozenset({"latent_space"}),
        )

    def latent_space(self) -> LatentSpace | None:
        """z and the first layer that reads it (unconditional runs; None for conditional)."""
        if self.label_spec is not None:
            return None
        from ganhub_dcgan.latents import dcgan_latent_space

        return dcgan_latent_space(self)

    def default_metrics(self) -> list[str]:
        """Digit data: classes / Stacked-MNIST modes and the Frechet distance on digit features;
        conditional runs add the accuracy of their samples' classes and the intra-class FD."""
        base = ["digit_modes", "fid"] if self.digit_data else []
        if self.label_spec is None:
            return base
        return [*base, "class_accuracy", "intra_fid"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """An 8x8 grid (by default) from fixed noise, so grids over time are comparable; a
        conditional run's grid has one row per class (the first 10) and one latent per column."""
        if self.label_spec is not None:
            columns = max(1, (n or 80) // min(10, self.label_spec.combinations))
            grid = self.class_grid(columns=columns, rows=10, seed=seed)
            return [save_image_grid(grid, directory / f"{stem}.png", nrow=columns)]
        images = self.sample(n or 64, seed=seed)
        return [save_image_grid(images, directory / f"{stem}.png")]
