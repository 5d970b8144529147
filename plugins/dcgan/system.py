"""The dcgan system: the DCGAN pair on image batches, digits / shapes / folder / torchvision
data, unconditional or class-conditional (`model.conditional`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ganhub_dcgan.config import ARCH_SPACE, DCGANConfig
from ganhub_dcgan.labels import digit_subset, kept_digits
from ganhub_dcgan.networks import Discriminator, Generator, dcgan_init
from ganhub_dcgan.supernet import SuperDiscriminator, SuperGenerator

from ganhub.capabilities import Capabilities
from ganhub.conditioning.nets import blank_past, class_grid_layout
from ganhub.data import BatchSource, LoaderBatches, TensorBatches
from ganhub.data.biased import biased_digits, digit_group_attribute
from ganhub.data.fewshot import FewShot, few_shot
from ganhub.data.images import ImageFolder, digits, save_image_grid, torchvision_dataset
from ganhub.data.shapes import (
    reference_set,
    reference_size,
    shape_attribute,
    shape_labels,
    shapes_dataset,
)
from ganhub.data.shards import is_shard, load_image_shard
from ganhub.engine.heads import with_heads
from ganhub.engine.system import BuildHints
from ganhub.engine.unconditional import UnconditionalGAN
from ganhub.errors import ConfigError
from ganhub.nas import SUPERNET, SupernetPair

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ganhub.latent import LatentSpace


class DCGANSystem(SupernetPair, UnconditionalGAN[DCGANConfig]):
    """The DCGAN pair on image batches."""

    modality = "image"

    def __init__(self, config: DCGANConfig, hints: BuildHints) -> None:
        m, channels = config.model, config.data.resolved_channels()
        condition = hints.condition
        g_extra = condition.generator_inputs() if condition else 0
        d_extra = condition.discriminator_inputs() if condition else 0
        G: nn.Module
        D: nn.Module
        if m.supernet:  # every architecture of the search space, weights shared
            G = SuperGenerator(m.latent_dim, channels, m.image_size, ARCH_SPACE)
            D = SuperDiscriminator(channels * hints.pack, m.image_size, ARCH_SPACE)
        else:
            G = Generator(m.latent_dim + g_extra, m.g_channels, channels, m.image_size, m)
            D = Discriminator(
                m.d_channels, channels * hints.pack + d_extra, m.image_size, m.d_norm, m
            )
        G.apply(dcgan_init)
        D.apply(dcgan_init)
        if condition is not None:
            G, D = condition.wrap_generator(G), condition.wrap_discriminator(D)
        else:
            D = with_heads(D, hints.heads)  # auxiliary heads head tricks asked for (SSGAN)
        labels = condition.labels if condition else None
        super().__init__(config, hints, G, D, (m.latent_dim,), labels)
        self.channels = channels
        # the digit classifier can read this data (digit_modes, fd_digits)
        self.digit_data = config.data.source in ("digits", "stacked_digits", "mnist")
        # a conditional run on some of the digits: its labels are positions in this list
        self.digit_classes = digit_subset(config) if labels is not None else None

    def data(self) -> BatchSource:
        """Digits (a biased subset with data.proportions) or shapes (rendered once), in memory;
        a folder (decoded by workers) or a torchvision set (in memory); (image, label) batches
        for a conditional run (a shape's label: its index in data.shapes)."""
        cfg, size = self.config.data, self.config.model.image_size
        labelled = self.label_spec is not None
        if cfg.source == "digits":
            if cfg.proportions is not None:
                images, labels, _, _ = biased_digits(size, cfg.digit_groups, cfg.proportions)
                images = self._in_channels(images)
            else:
                images, labels = self._digits()  # all, or a few-shot subset
            if not labelled:
                return TensorBatches(images)
            return TensorBatches(images, self._labels(labels))
        if cfg.source == "shapes":
            images, factors = shapes_dataset(size, n=cfg.n, shapes=cfg.shapes,
                                             proportions=cfg.proportions, colour=cfg.colour)  # fmt: skip
            if labelled:
                return TensorBatches(images, shape_labels(factors, cfg.shapes))
            return TensorBatches(images)
        if cfg.source == "stacked_digits":
            from ganhub.data.stacked import StackedDigits

            kind = cfg.stacked_labels if labelled else None
            return StackedDigits(size, labels=kind)
        if cfg.source == "folder" and is_shard(cfg.path):
            assert cfg.path is not None
            # decoded once (no per-file work); another size is resized, as folders are
            return TensorBatches(load_image_shard(cfg.path, size, self.channels, resize=True))
        if cfg.source == "folder":
            return self._folder(cfg.path)
        root = cfg.path or Path.home() / ".cache" / "ganhub" / "datasets"
        images = torchvision_dataset(cfg.source, root, size, self.channels)
        if labelled:
            from ganhub.data.images import torchvision_targets

            return TensorBatches(images, torchvision_targets(cfg.source, root))
        return TensorBatches(images)

    def _digits(self) -> tuple[Tensor, Tensor]:
        """The digits this run trains on: all, or data.classes and data.n_shots of them."""
        images, labels = digits(self.config.model.image_size)
        images, cfg = self._in_channels(images), self.config.data
        if cfg.classes is None and cfg.n_shots is None:
            return images, labels
        pick = few_shot(
            images, labels, classes=cfg.classes, n_shots=cfg.n_shots, seed=self.config.seed
        )
        return pick.images, pick.labels

    def validation_samples(self) -> Tensor | None:
        """With data.n_shots: the other digits of data.classes (up to 1,000), never trained on."""
        pick = self._held_out()
        return None if pick is None else pick.held_out

    def validation_labels(self) -> Tensor | None:
        """The classes of `validation_samples()`, row for row."""
        pick = self._held_out()
        if pick is None or pick.held_out_labels is None:
            return None
        return self._labels(pick.held_out_labels)

    def _labels(self, digits: Tensor) -> Tensor:
        """A conditional run's labels of these digits: the digits themselves, or their
        positions in the digits it conditions on (`condition.classes`, which a run checks
        holds every digit it trains on; a reopened run's config.yaml is checked here)."""
        if self.digit_classes is None:
            return digits
        import torch

        position = torch.full((10,), -1, dtype=digits.dtype)
        for i, name in enumerate(self.digit_classes):
            position[int(name)] = i
        labels = position[digits]
        if bool((labels < 0).any()):
            missing = int(digits[labels < 0][0])
            classes = ",".join(self.digit_classes)
            raise ConfigError(
                f"condition.classes=[{classes}] lacks digit {missing}, which this run's data "
                f"holds; give data.classes among {classes}"
            )
        return labels

    def _held_out(self) -> FewShot | None:
        cfg = self.config.data
        if cfg.source != "digits" or cfg.n_shots is None:
            return None
        images, labels = digits(self.config.model.image_size)
        images = self._in_channels(images)
        return few_shot(
            images, labels, classes=cfg.classes, n_shots=cfg.n_shots, seed=self.config.seed
        )

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
        """Images from noise; on digit data, the dataset's name and the digit features; on
        shapes, the shapes classifier's features; a conditional run's labels; the attribute
        of shapes (the shape) and of biased digits (the digit group) for fairness tools; on
        data=digits, the digits it trains on ('trained_digits', which digit_modes reads)."""
        cfg = self.config.data
        source, features = cfg.source, ("digits",) if self.digit_data else ()
        attribute = None
        if source == "shapes":
            features = ("shapes",)
            attribute = shape_attribute(cfg.shapes, cfg.proportions)
        elif source == "digits" and cfg.proportions is not None:
            attribute = digit_group_attribute(cfg.digit_groups, cfg.proportions)
        # a conditional run on some of the digits has labels the digit classifier does not
        # give (positions in condition.classes): its data is no known labelled set, so
        # class_accuracy trains its classifier on the run's own labelled digits
        known = source != "folder" and self.digit_classes is None
        return Capabilities(
            modality="image",
            dataset=source if known else None,
            features=features,
            labels=self.label_spec,
            attribute=attribute,
            provides=self._interfaces(),
        )

    def _interfaces(self) -> frozenset[str]:
        """A supernet says so; a single unconditional generator's z can be walked (interpret);
        data=digits says which digits it trains on (`trained_digits`)."""
        provides = {"trained_digits"} if self.config.data.source == "digits" else set()
        if self.config.model.supernet:
            provides.add(SUPERNET)
        elif self.label_spec is None:
            provides.add("latent_space")
        return frozenset(provides)

    def trained_digits(self) -> dict[int, float]:
        """data=digits ('trained_digits', read by digit_modes): each digit this run trains on
        and its share of the training data: data.classes (few-shot runs too) equally; biased
        digits their group's share of data.proportions, split equally among its digits; else
        all ten equally. An adapted run trains on its own data.classes, not its source's."""
        cfg = self.config.data
        if cfg.proportions is not None:
            groups = zip(cfg.digit_groups, cfg.proportions, strict=True)
            return {int(d): share / len(group) for group, share in groups for d in group}
        kept = kept_digits(self.config)
        return {digit: 1 / len(kept) for digit in kept}

    def latent_space(self) -> LatentSpace | None:
        """z and the first layer that reads it (single unconditional generators; None for
        conditional runs and supernets)."""
        if self.label_spec is not None or self.config.model.supernet:
            return None
        from ganhub_dcgan.latents import dcgan_latent_space

        return dcgan_latent_space(self)

    def reference_samples(self) -> Tensor | None:
        """The balanced reference set of shapes (a tenth of data.n, its own seed) and of biased
        digits (disjoint from the training digits); None for other data."""
        cfg, size = self.config.data, self.config.model.image_size
        if cfg.source == "shapes":
            n = reference_size(cfg.n, cfg.shapes)
            return reference_set(size, n=n, shapes=cfg.shapes, colour=cfg.colour)[0]
        if cfg.source == "digits" and cfg.proportions is not None:
            return self._in_channels(biased_digits(size, cfg.digit_groups, cfg.proportions)[2])
        return None

    def _in_channels(self, grey: Tensor) -> Tensor:
        """The grey digits as data.channels asks: replicated to RGB with data.channels=3 (as
        the torchvision sets are), so a colour model trains on them."""
        return grey.expand(-1, self.channels, -1, -1).contiguous() if self.channels > 1 else grey

    def default_metrics(self) -> list[str]:
        """Digit data: classes / Stacked-MNIST modes and the Frechet distance on digit features;
        shapes: the Frechet distance on the shapes classifier's features (fd_shapes);
        conditional runs add the accuracy of their samples' classes and the intra-class FD
        (folder data: the accuracy alone, as an unconditional folder run scores nothing by
        default: its FD runs Inception, minutes per evaluation on a CPU; some of the digits:
        digit_modes only when asked, as its class metrics judge each digit it trains on, and no
        accuracy with data.n_shots, whose classifier the shots train)."""
        base = ["digit_modes", "fid"] if self.digit_data else []
        if self.config.data.source == "shapes":
            base = ["fid"]
        if self.label_spec is None:
            return base
        if self.config.data.source == "folder":
            return [*base, "class_accuracy"]
        if self.digit_classes is not None:  # some of the digits: per class, not digit_modes
            # class_accuracy's classifier trains on the run's images: not on a few shots alone
            judged = self.config.data.n_shots is None
            return ["fid", *(["class_accuracy"] if judged else []), "intra_fid"]
        return [*base, "class_accuracy", "intra_fid"]

    def write_samples(
        self, directory: Path, stem: str, *, n: int | None = None, seed: int = 0
    ) -> list[Path]:
        """An 8x8 grid (by default) from fixed noise, so grids over time are comparable; a
        conditional run's grid has one row per class (the first 10, or the first n) and one
        latent per column, n samples in all: when n is not a multiple of the rows, the last
        column's cells in the last rows are left black."""
        if self.label_spec is not None:
            return [self._class_grid(directory / f"{stem}.png", n, seed)]
        images = self.sample(n or 64, seed=seed)
        return [save_image_grid(images, directory / f"{stem}.png")]

    def _class_grid(self, path: Path, n: int | None, seed: int) -> Path:
        """One row per class and `n` samples (without n: 80 // rows latents per row)."""
        assert self.label_spec is not None
        rows, columns = class_grid_layout(
            self.label_spec, n, 80 // min(10, self.label_spec.combinations)
        )
        grid = self.class_grid(columns=columns, rows=rows, seed=seed)
        if n is not None:
            grid = blank_past(grid, n, columns)
        return save_image_grid(grid, path, nrow=columns)
