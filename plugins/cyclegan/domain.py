"""The cyclegan domain: CycleGAN (unpaired) and pix2pix (`task=paired`) image translation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ganhub_cyclegan.config import RENAMED_KEYS, CycleGANConfig, check, choice_defaults

from ganhub.domain import Domain

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.engine.system import BuildHints, GANSystem


class CycleGANDomain(Domain):
    """Unpaired (CycleGAN) or paired (pix2pix) translation; embedded default: restyled digits."""

    name = "cyclegan"
    renamed_keys: ClassVar[dict[str, str]] = RENAMED_KEYS
    description = (
        "CycleGAN (unpaired) and pix2pix (task=paired) image translation; embedded default: "
        "digits <-> restyled digits, scored by PSNR/SSIM on held-out true pairs"
    )
    modality = "image"
    supports_pack = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # the paper's setting for 256 px folder data (facades, horse2zebra...)
        "original": {
            "model": {"image_size": 256, "ngf": 64, "ndf": 64},
            "trainer": {
                "batch_size": 1,
                "log_every": 100,
                "sample_every": 5000,
                "checkpoint_every": 5000,
            },
            "epochs": 100,
            "epochs_decay": 100,
        },
        "pix2pix": {"task": "paired"},
        # a seconds-long smoke configuration (either task)
        "tiny": {
            "model": {"ngf": 8, "ndf": 8, "n_layers_d": 2},
            "trainer": {"steps": 20, "batch_size": 2, "log_every": 10, "sample_every": 0},
            "eval": {"n_samples": 64},
        },
    }

    @property
    def config_class(self) -> type[RunConfig]:
        """CycleGANConfig."""
        return CycleGANConfig

    def defaults_for(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """The paired task's loss, trainer.steps from epochs, the LR schedule's decay start."""
        return choice_defaults(chosen)

    def check(self, config: RunConfig) -> list[str]:
        """Folder layout and preprocessing sizes."""
        assert isinstance(config, CycleGANConfig)
        return check(config)

    def build(self, config: RunConfig, hints: BuildHints) -> GANSystem:
        """The CycleGAN system, or the pix2pix system for task=paired (data is read lazily)."""
        from ganhub_cyclegan.system import CycleGANSystem, Pix2PixSystem

        assert isinstance(config, CycleGANConfig)
        if config.task == "paired":
            return Pix2PixSystem(config, hints)
        return CycleGANSystem(config, hints)
