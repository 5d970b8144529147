"""The medgan domain: config validation (2D/3D vs tricks, sizes, folders) and the system factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_medgan.config import MedGANConfig

from ganhub.config.schema import RunConfig
from ganhub.domain import Domain

if TYPE_CHECKING:
    from ganhub.engine.system import BuildHints, GANSystem


class MedGANDomain(Domain):
    """MONAI GANs for medical images: lesion simulation, contrast translation, generation, 2D/3D."""

    name = "medgan"
    description = (
        "medical-imaging GANs with MONAI networks: lesion simulation, contrast translation and "
        "generation, 2D or 3D, on embedded MR phantoms or NIfTI/DICOM folders"
    )
    # The default (spatial_dims=2) trains on images. `check` refuses tricks that cannot take
    # volumes when spatial_dims=3, since one class attribute cannot follow a config value.
    modality = "image"
    supports_pack = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {  # seconds: a smoke configuration for tests and first tries
            "data": {"n_samples": 16, "n_eval": 8},
            "model": {"g_channels": 4, "d_channels": 4, "latent_dim": 8, "unet_depth": 3},
            "trainer": {"steps": 4, "batch_size": 4, "log_every": 2, "sample_every": 0},
            "eval": {"n_samples": 8},
        },
        "long": {  # a better model where there is time (or a GPU)
            "model": {"g_channels": 32, "d_channels": 32},
            "trainer": {"steps": 3000, "sample_every": 500, "checkpoint_every": 1000},
        },
    }

    @property
    def config_class(self) -> type[RunConfig]:
        """MedGANConfig."""
        return MedGANConfig

    def check(self, config: RunConfig) -> list[str]:
        """Tricks vs 2D/3D, image sizes the networks can take, folder layout."""
        assert isinstance(config, MedGANConfig)
        from ganhub.plugins import get_hub

        problems = []
        if config.spatial_dims == 3:
            hub = get_hub()
            for name in config.tricks:
                modalities = (
                    getattr(hub.tricks.get(name), "modalities", None)
                    if name in hub.tricks
                    else None
                )
                if modalities is not None and "volume" not in modalities:
                    problems.append(
                        f"trick '{name}' applies to {'/'.join(sorted(modalities))} data only, and "
                        f"spatial_dims=3 trains medgan on volumes; drop the trick or use spatial_dims=2"
                    )
        size, m = config.size(), config.model
        if config.task == "generate":
            if size % 8:
                problems.append(f"model.image_size={size}: task=generate needs a multiple of 8")
            if m.feature_matching > 0:
                problems.append(
                    "model.feature_matching applies to task=lesion/translate (D sees pairs), not generate"
                )
        else:
            step = 2 ** (m.unet_depth - 1)
            if size % step or size // step < 2:
                problems.append(
                    f"model.image_size={size}: a UNet of model.unet_depth={m.unet_depth} needs a "
                    f"multiple of {step} that is at least {2 * step}"
                )
        if config.data.source == "folder":
            from ganhub_medgan.folder import check_folder

            check_folder(config.task, config.data)
        return problems

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The task's system with MONAI networks (data is made on first use)."""
        assert isinstance(config, MedGANConfig)
        from ganhub_medgan.system import MedGenerateGAN, MedPairedGAN

        if config.task == "generate":
            return MedGenerateGAN(config, hints)
        return MedPairedGAN(config, hints)
