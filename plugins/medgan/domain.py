"""The medgan domain: 2D/3D defaults and modality, config checks (sizes, folders), the factory."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_medgan.config import (
    PRESETS,
    RENAMED_KEYS,
    VOLUME_DEFAULTS,
    MedGANConfig,
    inapplicable,
)

from ganhub.domain import Domain

if TYPE_CHECKING:
    from pathlib import Path

    from ganhub.config.schema import RunConfig
    from ganhub.data.inspect import DataReport
    from ganhub.engine.system import BuildHints, GANSystem


class MedGANDomain(Domain):
    """MONAI GANs for medical images: lesion simulation and progression, contrast translation,
    generation, 2D/3D."""

    name = "medgan"
    renamed_keys: ClassVar[dict[str, str]] = RENAMED_KEYS
    # another task trains another model on these weights: a new run (init_from=RUN). Another
    # data.orientation flips or mirrors the voxel axes G and D see (RAS -> LPS: x and y), so
    # the weights (and Adam's moments, the EMA) hold anatomy in a frame the data no longer
    # uses, and predict/simulate would read scans in the new frame: fixed as well. The
    # paired tasks' UNet and PatchGAN are fully convolutional, so another model.image_size
    # loaded every tensor and trained on anatomy at another scale (predict and simulate then
    # resize scans for the new size, also for the checkpoints before it). The other model
    # keys change a tensor's shape or a module's parameters, so a resume already refuses them
    # (model.d_layers past what the image size allows builds the same critic). The phantoms'
    # contrasts and growth say what G maps to what (translate: data.source_contrast ->
    # data.target_contrast; lesion, progress, generate: images in data.contrast; progress:
    # lesions grown by data.growth), and every tensor keeps its shape: another one trained G
    # on another mapping on these weights without a word (as cyclegan's data.direction did).
    # Folder data: data.pixdim and data.fit say how many mm a voxel G and D see spans (2 mm
    # instead of 1 with crop_pad: anatomy at half the size; resize <-> crop_pad: another field
    # of view), so another value trained on anatomy at another scale, as another image size
    # did, and predict/simulate read scans so for the earlier checkpoints too: fixed (the
    # phantoms do not read them). data.percentiles says which intensities [-1, 1] spans (the
    # scale G reads and writes, D judges, predict/simulate read scans with): another pair
    # trained these weights on another contrast of the same tissue, fixed too. The other data
    # keys say where the same kind of data is, how much of it, or how it is read (path,
    # subfolders, n_samples, noise, skip_bad...): a resume may change them. So may a 2D run's
    # data.slices_per_volume: more or fewer axial slices of each volume are more or fewer
    # samples of one kind (same spacing, frame and scaling; G and D see no slice position),
    # as data.n_samples is for the phantoms (predict/simulate then read more or fewer of a
    # scan's central slices, each one as before).
    resume_fixed_keys: ClassVar[tuple[str, ...]] = (
        "task", "spatial_dims", "data.orientation", "model.image_size", "data.contrast",
        "data.source_contrast", "data.target_contrast", "data.growth", "data.pixdim", "data.fit",
        "data.percentiles",
    )  # fmt: skip
    description = (
        "medical-imaging GANs with MONAI networks: lesion simulation and progression, contrast "
        "translation and generation, 2D or 3D, on embedded MR phantoms or NIfTI/DICOM folders"
    )
    # The default run (spatial_dims=2) trains on images; `modality_for` says volume for 3D runs,
    # and the config resolver checks every trick's modalities against it.
    modality = "image"
    supports_pack = True
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    @property
    def config_class(self) -> type[RunConfig]:
        """MedGANConfig."""
        return MedGANConfig

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """spatial_dims=3: the 3D trainer defaults (batch 4, 150 steps), 32^3 volumes, 128 phantoms;
        data.path given without data.source: folder data (`ganhub data check DIR plugin=medgan`).

        They sit below the preset and the user's keys, so any of them given explicitly wins.
        """
        out = copy.deepcopy(VOLUME_DEFAULTS) if str(chosen.get("spatial_dims")) == "3" else {}
        data = chosen.get("data")
        data = data if isinstance(data, dict) else {}
        if data.get("path") is not None and not {"source", "__shorthand__"} & set(data):
            out.setdefault("data", {})["source"] = "folder"
        return out

    def modality_for(self, config: RunConfig) -> str:
        """volume with spatial_dims=3, else image."""
        assert isinstance(config, MedGANConfig)
        return "volume" if config.spatial_dims == 3 else "image"

    def resume_value(self, config: RunConfig, key: str) -> Any:
        """The phantoms' keys as the data has them: data.growth resolved (`phantom_growth`),
        and None where nothing reads the key (data.contrast on task=translate, the translate
        contrasts on another task, any of them on folder data; data.pixdim and data.fit on
        phantom data, as data.percentiles): `check` then says it does not apply, rather than a
        resume refusing it as changed."""
        assert isinstance(config, MedGANConfig)
        if key == "data.growth":
            return config.phantom_growth()
        contrasts = ("data.contrast", "data.source_contrast", "data.target_contrast")
        if key in contrasts and key not in config.reads_phantom_keys():
            return None
        folder_keys = ("data.pixdim", "data.fit", "data.percentiles")
        if key in folder_keys and config.data.source != "folder":
            return None  # phantoms train on their own grid: only predict/simulate read them
        return super().resume_value(config, key)

    def check(self, config: RunConfig) -> list[str]:
        """Image sizes the networks can take, objective terms the task has, data keys that apply,
        folder layout."""
        assert isinstance(config, MedGANConfig)
        problems = []
        size, m = config.model.image_size, config.model
        if config.task == "generate":
            if size % 8:
                problems.append(f"model.image_size={size}: task=generate needs a multiple of 8")
            if config.objective.feature_matching > 0:
                problems.append(
                    "objective.feature_matching applies to the paired tasks (D sees pairs: "
                    "lesion, translate, progress), not generate"
                )
        else:
            step = 2 ** (m.unet_depth - 1)
            if size % step or size // step < 2:
                problems.append(
                    f"model.image_size={size}: a UNet of model.unet_depth={m.unet_depth} needs a "
                    f"multiple of {step} that is at least {2 * step}"
                )
        if config.data.growth is not None and config.task != "progress":
            problems.append(
                f"data.growth={config.data.growth} applies to task=progress "
                f"(this run: task={config.task})"
            )
        elif config.data.growth is not None and config.data.source == "folder":
            problems.append(
                f"data.growth={config.data.growth} grows the embedded phantoms' lesions; "
                "folder data brings its own follow-up scans"
            )
        if config.data.followup_mask_dir is not None and config.task != "progress":
            problems.append(
                "data.baseline_mask_dir and data.followup_mask_dir apply to task=progress "
                f"(this run: task={config.task})"
            )
        problems += inapplicable(config)
        if config.data.source == "folder":
            from ganhub_medgan.folder import check_folder
            from ganhub_medgan.splits import flat_folder_hint

            from ganhub.errors import ConfigError

            try:
                check_folder(config.task, config.data)
            except ConfigError as exc:  # a flat folder given to a paired task: task=generate
                raise ConfigError(f"{exc}{flat_folder_hint(config)}") from None
        return problems

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The task's system with MONAI networks (data is made on first use)."""
        assert isinstance(config, MedGANConfig)
        from ganhub_medgan.system import MedGenerateGAN, MedPairedGAN

        if config.task == "generate":
            return MedGenerateGAN(config, hints)
        return MedPairedGAN(config, hints)

    def inspect_data(self, config: RunConfig) -> DataReport:
        """Folder data: every NIfTI file / DICOM series with the loader's rules (pairing, mask
        threshold, NaN/Inf, constant volumes, grids of partners, orientation, duplicates); the
        embedded phantoms: the training samples (and masks for lesion)."""
        from ganhub_medgan.checks import inspect_data

        assert isinstance(config, MedGANConfig)
        return inspect_data(config)

    def data_formats(self, config: RunConfig) -> tuple[str, ...]:
        """`ganhub data convert --to` formats: NIfTI folders (a shard would lose the masks and
        affines)."""
        return ("nifti",)

    def convert_data(self, config: RunConfig, fmt: str, out: Path) -> list[Path]:
        """`--to nifti`: what the loader gives, as a NIfTI folder it reads back as it is;
        `--to shard` is refused (it would lose the masks and affines)."""
        from ganhub_medgan.data import convert_data

        assert isinstance(config, MedGANConfig)
        return convert_data(config, fmt, out)
